import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["**/*.test.ts", "**/*.test.tsx"],
    exclude: ["node_modules/**", "dist/**", "web/dist/**", ".vchat/**"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Two cores: tests start real coturn, redis-server, werift peers and Chromium.
    maxWorkers: 2,
    reporters: ["default"],
  },
});
