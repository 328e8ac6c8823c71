import { pino, type Logger } from "pino";

export type { Logger };

/**
 * The root logger: JSON lines on stderr (stdout is for what commands print). Modules take a
 * child: `logger.child({ module: "signaling" })`. Secrets never go into log fields.
 */
export function createLogger(level: string): Logger {
  return pino(
    {
      level,
      base: { service: "vchat" },
      redact: { paths: ["token", "*.token", "password", "*.password", "secret", "*.secret", "credential"], remove: true },
    },
    pino.destination(2),
  );
}
