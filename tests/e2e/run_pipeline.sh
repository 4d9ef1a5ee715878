#!/usr/bin/env bash
# End to end: `c360 run PIPELINE.yaml` — precise errors for broken files,
# --check, --once, and the daemon: a CSV drop folder on a schedule, the
# native function, /health, /metrics, the API, and SIGTERM → exit 0.
. "$(dirname "$0")/lib.bash"
# expect_error FILE-CONTENT EXPECTED-MESSAGE
expect_error() {
  printf '%s' "$1" >"$dir/bad.yaml"
  "$BIN" run "$dir/bad.yaml" >"$dir/out" 2>"$dir/err"
  local code=$?
  [ $code -eq 2 ] || fail "broken file exited $code, expected 2: $(cat "$dir/err")"
  grep -qF -- "$2" "$dir/err" || fail "expected '$2' in: $(cat "$dir/err")"
}

"$BIN" run --help | grep -q 'PIPELINE.yaml' || fail "run --help"
expect_error $'sources:\n  - name: a\n    csv: {dir: x, key: k}\n    schedule: nightly\n' "bad.yaml:4:15: schedule: expected"
expect_error $'buckets: [staging\n' "bad.yaml:"
expect_error $'sources:\n  - name: a\n    kafak: {}\n' "bad.yaml:3:5: unknown key 'kafak'"
expect_error $'sources:\n  - name: l\n    csv: {dir: d, key: k, treads: 2}\n' "bad.yaml:3:27: unknown key 'treads' in the csv source 'l'"
expect_error $'serve: {port: 99999}\n' "bad.yaml:1:15: serve.port"
expect_error $'sources:\n  - name: hd\n    kafka: {connector: nope.json}\n' "bad.yaml:3:24: cannot read connector file"
expect_error $'sources:\n  - name: hd\n    kafka: {topics: t, tasks.max: two}\n' "config key 'tasks.max'"
[ -e c360.db ] && fail "a broken pipeline file created a store in the working folder"
"$BIN" run "$dir/missing.yaml" >/dev/null 2>"$dir/err"
[ $? -ne 0 ] && grep -q "missing.yaml" "$dir/err" || fail "a missing file is not reported"

mkdir -p "$dir/drop"
printf 'id,password,firstName,lastName,email,points\n27,xrinn5xp.swd,Matthew,Groves,matthew.groves@couchbase.com,47\n28,pw,Gia,Kutch, Gia.Kutch@oconnell.biz ,12\n' >"$dir/drop/loyalty.csv"
cp "$SRC/functions/customer360.yaml" "$dir/"
cat >"$dir/p.yaml" <<YAML
store: {path: c360.db}
log: {format: json}
buckets: {staging: {max_ttl: 2d}, customer360: {}, customer360_metadata: {}}
sources:
  - name: loyalty
    csv: {dir: drop, key: 'loyalty-member-%id%', expiry: 25h}
    schedule: every 1s
functions:
  - native: customer360.yaml
serve: {port: 0}
YAML
"$BIN" run --check "$dir/p.yaml" | grep -q 'ok (3 buckets, 1 sources, 1 functions, serve)' || fail "run --check"
[ -e "$dir/c360.db" ] && fail "run --check created a store"

# --once: every source once, every function caught up, exit
export C360_ONLINE_STORE_URL=http://127.0.0.1:1  # no online store: fetches fail fast, are logged
"$BIN" run --once "$dir/p.yaml" >"$dir/once.out" 2>"$dir/once.err" || fail "run --once exited $?"
grep -Eq 'source loyalty +2 records +2 written' "$dir/once.out" || fail "run --once: $(cat "$dir/once.out")"
"$BIN" --store "$dir/c360.db" doc get customer360 gia.kutch@oconnell.biz >"$dir/doc" 2>&1 || fail "no customer after run --once"
grep -q '"external_system":"loyalty"' "$dir/doc" || fail "customer without its loyalty xref: $(cat "$dir/doc")"

# the daemon
rm -rf "$dir/c360.db" "$dir/c360.db-wal" "$dir/c360.db-shm"
"$BIN" run "$dir/p.yaml" >"$dir/run.log" 2>&1 &
pid=$!
wait_until 50 0.1 grep -q 'http://127.0.0.1:[0-9]' "$dir/run.log" || fail "the server did not start: $(cat "$dir/run.log")"
url=$(grep -o 'http://127.0.0.1:[0-9]*' "$dir/run.log" | head -1)
curl -sf "$url/health" | grep -q '"ok"' || fail "/health"
wait_until 50 0.2 curl -sf -o "$dir/cust" "$url/api/v1/customers/matthew.groves@couchbase.com" ||
  fail "the customer did not appear through the API"
grep -q '"loyaltyPoints":"47"' "$dir/cust" || fail "API customer: $(cat "$dir/cust")"
curl -sf "$url/connectors" | grep -q '^\[\]' || fail "Kafka Connect API: GET /connectors"
curl -sf "$url/api/v1/functions" | grep -q 'customer360' || fail "Eventing API: GET /api/v1/functions"
curl -sf "$url/metrics" >"$dir/metrics" || fail "/metrics"
grep -q '^c360_source_records_in_total{source="loyalty",type="csv"} 2$' "$dir/metrics" || fail "metrics: records in"
grep -q '^# TYPE c360_store_documents gauge$' "$dir/metrics" || fail "metrics: store gauges"
grep -q '^c360_function_backlog{function="customer360"} ' "$dir/metrics" || fail "metrics: function backlog"
grep -q '^c360_function_handler_seconds{function="customer360",quantile="0.99"} ' "$dir/metrics" || fail "metrics: handler latency"
grep -q '"level":"info"' "$dir/run.log" || fail "logs are not JSON lines as configured"
kill -TERM $pid
wait $pid
code=$?
pid=
[ $code -eq 0 ] || fail "SIGTERM: exit $code, expected 0"
grep -q 'stopping' "$dir/run.log" || fail "no shutdown message"

finish
