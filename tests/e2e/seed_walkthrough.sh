#!/usr/bin/env bash
# The README's walk through the tutorial's three paths, as a test: the
# tutorial's artifacts unchanged (the sink connector JSON, the cbimport line,
# the Eventing function with its `cust` alias and online-store curl), real
# Kafka protocol (c360 kafka-mock, fed by kcat), the mock online store, and
# the end state: the tutorial's exact customer document and two orders.
set -uo pipefail
BIN=${C360_BIN:?C360_BIN not set}
SRC=${C360_SRC:?C360_SRC not set}
BUILD=$(dirname "$BIN")
dir=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill $p 2>/dev/null; done; rm -rf "$dir"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
wait_file() { for _ in $(seq 100); do [ -s "$1" ] && return 0; sleep 0.1; done; return 1; }
export C360_STORE=$dir/c360.db
c360() { "$BIN" "$@"; }

# the tutorial's three buckets
for b in staging customer360 customer360_metadata; do
  c360 bucket create $b >/dev/null || fail "bucket create $b"
done

# 1. home delivery: Debezium events on Kafka, the tutorial's sink connector JSON
"$BIN" kafka-mock --topic dbserver1.inventory.customers:4 --bootstrap-file "$dir/bs" >/dev/null 2>&1 &
pids+=($!)
wait_file "$dir/bs" || fail "kafka-mock did not start"
bs=$(cat "$dir/bs")
kcat -P -b "$bs" -t dbserver1.inventory.customers -k '{"id":1029}' \
  "$SRC/tests/fixtures/debezium/customer_with_schema.json" || fail "kcat could not produce to c360 kafka-mock"
c360 kafka-sink --config "$SRC/examples/home-delivery-sink.json" --brokers "$bs" --exit-at-end \
  >"$dir/sink.out" 2>&1 || fail "kafka-sink: $(tail -3 "$dir/sink.out")"
c360 doc get staging 1029 | grep -q '"name":"dbserver1"' || fail "the Debezium envelope is not in staging under its row id 1029"

# 2. loyalty: the tutorial's cbimport line, through the cbimport link
printf 'id,password,firstName,lastName,email,points\n27,xrinn5xp.swd,Matthew,Groves,matthew.groves@couchbase.com,47\n' \
  >"$dir/loyalty_members.csv"
"$BUILD/cbimport" csv -c couchbase://127.0.0.1 -u Administrator -p password \
  -b staging -d "file://$dir/loyalty_members.csv" -g key::#MONO_INCR# -t 4 >"$dir/cb.out" 2>&1
grep -q 'Documents imported: 1 Documents failed: 0' "$dir/cb.out" || fail "cbimport: $(cat "$dir/cb.out")"

# 3. the online store (the tutorial's Matthew Groves: Id 1, orders 1 and 2)
"$BUILD/c360-mock-store" --seed-example --customers 0 --port-file "$dir/port" -q >/dev/null 2>&1 &
pids+=($!)
wait_file "$dir/port" || fail "the mock online store did not start"

# 4. the Eventing function, deployed from Couchbase's export format, run until caught up
c360 function deploy "$SRC/functions/customer360.json" \
  -b "url:onlineStore=http://127.0.0.1:$(cat "$dir/port")" >/dev/null || fail "function deploy"
c360 function run ingestionCustomer360 --exit-when-idle >"$dir/fn.out" 2>&1 || fail "function run: $(tail -3 "$dir/fn.out")"

# 5. the end state is the tutorial's, exactly
for key in matthew.groves@couchbase.com order::1 order::2; do
  c360 doc get customer360 "$key" >"$dir/got.json" 2>&1 || { fail "no document '$key'"; continue; }
  python3 - "$dir/got.json" "$SRC/functions/tests/matthew_groves/expected/$key.json" <<'PY' || fail "'$key' differs from the tutorial's"
import json, sys
got, want = (json.load(open(p)) for p in sys.argv[1:3])
if got != want:
    print("got ", json.dumps(got, sort_keys=True)); print("want", json.dumps(want, sort_keys=True)); sys.exit(1)
PY
done
c360 query "SELECT key FROM customer360 ORDER BY key" | grep -q '"matthew.groves@couchbase.com"' || fail "query"

[ $fails -eq 0 ] && echo "seed_walkthrough: all checks passed"
exit $fails
