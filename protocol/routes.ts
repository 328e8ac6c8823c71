/**
 * How the one public origin splits between the nodes and the web client's bucket. CloudFront's
 * behaviours (`stacks/web.ts`) and the rehearsal's haproxy (`server/rehearsal.ts`) are both made
 * from this list, so the two cannot drift. Everything else goes to the bucket, `/readyz` and
 * `/metrics` included: they are not served at the public origin.
 */
export const nodePathPatterns = ["/api/*", "/socket.io/*", "/healthz"] as const;

/**
 * A CloudFront path pattern as an anchored regular expression: `*` is any run of characters
 * (slashes too), `?` one character, everything else literal and case-sensitive.
 * @example patternRegExp("/api/*").test("/api/me") // true; "/api" and "/API/me" do not match
 */
export function patternRegExp(pattern: string): RegExp {
  const body = pattern
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${body}$`);
}

/** Where the public origin sends a request path (without its query string). */
export function originOf(path: string): "node" | "bucket" {
  return nodePathPatterns.some((p) => patternRegExp(p).test(path)) ? "node" : "bucket";
}

/** A path that names a file; any other path at the bucket is a client route and gets index.html. */
export const fileExtension = /\.[A-Za-z0-9]+$/;

/**
 * The bucket's Cache-Control per object: Vite's hashed bundles never change under their name;
 * anything else (index.html, which names the bundles of a release) is checked on every load.
 */
export function cacheControlOf(key: string): string {
  return /^assets\/.+-[A-Za-z0-9_-]{8,}\.[a-z0-9]+(\.map)?$/.test(key) ? "public, max-age=31536000, immutable" : "no-cache";
}

/** The bucket's Content-Type per object, for what Vite writes into web/dist; anything else is served as bytes. */
const contentTypes: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  mjs: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  json: "application/json",
  map: "application/json",
  webmanifest: "application/manifest+json",
  txt: "text/plain; charset=utf-8",
  svg: "image/svg+xml",
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  ico: "image/x-icon",
  woff: "font/woff",
  woff2: "font/woff2",
  wasm: "application/wasm",
};

export function contentTypeOf(key: string): string {
  const ext = /\.([A-Za-z0-9]+)$/.exec(key)?.[1]?.toLowerCase();
  return (ext && contentTypes[ext]) ?? "application/octet-stream";
}
