#!/usr/bin/env bash
# Brings everything vchat needs on a Debian machine: Node 24, npm packages, and the
# Debian packages the tests drive (redis-server, coturn, chromium, firefox-esr, openssl, haproxy;
# nftables and iproute2 for the NAT lab). Idempotent and quick when all is there. Run it before
# `npx vchat dev` or `npm test`.
set -euo pipefail
cd "$(dirname "$0")/.."

want_major=24
have_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if [ "$(have_major)" -lt 22 ]; then
  echo "bootstrap: node $(node -v 2>/dev/null || echo none) is too old, installing node@${want_major} under /usr/local"
  prefix=/usr/local
  [ -w "$prefix" ] || { echo "bootstrap: $prefix is not writable; run as root or install Node ${want_major} yourself" >&2; exit 1; }
  npm install -g --prefix "$prefix" "node@${want_major}" --no-fund --no-audit >/dev/null
  hash -r
  if [ "$(have_major)" -lt 22 ]; then
    echo "bootstrap: installed node@${want_major}, but '$(command -v node)' still comes first on PATH; put /usr/local/bin first" >&2
    exit 1
  fi
fi
echo "bootstrap: node $(node -v)"

# Debian packages the tests use. Missing ones are installed when apt is there and we are root.
need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v turnserver >/dev/null || need+=(coturn)
command -v openssl >/dev/null || need+=(openssl)
[ -x /usr/bin/chromium ] || need+=(chromium)
# A real reverse proxy in front of vchat serve (tests/trust-proxy.test.ts, the rehearsal), as the ALB and CloudFront are in the cloud.
[ -x /usr/sbin/haproxy ] || need+=(haproxy)
# Firefox, driven over WebDriver BiDi (tests/web-firefox.test.ts).
[ -x /usr/bin/firefox-esr ] || need+=(firefox-esr)
# The NAT lab (tests/support/natlab.ts): network namespaces and nftables NAT, as root.
command -v nft >/dev/null || [ -x /usr/sbin/nft ] || need+=(nftables)
command -v ip >/dev/null || [ -x /usr/sbin/ip ] || need+=(iproute2)
if [ ${#need[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "bootstrap: installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null || true
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    # Debian's coturn package enables a system service; vchat starts its own instances.
    command -v systemctl >/dev/null && systemctl disable --now coturn >/dev/null 2>&1 || true
    # Same for haproxy: the tests start their own, on loopback ports.
    command -v systemctl >/dev/null && systemctl disable --now haproxy >/dev/null 2>&1 || true
  else
    echo "bootstrap: not installing ${need[*]} (needs root and apt-get); tests that need them will say they were skipped"
  fi
fi

# npm packages, only when package-lock.json or patches/ changed since the last install. npm ci
# runs the postinstall script, patch-package, which applies patches/ (docs/werift-patches.md).
stamp=node_modules/.bootstrap-lock
want=$(cat package-lock.json patches/*.patch | sha256sum)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  npm ci --no-fund --no-audit
  echo "$want" >"$stamp"
fi

# The web client's build, served by `vchat dev`; rebuilt when its sources are newer.
if [ -d web ] && [ -f web/index.html ]; then
  if [ ! -f web/dist/index.html ] || [ -n "$(find web protocol -newer web/dist/index.html -type f -not -path 'web/dist/*' -print -quit)" ]; then
    npm run --silent build:web
  fi
fi
echo "bootstrap: ready"
