#!/usr/bin/env bash
# The dashboard in headless Chromium (Debian's chromium, driven by
# playwright-core from npm): seeds a store with generated Customer 360
# documents, starts `c360 serve` on a free port, runs browser/dashboard.js.
# Installs chromium/node/npm (scripts/deps.sh --browser) and the npm package
# (npm ci, idempotent) when missing. Screenshots: $C360_BUILD/test-artifacts/browser/.
set -euo pipefail
: "${C360_BIN:?}" "${C360_SRC:?}" "${C360_BUILD:?}"
here="$C360_SRC/tests/e2e/browser"
art="$C360_BUILD/test-artifacts/browser"
tmp=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

bash "$C360_SRC/scripts/deps.sh" --browser
# npm ci once per package-lock.json (several build dirs may run this at once)
(
  flock 9
  if ! cmp -s "$here/package-lock.json" "$here/node_modules/.c360-lock" 2>/dev/null; then
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$here/package-lock.json" "$here/node_modules/.c360-lock"
  fi
) 9>"$here/.npm-ci.lock"

seed="$C360_BUILD/c360-seed360"
[ -x "$seed" ] || { echo "missing $seed (build the c360-seed360 tool)"; exit 1; }
"$seed" --store "$tmp/store.db" --customers 2000 --emails "$tmp/emails.txt"
"$C360_BIN" --store "$tmp/store.db" serve --port 0 --port-file "$tmp/port" >"$tmp/serve.log" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
[ -s "$tmp/port" ] || { echo "c360 serve did not start:"; cat "$tmp/serve.log"; exit 1; }
port=$(cat "$tmp/port")
# a customer with orders (the generator's person 0 is in the online store)
prefix=$(head -1 "$tmp/emails.txt" | cut -d@ -f1)
rm -rf "$art"; mkdir -p "$art"
timeout 120 node "$here/dashboard.js" "http://127.0.0.1:$port" "$prefix" "$art"
echo "screenshots in $art"
