import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

const root = fileURLToPath(new URL(".", import.meta.url));

/**
 * The bundled web client. `npm run build:web` writes `web/dist/`, which the server serves.
 * `npx vite --config web/vite.config.ts` serves it with hot reload and forwards the API and
 * Socket.IO to a `vchat dev` on VCHAT_DEV_URL (default http://127.0.0.1:8080).
 */
export default defineConfig({
  root,
  base: "/",
  plugins: [react()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: true,
    target: "es2022",
  },
  server: {
    host: "127.0.0.1",
    proxy: {
      "/api": process.env.VCHAT_DEV_URL ?? "http://127.0.0.1:8080",
      "/socket.io": { target: process.env.VCHAT_DEV_URL ?? "http://127.0.0.1:8080", ws: true },
    },
  },
});
