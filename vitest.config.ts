import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    exclude: ["node_modules/**", "dist/**", "web/dist/**", ".vchat/**"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // `expect.poll` waits for state (a page's video, a socket's event) on two shared cores, where a
    // browser step can take seconds under load; a poll that claims a bound gives its own timeout.
    expect: { poll: { timeout: 5000 } },
    // Two cores: tests start real coturn, redis-server, werift peers and Chromium.
    maxWorkers: 2,
    reporters: ["default"],
    projects: [
      // Beside their code (`npm run test:unit`): no browser, no cluster; some start one coturn or redis-server.
      { extends: true, test: { name: "unit", include: ["{protocol,lib,turn,server,doctor,bots,stacks,cli,web}/**/*.test.{ts,tsx}"] } },
      // Across folders: the service, bots and browsers end to end.
      { extends: true, test: { name: "integration", include: ["tests/**/*.test.{ts,tsx}"] } },
    ],
  },
});
