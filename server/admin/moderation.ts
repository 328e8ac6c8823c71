import type { AdminReportsQuery, AdminReportsResponse, Ban, BanBody, UnbanResponse } from "../../protocol/index.ts";
import { banMessage, type AccountStanding } from "../auth/standing.ts";
import type { ServerConfig } from "../config.ts";
import { newId } from "../ids.ts";
import type { Logger } from "../log.ts";
import { closeSocket } from "../signaling/close-socket.ts";
import { userRoom, type VchatServer } from "../signaling/types.ts";
import type { ReportRecord, Store } from "../store/store.ts";

export interface ModerationDeps {
  config: ServerConfig;
  store: Store;
  standing: AccountStanding;
  io: VchatServer;
  logger: Logger;
}

/** Who an automatic ban is recorded as made by. */
export const autoBanOperator = "auto";

/**
 * The operator's use cases behind the admin API: reading reports, banning and unbanning. A ban
 * is stored first, then every socket of the user, on every node (through the adapter), is told
 * `auth:revoked` and disconnected; other nodes refuse the user's REST calls once their cached
 * check runs out (`tuning.accountCheckMs`).
 */
export function createModeration({ config, store, standing, io, logger }: ModerationDeps) {
  const log = logger.child({ module: "moderation" });

  async function ban(operator: string, body: BanBody): Promise<Ban> {
    const at = new Date();
    const record = {
      id: newId(),
      userId: body.userId,
      reason: body.reason,
      by: operator,
      at: at.toISOString(),
      until: body.forSeconds ? new Date(at.getTime() + body.forSeconds * 1000).toISOString() : null,
    };
    await store.addBan(record);
    standing.forget(body.userId);
    const room = userRoom(body.userId);
    // Told, then closed after the telling (on a cluster the emit goes through Redis first).
    await closeSocket(io, room, "auth:revoked", { reason: "banned", message: banMessage(record.reason, record.until), until: record.until });
    log.info({ banId: record.id, userId: record.userId, by: operator, until: record.until }, "user banned");
    return { ...record, liftedAt: null, liftedBy: null };
  }

  return {
    async reports(query: AdminReportsQuery): Promise<AdminReportsResponse> {
      return { reports: await store.listReportsSince(query.since ?? null, query.limit) };
    },

    ban,

    async unban(operator: string, userId: string): Promise<UnbanResponse> {
      const lifted = await store.liftBans(userId, { at: new Date().toISOString(), by: operator });
      standing.forget(userId);
      log.info({ userId, by: operator, lifted }, "bans lifted");
      return { userId, lifted };
    },

    /**
     * After a report: with `tuning.autoBanReporters` set, a user reported by that many different
     * users within the window, and not banned already, is banned for `tuning.autoBanSeconds`.
     */
    async reported(report: ReportRecord): Promise<void> {
      const { autoBanReporters, autoBanWindowSeconds, autoBanSeconds } = config.tuning;
      if (autoBanReporters === 0) return;
      const now = Date.now();
      const since = new Date(now - autoBanWindowSeconds * 1000).toISOString();
      if ((await store.countReporters(report.reportedId, since)) < autoBanReporters) return;
      if (await store.activeBan(report.reportedId, new Date(now).toISOString())) return;
      await ban(autoBanOperator, {
        userId: report.reportedId,
        reason: `reported by ${autoBanReporters} or more users within ${Math.round(autoBanWindowSeconds / 60)} minutes`,
        forSeconds: autoBanSeconds,
      });
    },
  };
}

export type Moderation = ReturnType<typeof createModeration>;
