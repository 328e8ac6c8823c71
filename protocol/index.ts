/**
 * The vchat wire protocol, declared once: REST bodies and Socket.IO events as zod schemas with
 * derived types, the typed event maps, error codes and size limits. Imported by the server,
 * the bots, the web client and the CLI; it imports none of them.
 */
export * from "./limits.ts";
export * from "./errors.ts";
export * from "./common.ts";
export * from "./text.ts";
export * from "./rest.ts";
export * from "./events.ts";
export * from "./admin.ts";
export * from "./request.ts";
export * from "./rest-client.ts";
