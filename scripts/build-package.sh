#!/usr/bin/env bash
# Builds what the npm package ships (run by `npm pack` / `npm publish` as prepack): Node
# refuses to strip types under node_modules, so the Node side is compiled to JavaScript in
# dist/, beside the files it reads at run time (the web client, the bots' clip, the Pulumi
# project and policy pack, whose `main` becomes index.js).
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf dist
npx tsc -p tsconfig.build.json
[ -f web/dist/index.html ] || npx vite build --config web/vite.config.ts --logLevel warn
mkdir -p dist/web dist/bots/assets
cp -r web/dist dist/web/dist
cp bots/assets/*.ivf dist/bots/assets/
sed 's/^main: index\.ts$/main: index.js/' stacks/Pulumi.yaml > dist/stacks/Pulumi.yaml
cp stacks/policy/PulumiPolicy.yaml dist/stacks/policy/
sed 's/"main": "index\.ts"/"main": "index.js"/' stacks/policy/package.json > dist/stacks/policy/package.json
