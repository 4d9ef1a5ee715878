#!/usr/bin/env bash
# The API never falls back to open beyond loopback: `c360 serve --bind
# 0.0.0.0` started with a token refuses every call (401) once that token is
# revoked by another process, within a bounded time; on loopback the same
# store reopens the API (the documented local mode). `c360 run` goes through
# the same checks: a non-loopback serve: section without a token is refused
# at start, and with `auth: true` tokens created and revoked by `c360 token`
# while it runs apply to it. The connection limit flags are checked.
# Clients connect over loopback only.
set -euo pipefail
: "${C360_BIN:?}"
tmp=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; for f in "$tmp"/*.log; do [ -f "$f" ] && { echo "--- $f"; cat "$f"; }; done; exit 1; }
export C360_STORE="$tmp/store.db"
code() { curl -s -m 10 -o "$tmp/body" -w '%{http_code}' "$@"; }

# a staging document with a source password: what an open API would leak
"$C360_BIN" bucket create staging >/dev/null
"$C360_BIN" doc upsert staging loyalty-member-27 '{"id":27,"password":"xrinn5xp.swd"}' >/dev/null

serve() { # serve BIND LOG: starts c360 serve, sets pid and port
  rm -f "$tmp/port"
  "$C360_BIN" serve --bind "$1" --port 0 --port-file "$tmp/port" --threads 2 >"$tmp/$2" 2>&1 &
  pid=$!
  for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
  [ -s "$tmp/port" ] || fail "serve --bind $1 did not start"
  port=$(cat "$tmp/port")
}
stop() { kill "$pid"; wait "$pid" || true; pid=""; }
# wait_for STATUS CURL-ARGS...: polls (every 0.1 s, at most 5 s) until the
# answer is STATUS; the bound is how fast a change by another process applies
wait_for() {
  local want=$1 got=""; shift
  for _ in $(seq 50); do got=$(code "$@"); [ "$got" = "$want" ] && return 0; sleep 0.1; done
  fail "expected $want from $*, got $got: $(cat "$tmp/body")"
}
# every data endpoint without a token (and with the revoked one) is refused
all_refused() { # all_refused BASE-URL [TOKEN]
  local hdr=()
  [ -n "${2:-}" ] && hdr=(-H "Authorization: Bearer $2")
  for path in /api/v1/docs/staging/loyalty-member-27 /api/v1/buckets /api/v1/stats \
              /api/v1/pipeline /api/v1/tokens /api/v1/customers; do
    [ "$(code "${hdr[@]}" "$1$path")" = 401 ] || fail "GET $path answered $(cat "$tmp/body")"
    ! grep -q xrinn5xp "$tmp/body" || fail "GET $path leaked a password"
  done
  [ "$(code "${hdr[@]}" -X POST --data 'SELECT doc FROM staging' "$1/api/v1/query")" = 401 ] ||
    fail "POST /api/v1/query answered $(cat "$tmp/body")"
  [ "$(code "${hdr[@]}" -X POST --data '{"scope":"admin"}' "$1/api/v1/tokens")" = 401 ] ||
    fail "POST /api/v1/tokens answered $(cat "$tmp/body")"
}

# --- c360 serve --bind 0.0.0.0: allowed because a token exists ---
tok=$("$C360_BIN" token create --scope read --name only 2>/dev/null)
serve 0.0.0.0 serve_wide.log
u="http://127.0.0.1:$port"
grep -q "token auth" "$tmp/serve_wide.log" || fail "serve says token auth"
[ "$(code -H "Authorization: Bearer $tok" "$u/api/v1/docs/staging/loyalty-member-27")" = 200 ] ||
  fail "the token reads"
all_refused "$u"
"$C360_BIN" token revoke "${tok:5:8}" >/dev/null   # another process revokes the last token
wait_for 401 -H "Authorization: Bearer $tok" "$u/api/v1/buckets"
all_refused "$u"
all_refused "$u" "$tok"
[ "$(code "$u/health")" = 200 ] || fail "/health stays open for probes"
[ "$(code "$u/metrics")" = 200 ] || fail "/metrics stays open"
grep -q '^c360_http_connections_closed_total{reason="header_timeout"} 0$' "$tmp/body" ||
  fail "/metrics has the connection counters: $(cat "$tmp/body")"
! grep -q xrinn5xp "$tmp/body" || fail "/metrics leaked a document"
[ "$(code "$u/api/v1")" = 200 ] || fail "the endpoint list stays open"
# a new token applies without a restart
tok2=$("$C360_BIN" token create --scope read 2>/dev/null)
wait_for 200 -H "Authorization: Bearer $tok2" "$u/api/v1/buckets"
"$C360_BIN" token revoke "${tok2:5:8}" >/dev/null
wait_for 401 -H "Authorization: Bearer $tok2" "$u/api/v1/buckets"
all_refused "$u"
stop

# with no token left, a non-loopback bind is refused at start (exit 2) ...
set +e
"$C360_BIN" serve --bind 0.0.0.0 --port 0 2>"$tmp/refused.log"; rc=$?
"$C360_BIN" serve --bind :: --port 0 2>>"$tmp/refused.log"; rc6=$?
set -e
[ $rc -eq 2 ] && [ $rc6 -eq 2 ] || fail "non-loopback without a token exits 2 (got $rc, $rc6)"
grep -q "refusing to serve on '0.0.0.0' without authentication" "$tmp/refused.log" || fail "refusal message"
set +e
"$C360_BIN" demo --bind 0.0.0.0 --port 0 >/dev/null 2>"$tmp/demo.log"; rc=$?
set -e
[ $rc -eq 2 ] && grep -q "refusing to serve on '0.0.0.0' without authentication" "$tmp/demo.log" ||
  fail "c360 demo on 0.0.0.0 (new store, no token) is refused (got $rc)"
# ... and on loopback the API is open (documented local mode, with a warning)
serve 127.0.0.1 serve_local.log
grep -q "open: no token" "$tmp/serve_local.log" || fail "loopback serve says it is open"
[ "$(code "http://127.0.0.1:$port/api/v1/buckets")" = 200 ] || fail "loopback without tokens is open"
stop

# --- c360 run: the pipeline's serve: section goes through the same checks ---
cat >"$tmp/wide.yaml" <<YAML
store: {path: $tmp/store.db}
serve: {bind: 0.0.0.0, port: 0}
YAML
set +e
"$C360_BIN" run "$tmp/wide.yaml" >"$tmp/run_refused.log" 2>&1; rc=$?
set -e
[ $rc -eq 2 ] || fail "c360 run on 0.0.0.0 without a token exits 2 (got $rc)"
grep -q "refusing to serve on '0.0.0.0' without authentication" "$tmp/run_refused.log" ||
  fail "c360 run refusal message"
printf 'store: {path: %s}\nserve: {bind: 0.0.0.0, port: 0, auth: maybe}\n' "$tmp/store.db" >"$tmp/bad.yaml"
set +e
"$C360_BIN" run "$tmp/bad.yaml" >/dev/null 2>"$tmp/bad.log"; rc=$?
set -e
[ $rc -eq 2 ] && grep -q 'bad.yaml:2:39: serve.auth: expected true or false' "$tmp/bad.log" ||
  fail "serve.auth must be a boolean (exit $rc): $(cat "$tmp/bad.log")"
cat >"$tmp/auth.yaml" <<YAML
store: {path: $tmp/store.db}
serve: {bind: 0.0.0.0, port: 0, auth: true}
YAML
"$C360_BIN" run "$tmp/auth.yaml" >"$tmp/run.log" 2>&1 &
pid=$!
url=""
for _ in $(seq 100); do
  url=$(grep -o 'http://0.0.0.0:[0-9]*' "$tmp/run.log" | head -1 || true)
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || fail "c360 run did not serve"
u="http://127.0.0.1:${url##*:}"
all_refused "$u"
[ "$(code "$u/api/v1/functions")" = 401 ] || fail "run: eventing admin API without a token"
[ "$(code "$u/connectors")" = 401 ] || fail "run: Kafka Connect API without a token"
[ "$(code "$u/health")" = 200 ] || fail "run: /health open"
tok3=$("$C360_BIN" token create --scope admin 2>/dev/null)
wait_for 200 -H "Authorization: Bearer $tok3" "$u/api/v1/docs/staging/loyalty-member-27"
"$C360_BIN" token revoke "${tok3:5:8}" >/dev/null
wait_for 401 -H "Authorization: Bearer $tok3" "$u/api/v1/buckets"
all_refused "$u"
all_refused "$u" "$tok3"
[ "$(code -H "Authorization: Bearer $tok3" "$u/connectors")" = 401 ] || fail "run: revoked admin token"
stop

# the connection limit flags are checked, not silently adjusted
set +e
"$C360_BIN" serve --max-connections 10 --max-connections-per-ip 11 2>"$tmp/flags.log"; rc1=$?
"$C360_BIN" serve --header-timeout 0 2>>"$tmp/flags.log"; rc2=$?
set -e
[ $rc1 -eq 2 ] && [ $rc2 -eq 2 ] || fail "bad limits are usage errors (got $rc1, $rc2)"
grep -q -- '--max-connections-per-ip must be 1..10' "$tmp/flags.log" || fail "per-ip limit message"
echo "serve_revoke: ok"
