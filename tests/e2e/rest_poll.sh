#!/usr/bin/env bash
# End to end: c360-mock-store and c360 poll on loopback (free ports): the
# seed's documents, the refresh policy, a malformed answer (logged with URL,
# status, reason; documents unchanged), retries, usage errors, --dump/--data.
set -uo pipefail
BIN=${C360_BIN:?C360_BIN not set}
SRC=${C360_SRC:?C360_SRC not set}
BUILD=${C360_BUILD:?C360_BUILD not set}
MOCK="$BUILD/c360-mock-store"
dir=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
export C360_STORE="$dir/c360.db"
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
expect() { # CODE CMD...
  local want=$1; shift
  "$@" >"$dir/out" 2>"$dir/err"
  local got=$?
  out=$(cat "$dir/out"); err=$(cat "$dir/err")
  [ "$got" = "$want" ] || fail "'$*' exited $got, expected $want; stdout: $out; stderr: $err"
}
contains() { case "$1" in *"$2"*) ;; *) fail "$3: '$2' not in: $1" ;; esac; }
same_json() { # FILE_OR_TEXT_A TEXT_B WHAT
  python3 - "$1" "$2" <<'EOF' || fail "$3: documents differ: $1 vs $2"
import json, sys
a, b = sys.argv[1], sys.argv[2]
a = json.load(open(a)) if a.startswith("/") else json.loads(a)
sys.exit(0 if a == json.loads(b) else 1)
EOF
}
start_mock() { # NAME ARGS... → sets port
  local name=$1; shift
  "$MOCK" "$@" --port-file "$dir/$name.port" -q >"$dir/$name.out" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do [ -s "$dir/$name.port" ] && break; sleep 0.05; done
  port=$(cat "$dir/$name.port" 2>/dev/null)
  [ -n "$port" ] || fail "mock store '$name' did not start: $(cat "$dir/$name.out")"
}

# help and usage errors
expect 0 "$BIN" poll --help
contains "$out" "usage: c360 poll" "poll --help"
expect 0 "$MOCK" --help
contains "$out" "usage: c360-mock-store" "mock --help"
expect 2 "$BIN" poll
contains "$err" "--base-url is required" "missing base url"
expect 2 "$BIN" poll --base-url http://127.0.0.1:1 --rate fast
expect 2 "$BIN" poll --base-url http://127.0.0.1:1 --concurrency 0
expect 2 "$MOCK" --error-500 2
expect 2 "$BIN" poll --base-url http://127.0.0.1:1 extra

# the seed's staging documents: home delivery (Debezium) and loyalty
expect 0 "$BIN" bucket create staging
expect 0 "$BIN" doc upsert staging matthew.groves@couchbase.com \
  "$(cat "$SRC/tests/fixtures/debezium/customer_with_schema.json")"
expect 0 "$BIN" doc upsert staging key::1 "$(cat "$SRC/functions/tests/matthew_groves/loyalty_member.json")"
expect 3 "$BIN" poll --base-url http://127.0.0.1:1 --emails-from no_such_bucket
contains "$err" "no_such_bucket" "missing bucket named"
expect 5 "$BIN" poll --base-url ftp://x --emails-from staging

start_mock seed --seed-example --customers 20
base="http://127.0.0.1:$port"
expect 0 "$BIN" poll --base-url "$base" --emails-from staging
contains "$out" "1 customers: 1 polled" "seed poll summary"
contains "$out" "2 orders, 6 products written" "seed poll documents"
contains "$out" "errors: 0" "seed poll errors"
expect 0 "$BIN" doc get customer360 matthew.groves@couchbase.com
same_json '{"type":"user","profile":{"name":"Matthew Groves"},"xrefs":[{"external_system":"online_store","external_ID":1,"pass":"edzchzmatv5"}]}' "$out" "customer"
expect 0 "$BIN" doc get customer360 order::1
same_json "$SRC/functions/tests/matthew_groves/expected/order::1.json" "$out" "order::1"
expect 0 "$BIN" doc get customer360 order::2
same_json "$SRC/functions/tests/matthew_groves/expected/order::2.json" "$out" "order::2"
expect 0 "$BIN" doc get c360_meta poll::matthew.groves@couchbase.com
contains "$out" '"status":"ok"' "poll state"

# the refresh policy: fresh customers are skipped, --force polls again
expect 0 "$BIN" poll --base-url "$base" --emails-from staging
contains "$out" "1 skipped (fresh)" "second pass skips"
contains "$out" "poll: 0 requests" "second pass sends nothing"
expect 0 "$BIN" poll --base-url "$base" --force
contains "$out" "1 polled" "customer360 mode with --force"
contains "$out" "0 updated" "unchanged xref not rewritten"

# the mock's counters
stats=$(curl -s "$base/stats")
contains "$stats" '"getCustomerDetailsByEmail":2' "stats per endpoint"
contains "$stats" '"per_second":[{' "stats per second"

# malformed answers: logged with URL, status and reason; documents unchanged
before=$("$BIN" doc get customer360 matthew.groves@couchbase.com)
start_mock bad --seed-example --malformed 1
expect 1 "$BIN" poll --base-url "http://127.0.0.1:$port" --force
contains "$out" "malformed 1" "malformed counted"
contains "$err" "malformed answer from 'http://127.0.0.1:$port/api/onlineStore/getCustomerDetailsByEmail?customerEmail=matthew.groves%40couchbase.com' (http 200)" "malformed logged"
after=$("$BIN" doc get customer360 matthew.groves@couchbase.com)
[ "$before" = "$after" ] || fail "a malformed answer changed the customer: $after"

# 503 with Retry-After: retried, then given up within --retries
start_mock busy --seed-example --error-503 1 --retry-after 1
expect 1 "$BIN" poll --base-url "http://127.0.0.1:$port" --force --retries 1
contains "$out" "http 1" "503 counted as http error"
contains "$out" "(1 retries" "503 retried once"
contains "$err" "giving up on" "503 given up"

# --dump writes JSON lines that --data reads back
expect 0 "$MOCK" --seed-example --customers 3 --products 40 --dump
echo "$out" > "$dir/data.jsonl"
contains "$out" '"OrderId":2,"PurchaseDate":"2019-04-13T16:15:5801361975"' "dump has the seed order"
start_mock data --data "$dir/data.jsonl" --customers 0 --products 1
got=$(curl -s "http://127.0.0.1:$port/api/onlineStore/getOrdersByCustomerId?customerId=1")
same_json "$(curl -s "$base/api/onlineStore/getOrdersByCustomerId?customerId=1")" "$got" "orders from --data"
printf '{"Id":1,"Email":"a@b"}\n{"nope":1}\n' > "$dir/bad.jsonl"
expect 5 "$MOCK" --data "$dir/bad.jsonl" --dump
contains "$err" "bad.jsonl:2:" "bad data line named"

[ $fails -eq 0 ] && echo "rest_poll: ok"
exit $fails
