import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App.tsx";
import { createClient } from "./client.ts";
import "./styles.css";

// One client per page, outside React, so StrictMode's double effects cannot open two sockets.
const client = createClient();
window.addEventListener("pagehide", () => client.dispose());
// Back/forward cache: a restored page has a closed socket and stopped camera; start it afresh.
window.addEventListener("pageshow", (e) => {
  if (e.persisted) location.reload();
});

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <App client={client} />
  </StrictMode>,
);
