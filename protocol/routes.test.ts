import { describe, expect, it } from "vitest";
import { cacheControlOf, contentTypeOf, originOf, patternRegExp } from "./routes.ts";

describe("routes of the public origin", () => {
  it("sends the API, Socket.IO and /healthz to the nodes, case-sensitively as CloudFront matches", () => {
    for (const path of ["/api/me", "/api/auth/guest", "/socket.io/", "/healthz"]) expect(originOf(path), path).toBe("node");
    for (const path of ["/", "/index.html", "/assets/index-53trShyW.js", "/call/123", "/api", "/API/me", "/readyz", "/metrics", "/healthz/x"]) {
      expect(originOf(path), path).toBe("bucket");
    }
  });

  it("reads * as any run of characters and ? as one, everything else literally", () => {
    expect(patternRegExp("/a.b/*").test("/a.b/c/d")).toBe(true);
    expect(patternRegExp("/a.b/*").test("/axb/c")).toBe(false);
    expect(patternRegExp("/v?").test("/v1")).toBe(true);
  });

  it("makes hashed bundles immutable and everything else revalidated", () => {
    expect(cacheControlOf("assets/index-53trShyW.js")).toMatch(/immutable/);
    expect(cacheControlOf("assets/index-Ba7QRxsp.css")).toMatch(/immutable/);
    expect(cacheControlOf("index.html")).toBe("no-cache");
    expect(cacheControlOf("favicon.ico")).toBe("no-cache");
    // A source map is named after its bundle, hash included.
    expect(cacheControlOf("assets/index-53trShyW.js.map")).toMatch(/immutable/);
    expect(cacheControlOf("assets/logo.svg")).toBe("no-cache");
  });
});

describe("the bucket's content types", () => {
  it("names what Vite writes, case-insensitively, and serves anything else as bytes", () => {
    expect(contentTypeOf("index.html")).toBe("text/html; charset=utf-8");
    expect(contentTypeOf("assets/index-53trShyW.js")).toBe("text/javascript; charset=utf-8");
    expect(contentTypeOf("assets/index-53trShyW.js.map")).toBe("application/json");
    expect(contentTypeOf("assets/font-1234abcd.WOFF2")).toBe("font/woff2");
    expect(contentTypeOf("site.webmanifest")).toBe("application/manifest+json");
    expect(contentTypeOf("LICENSE")).toBe("application/octet-stream");
  });
});
