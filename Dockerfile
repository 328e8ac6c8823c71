# The image that `vchat serve` runs in (the stacks' ECS service). No build step for the Node side:
# Node 24 strips the types of the .ts sources itself (outside node_modules).
# tests/dockerfile.test.ts performs these steps without a Docker engine: keep the two in step.

# Stage 1: the web client, built with the dev dependencies (Vite), which stay in this stage.
FROM node:24-slim AS web
WORKDIR /app
# npm ci's postinstall applies patches/ (patch-package) to the installed packages.
COPY package.json package-lock.json ./
COPY patches patches
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build:web

# Stage 2: production dependencies only, the sources, the built client; runs as `node`, not root.
FROM node:24-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
COPY patches patches
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY . .
COPY --from=web /app/web/dist web/dist
# The default SQLite folder, for a node run without MongoDB; the sources stay root's, read-only.
RUN mkdir .vchat && chown node:node .vchat
USER node
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.VCHAT_PORT ?? 8080}/healthz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "cli/vchat.ts"]
CMD ["serve"]
