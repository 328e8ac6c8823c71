import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App.tsx";
import { VchatClient } from "./client.ts";
import "./styles.css";

// One client per page, outside React, so StrictMode's double effects cannot open two sockets.
const client = new VchatClient();
window.addEventListener("pagehide", () => client.dispose());

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <App client={client} />
  </StrictMode>,
);
