import { existsSync } from "node:fs";
import { join } from "node:path";
import cors from "cors";
import express, { type NextFunction, type Request, type Response } from "express";
import helmet from "helmet";
import {
  VchatError,
  adminPaths,
  adminReportsQuery,
  banBody,
  blockBody,
  guestBody,
  httpStatus,
  limits,
  loginBody,
  paths,
  registerBody,
  reportBody,
  unbanBody,
  type HealthResponse,
  type ReadyResponse,
} from "../../protocol/index.ts";
import { verifyAdminToken } from "../admin/admin-token.ts";
import type { Moderation } from "../admin/moderation.ts";
import type { Accounts } from "../auth/accounts.ts";
import type { AccountStanding } from "../auth/standing.ts";
import { bearer, verifyToken, type TokenClaims } from "../auth/tokens.ts";
import type { Calls } from "../calls/calls.ts";
import type { ServerConfig } from "../config.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import { iceFor } from "../ice.ts";
import { parse, toErrorBody } from "../validate.ts";

export interface AppDeps {
  config: ServerConfig;
  accounts: Accounts;
  standing: AccountStanding;
  moderation: Moderation;
  calls: Calls;
  metrics: Metrics;
  /** Named dependency checks for `/readyz`; each throws when its dependency is unreachable. */
  readiness: Record<string, () => Promise<void>>;
  logger: Logger;
}

type Authed = Request & { auth: TokenClaims };
type AdminAuthed = Request & { operator: string };

/** The REST API and the web client's files. Routes parse, call a use case and map the result. */
export function createApp({ config, accounts, standing, moderation, calls, metrics, readiness, logger }: AppDeps): express.Express {
  const app = express();
  app.disable("x-powered-by");
  // Paths match exactly as written: a load balancer rule hiding /metrics must not be dodged by /METRICS.
  app.set("case sensitive routing", true);
  // Exactly the configured hops: each proxy appends the address it saw to X-Forwarded-For, and
  // everything left of the first one is whatever the client sent. `true` would take the
  // left-most entry, letting any client pick the address the per-address limits count against.
  if (config.trustProxyHops > 0) app.set("trust proxy", config.trustProxyHops);
  app.use(helmet());
  if (config.corsOrigins.length > 0) app.use(cors({ origin: [...config.corsOrigins], maxAge: 600 }));
  app.use(express.json({ limit: limits.bodyMax }));

  const client = (req: Request) => req.ip ?? "unknown";
  // Every authenticated call: a valid token, and an account that exists and is not banned.
  const auth = async (req: Request, _res: Response, next: NextFunction) => {
    const claims = verifyToken(bearer(req.headers.authorization), config.jwtSecret);
    await standing.check(claims.sub);
    (req as Authed).auth = claims;
    next();
  };
  const userOf = (req: Request) => (req as Authed).auth.sub;
  const admin = (req: Request, _res: Response, next: NextFunction) => {
    if (!config.adminSecret) throw new VchatError("FORBIDDEN", "the admin API is off on this node: it has no admin secret");
    (req as AdminAuthed).operator = verifyAdminToken(bearer(req.headers.authorization), config.adminSecret);
    next();
  };
  const operatorOf = (req: Request) => (req as AdminAuthed).operator;

  app.get(paths.healthz, (_req, res) => {
    res.json({ ok: true } satisfies HealthResponse);
  });
  app.get(paths.readyz, async (_req, res) => {
    const checks: ReadyResponse["checks"] = {};
    await Promise.all(
      Object.entries(readiness).map(async ([name, check]) => {
        try {
          await withTimeout(check(), 2000);
          checks[name] = { ok: true };
        } catch (err) {
          checks[name] = { ok: false, detail: (err as Error).message.slice(0, 200) };
        }
      }),
    );
    const ready = Object.values(checks).every((c) => c.ok);
    res.status(ready ? 200 : 503).json({ ready, checks } satisfies ReadyResponse);
  });
  app.get(paths.metrics, async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  app.post(paths.guest, async (req, res) => {
    res.status(201).json(await accounts.guest(parse(guestBody, req.body ?? {}), client(req)));
  });
  app.post(paths.register, async (req, res) => {
    res.status(201).json(await accounts.register(parse(registerBody, req.body), client(req)));
  });
  app.post(paths.login, async (req, res) => {
    res.json(await accounts.login(parse(loginBody, req.body), client(req)));
  });
  app.get(paths.me, auth, async (req, res) => {
    res.json(await accounts.me(userOf(req)));
  });
  app.get(paths.ice, auth, (req, res) => {
    res.set("Cache-Control", "no-store").json(iceFor(config, userOf(req)));
  });
  app.get(paths.sessions, auth, async (req, res) => {
    res.json({ sessions: await calls.history(userOf(req)) });
  });
  app.post(paths.reports, auth, async (req, res) => {
    res.status(201).json(await calls.report(userOf(req), parse(reportBody, req.body)));
  });
  app.post(paths.blocks, auth, async (req, res) => {
    await calls.block(userOf(req), parse(blockBody, req.body).userId);
    res.status(204).end();
  });
  app.get(adminPaths.reports, admin, async (req, res) => {
    res.set("Cache-Control", "no-store").json(await moderation.reports(parse(adminReportsQuery, req.query)));
  });
  app.post(adminPaths.bans, admin, async (req, res) => {
    res.status(201).json({ ban: await moderation.ban(operatorOf(req), parse(banBody, req.body)) });
  });
  app.post(adminPaths.unbans, admin, async (req, res) => {
    res.json(await moderation.unban(operatorOf(req), parse(unbanBody, req.body).userId));
  });
  app.use("/api", () => {
    throw new VchatError("NOT_FOUND", "no such API route");
  });

  if (config.webDir && existsSync(join(config.webDir, "index.html"))) {
    const webDir = config.webDir;
    app.use(express.static(webDir, { index: "index.html", maxAge: "1h" }));
    // The client is a single page: unknown paths get it too.
    app.get("/{*path}", (_req, res) => res.sendFile(join(webDir, "index.html")));
  }

  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const body = requestError(err) ?? toErrorBody(err, logger);
    // Who hit a limit is what an operator looks for in an abuse report.
    if (body.code === "RATE_LIMITED") logger.warn({ client: client(req), path: req.path }, "rate limited");
    metrics.errors.inc({ code: body.code });
    res.status(httpStatus[body.code]).json({ error: body });
  });
  return app;
}

/** What the client sent wrong before any route ran: a path that is not valid percent-encoding, an oversized or malformed body. */
function requestError(err: unknown) {
  // The router decodes path parameters with decodeURIComponent: `/%E0%A4%A` is the client's fault.
  if (err instanceof URIError) return new VchatError("VALIDATION_FAILED", "the URL is not valid percent-encoding").toBody();
  const type = (err as { type?: string } | null)?.type;
  if (type === "entity.too.large") return new VchatError("PAYLOAD_TOO_LARGE", `the body exceeds ${limits.bodyMax} bytes`).toBody();
  if (type === "entity.parse.failed") return new VchatError("VALIDATION_FAILED", "the body is not valid JSON").toBody();
  if (typeof type === "string") return new VchatError("VALIDATION_FAILED", "the body could not be read").toBody();
  return undefined;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
