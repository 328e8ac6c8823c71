/**
 * What `vchat up` ships besides the infrastructure: the service image, built from the
 * checkout's Dockerfile (or named by `vchat:image`), and the built web client of `web/dist`.
 * The files are read here, once, so the program, the offline preview and the tests agree on
 * what is built and uploaded.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, matchesGlob } from "node:path";
import { fileURLToPath } from "node:url";
import { cacheControlOf, contentTypeOf } from "../protocol/routes.ts";

/** The checkout this file runs from: the Dockerfile, `.dockerignore` and `web/dist` are there. */
export const checkoutRoot = join(dirname(fileURLToPath(import.meta.url)), "..");

interface IgnoreRule {
  pattern: string;
  negate: boolean;
}

/** `.dockerignore` as Docker reads it: one pattern a line, `#` comments, `!` re-includes, the last match wins. */
function dockerignoreRules(text: string): IgnoreRule[] {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => ({ negate: l.startsWith("!"), pattern: l.replace(/^!/, "").replace(/^\/+/, "").replace(/\/+$/, "") }));
}

/** Docker excludes a path that a pattern matches, or whose parent folder one matches. */
function excluded(path: string, rules: IgnoreRule[]): boolean {
  const parts = path.split("/");
  const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join("/"));
  let out = false;
  for (const rule of rules) if (prefixes.some((p) => matchesGlob(p, rule.pattern))) out = !rule.negate;
  return out;
}

/** The files of the image's build context under `root` (what `.dockerignore` leaves), relative and sorted. */
export function contextFiles(root: string): string[] {
  const ignore = join(root, ".dockerignore");
  const rules = existsSync(ignore) ? dockerignoreRules(readFileSync(ignore, "utf8")) : [];
  const prunable = !rules.some((r) => r.negate);
  const files: string[] = [];
  const walk = (rel: string) => {
    for (const entry of readdirSync(join(root, rel), { withFileTypes: true })) {
      const path = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        if (!(prunable && excluded(path, rules))) walk(path);
      } else if (entry.isFile() && !excluded(path, rules)) files.push(path);
    }
  };
  walk("");
  return files.sort();
}

/** sha256 over names and contents, in order: the same files give the same digest on any machine. */
function digestOf(root: string, files: readonly string[]): string {
  const hash = createHash("sha256");
  for (const file of files) {
    hash.update(`${file}\0`);
    hash.update(readFileSync(join(root, file)));
    hash.update("\0");
  }
  return hash.digest("hex");
}

/**
 * The tag a build from `root` gets: `src-` and the first 16 hex digits of the build context's
 * digest. The repository refuses to move a tag, so the tag must change exactly when the image's
 * inputs do; the running task is then pinned by the pushed image's digest on top.
 */
export function contextTag(root: string): string {
  return `src-${digestOf(root, contextFiles(root)).slice(0, 16)}`;
}

/** One object of the bucket: its key, the file it comes from, and the headers S3 will serve. */
export interface SiteObject {
  key: string;
  path: string;
  contentType: string;
  cacheControl: string;
}

export interface Site {
  objects: SiteObject[];
  /** Changes exactly when a key, a header or a byte of the upload does: the invalidation's trigger. */
  digest: string;
}

/** The built web client in `dir` as bucket objects, or undefined when it is not built (no index.html). */
export function readSite(dir: string): Site | undefined {
  if (!existsSync(join(dir, "index.html"))) return undefined;
  const keys: string[] = [];
  const walk = (rel: string) => {
    for (const entry of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const key = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(key);
      else if (entry.isFile()) keys.push(key);
    }
  };
  walk("");
  keys.sort();
  const objects = keys.map((key) => ({ key, path: join(dir, key), contentType: contentTypeOf(key), cacheControl: cacheControlOf(key) }));
  const hash = createHash("sha256");
  for (const o of objects) hash.update(`${o.key}\0${o.contentType}\0${o.cacheControl}\0`);
  hash.update(digestOf(dir, keys));
  return { objects, digest: hash.digest("hex") };
}

/** Where the service image comes from: built from a checkout (the default), or given by reference. */
export type ImageSource = { build: { root: string; tag: string } } | { given: string };

/** What a run of the program ships; `problems` name what is missing for a real `vchat up`. */
export interface Release {
  image?: ImageSource;
  site?: Site;
  problems: string[];
}

/**
 * Reads the release from a checkout: the image source (`vchat:image`, else the Dockerfile at
 * `root`) and `root/web/dist`.
 */
export function readRelease(root: string, givenImage: string | undefined): Release {
  const problems: string[] = [];
  let image: ImageSource | undefined;
  if (givenImage) image = { given: givenImage };
  else if (existsSync(join(root, "Dockerfile"))) image = { build: { root, tag: contextTag(root) } };
  else problems.push(`no Dockerfile in ${root} to build the service image from: run vchat up from a checkout, or set vchat:image`);
  const site = readSite(join(root, "web", "dist"));
  if (!site) problems.push("web/dist is not built: run `npm run build:web` first (vchat up uploads it to the bucket)");
  return { image, site, problems };
}

/**
 * What `up` runs on this machine for a release, missing from PATH: Docker (with buildx) for the
 * image build, the AWS CLI for CloudFront's invalidation.
 */
export function releaseToolProblems(release: Release, which: (name: string) => string | undefined): string[] {
  const problems: string[] = [];
  if (release.image && "build" in release.image && !which("docker"))
    problems.push("docker is not on PATH: vchat up builds the service image with Docker (buildx); install it, or set vchat:image to a pushed image");
  if (release.site && !which("aws")) problems.push("the AWS CLI (aws) is not on PATH: vchat up invalidates CloudFront with it after an upload");
  return problems;
}
