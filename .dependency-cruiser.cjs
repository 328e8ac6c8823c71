/**
 * The layering, checked by `npm test` (`npm run lint:layers`):
 *   protocol ← turn ← {server, doctor, bots, stacks} ← cli
 * `lib/` holds small Node helpers that import nothing of ours; `web/` (the browser bundle)
 * imports only `protocol/`; tests, bench and scripts may import anything.
 */
const layers = "protocol|lib|turn|server|doctor|bots|stacks|cli|web|tests|bench|scripts";
const testCode = "(\\.test\\.tsx?|\\.contract\\.ts|\\.suite\\.ts)$|/testing/|^tests/";

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "protocol-imports-nothing-of-ours",
      comment: "protocol/ is the wire, shared with the browser: it imports no other folder",
      severity: "error",
      from: { path: "^protocol/" },
      to: { path: `^(${layers})/`, pathNot: "^protocol/" },
    },
    {
      name: "lib-imports-nothing-of-ours",
      severity: "error",
      from: { path: "^lib/" },
      to: { path: `^(${layers})/`, pathNot: "^lib/" },
    },
    {
      name: "turn-sits-on-protocol",
      comment: "turn/ (STUN/TURN URLs, credentials, client, coturn) is used by server, doctor, bots and stacks, and uses only protocol/ and lib/",
      severity: "error",
      from: { path: "^turn/" },
      to: { path: `^(${layers})/`, pathNot: "^(turn|protocol|lib)/" },
    },
    {
      name: "services-use-only-lower-layers",
      comment: "server, doctor, bots and stacks stand side by side on turn/ and protocol/: none imports another (bots must not use doctor), nor cli",
      severity: "error",
      from: { path: "^(server|doctor|bots|stacks)/" },
      to: { path: `^(${layers})/`, pathNot: "^($1|turn|protocol|lib)/" },
    },
    {
      name: "cli-is-the-top",
      comment: "cli/ may use every layer, but not the browser bundle's sources nor tests",
      severity: "error",
      from: { path: "^cli/" },
      to: { path: "^(web|tests|bench|scripts)/" },
    },
    {
      name: "web-imports-only-protocol",
      comment: "the browser client shares only the wire with the Node side",
      severity: "error",
      from: { path: "^web/src/" },
      to: { path: `^(${layers})/`, pathNot: "^(web|protocol)/" },
    },
    {
      name: "run-time-code-imports-no-test-code",
      comment: "test helpers live under tests/support/ or */testing/; code that ships must not need them",
      severity: "error",
      from: { path: "^(protocol|lib|turn|server|doctor|bots|stacks|cli|web)/", pathNot: testCode },
      to: { path: testCode },
    },
    {
      name: "run-time-code-imports-no-dev-dependency",
      comment: "the installed package has no devDependencies",
      severity: "error",
      from: { path: "^(protocol|lib|turn|server|doctor|bots|stacks|cli)/", pathNot: testCode },
      to: { dependencyTypes: ["npm-dev"], dependencyTypesNot: ["type-only"] },
    },
    {
      name: "imports-resolve",
      comment: "an import the cruiser cannot resolve would escape every rule above",
      severity: "error",
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(web/dist|\\.vchat)/" },
    tsConfig: { fileName: "tsconfig.json" },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: {
      extensions: [".ts", ".tsx", ".js", ".mjs", ".cjs", ".json"],
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      mainFields: ["module", "main", "types", "typings"],
    },
  },
};
