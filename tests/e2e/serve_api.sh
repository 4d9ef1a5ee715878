#!/usr/bin/env bash
# `c360 serve` and `c360 token` from the command line: start on a free port,
# answer the API with curl, open without tokens, then token auth (missing,
# wrong, read vs admin, revoked), refusal to bind a non-loopback address
# without a token, usage errors and exit codes.
set -euo pipefail
: "${C360_BIN:?}" "${C360_BUILD:?}"
tmp=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$tmp/serve.log" ] && cat "$tmp/serve.log"; exit 1; }
export C360_STORE="$tmp/store.db"

"$C360_BUILD/c360-seed360" --store "$C360_STORE" --customers 300 --emails "$tmp/emails.txt" 2>/dev/null
email=$(head -1 "$tmp/emails.txt")

start() {
  rm -f "$tmp/port"
  "$C360_BIN" serve --port 0 --port-file "$tmp/port" --threads 2 >"$tmp/serve.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
  [ -s "$tmp/port" ] || fail "serve did not start"
  port=$(cat "$tmp/port")
}
code() { curl -s -o "$tmp/body" -w '%{http_code}' "$@"; }

"$C360_BIN" serve --help | grep -q -- '--bind' || fail "serve --help"
"$C360_BIN" token --help | grep -q 'create' || fail "token --help"
set +e
"$C360_BIN" serve --port 70000 2>/dev/null; [ $? -eq 2 ] || fail "bad port is a usage error"
"$C360_BIN" serve --query-concurrency 0 2>/dev/null; [ $? -eq 2 ] || fail "bad query concurrency is a usage error"
"$C360_BIN" serve --query-timeout 2h 2>/dev/null; [ $? -eq 2 ] || fail "bad query timeout is a usage error"
"$C360_BIN" token create --scope root 2>/dev/null; [ $? -eq 2 ] || fail "bad scope is a usage error"
"$C360_BIN" token revoke deadbeef 2>/dev/null; [ $? -eq 3 ] || fail "revoking an unknown token exits 3"
set -e

start
grep -q "open: no token" "$tmp/serve.log" || fail "serve says the API is open"
[ "$(code "http://127.0.0.1:$port/api/v1/customers/${email/@/%40}")" = 200 ] || fail "open API answers"
grep -q '"orders_total"' "$tmp/body" || fail "360 document has orders"
[ "$(code "http://127.0.0.1:$port/api/v1/customers/a%zz")" = 400 ] || fail "malformed encoding"
grep -q 'malformed percent-encoding' "$tmp/body" || fail "malformed encoding message"
[ "$(code -X POST --data 'DROP TABLE customer360' "http://127.0.0.1:$port/api/v1/query")" = 403 ] || fail "write SQL refused"
[ "$(code "http://127.0.0.1:$port/api/v1/customers?limit=5000")" = 400 ] || fail "huge limit"
# issue 24: SQL reads the buckets only, within its limits
[ "$(code -X POST --data 'SELECT sql FROM sqlite_master' "http://127.0.0.1:$port/api/v1/query")" = 403 ] || fail "schema refused"
grep -q "table 'sqlite_master' is not readable" "$tmp/body" || fail "schema refusal names the table"
[ "$(code -X POST --data 'SELECT hex(zeroblob(1e8))' "http://127.0.0.1:$port/api/v1/query")" = 422 ] || fail "value limit"
grep -q '"error":"query_limit"' "$tmp/body" || fail "value limit code"

read_tok=$("$C360_BIN" token create --scope read --name e2e-reader 2>/dev/null)
admin_tok=$("$C360_BIN" token create --scope admin 2>/dev/null)
[[ "$read_tok" == c360_* ]] || fail "token printed"
"$C360_BIN" token list | grep -q e2e-reader || fail "token list"
"$C360_BIN" token list --json | grep -q '"scope":"admin"' || fail "token list --json"
"$C360_BIN" token list | grep -q "${read_tok:5:8}" || fail "token list shows the id"
! "$C360_BIN" query "SELECT doc FROM c360_meta" | grep -q "${read_tok:14}" || fail "secret stored in clear"
sleep 0.4
u="http://127.0.0.1:$port/api/v1/stats"
[ "$(code "$u")" = 401 ] || fail "missing token → 401"
grep -q 'needs a bearer token' "$tmp/body" || fail "401 message"
[ "$(code -H "Authorization: Bearer c360_00000000_wrong" "$u")" = 401 ] || fail "wrong token → 401"
[ "$(code -H "Authorization: Bearer $read_tok" "$u")" = 200 ] || fail "read token reads"
[ "$(code -H "Authorization: Bearer $read_tok" "http://127.0.0.1:$port/api/v1/tokens")" = 403 ] || fail "read token is not admin"
[ "$(code -H "Authorization: Bearer $admin_tok" "http://127.0.0.1:$port/api/v1/tokens")" = 200 ] || fail "admin token"
[ "$(code "http://127.0.0.1:$port/health")" = 200 ] || fail "/health is open"
"$C360_BIN" token revoke "${read_tok:5:8}" >/dev/null
sleep 0.4
[ "$(code -H "Authorization: Bearer $read_tok" "$u")" = 401 ] || fail "revoked token refused"
kill "$pid"; src=0; wait "$pid" || src=$?; pid=""
[ $src -eq 0 ] || fail "serve exits 0 on SIGTERM (got $src; sanitizer report in the log?)"
grep -q 'stopping after' "$tmp/serve.log" || fail "summary on stop"

# no token at all: a non-loopback bind is refused
rm -f "$tmp/store2.db"
set +e
C360_STORE="$tmp/store2.db" "$C360_BIN" serve --bind 0.0.0.0 --port 0 2>"$tmp/err"; rc=$?
set -e
[ $rc -eq 2 ] || fail "non-loopback without token exits 2 (got $rc)"
grep -q 'without authentication' "$tmp/err" || fail "refusal message"
# --auth: no token yet, every API call refused (not open), /health still open
rm -f "$tmp/port"
C360_STORE="$tmp/store2.db" "$C360_BIN" serve --auth --port 0 --port-file "$tmp/port" >"$tmp/serve.log" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
port=$(cat "$tmp/port")
[ "$(code "http://127.0.0.1:$port/api/v1/stats")" = 401 ] || fail "--auth without token refuses"
[ "$(code "http://127.0.0.1:$port/health")" = 200 ] || fail "--auth keeps /health open"
kill "$pid"; wait "$pid" || true; pid=""
echo "serve_api: ok"
