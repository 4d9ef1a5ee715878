#!/usr/bin/env bash
# End to end: c360 poll against online stores whose ids are numbers, strings
# ("1") and UUIDs (c360-mock-store --id-style): the customer's online_store
# xref keeps the Id's JSON type, orders and products are fetched with the id
# URL-encoded and written as order::<id> and product::<id>.
set -uo pipefail
BIN=${C360_BIN:?C360_BIN not set}
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
start_mock() { # NAME ARGS... → sets port
  local name=$1; shift
  "$MOCK" "$@" --port-file "$dir/$name.port" -q >"$dir/$name.out" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do [ -s "$dir/$name.port" ] && break; sleep 0.05; done
  port=$(cat "$dir/$name.port" 2>/dev/null)
  [ -n "$port" ] || fail "mock store '$name' did not start: $(cat "$dir/$name.out")"
}
json() { # EXPR TEXT: prints the Python expression's value over the JSON document d
  python3 -c 'import json,sys; d=json.loads(sys.argv[2]); print(json.dumps(eval(sys.argv[1])))' "$1" "$2"
}

expect 2 "$MOCK" --id-style words
contains "$err" "--id-style 'words' is not one of number, string, uuid" "bad id style"
echo '{"Id":1,"Email":"a@b"}' > "$dir/one.jsonl"
expect 5 "$MOCK" --id-style string --data "$dir/one.jsonl"
contains "$err" "applies to generated data only" "id style with --data"

for style in number string uuid; do
  export C360_STORE="$dir/$style.db"
  start_mock "$style" --id-style "$style" --seed-example --customers 0 --products 50
  base="http://127.0.0.1:$port"
  expect 0 "$BIN" bucket create customer360
  expect 0 "$BIN" doc upsert customer360 matthew.groves@couchbase.com '{"type":"user"}'
  expect 0 "$BIN" poll --base-url "$base"
  contains "$out" "1 customers: 1 polled" "$style: poll summary"
  contains "$out" "2 orders, 6 products written" "$style: documents"
  contains "$out" "errors: 0" "$style: no errors"
  details=$(curl -s "$base/api/onlineStore/getCustomerDetailsByEmail?customerEmail=matthew.groves%40couchbase.com")
  id=$(json 'd["Id"]' "$details")
  case $style in
    number) [ "$id" = "1" ] || fail "number: Id is $id" ;;
    string) [ "$id" = '"1"' ] || fail "string: Id is $id" ;;
    uuid) [[ $id =~ ^\"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-000000000001\"$ ]] ||
            fail "uuid: Id is $id" ;;
  esac
  expect 0 "$BIN" doc get customer360 matthew.groves@couchbase.com
  got=$(json '[x["external_ID"] for x in d["xrefs"] if x["external_system"]=="online_store"][0]' "$out")
  [ "$got" = "$id" ] || fail "$style: external_ID is $got, the store's Id is $id"
  expect 0 "$BIN" doc get c360_meta poll::matthew.groves@couchbase.com
  got=$(json 'd["external_ID"]' "$out")
  [ "$got" = "$id" ] || fail "$style: poll state external_ID is $got, not $id"
  orders=$(curl -s "$base/api/onlineStore/getOrdersByCustomerId?customerId=$(json 'd["Id"]' "$details" | tr -d '"')")
  for i in 0 1; do
    oid=$(json "d[$i][\"OrderId\"]" "$orders" | tr -d '"')
    expect 0 "$BIN" doc get customer360 "order::$oid"
    [ "$(json 'd["CustomerId"]' "$out")" = "$id" ] || fail "$style: order::$oid has CustomerId $(json 'd["CustomerId"]' "$out")"
    pid=$(json "d[$i][\"Items\"][0][\"ProductId\"]" "$orders" | tr -d '"')
    expect 0 "$BIN" doc get customer360 "product::$pid"
    contains "$out" '"ProductId":' "$style: product::$pid"
  done
  pkill_pid=${pids[-1]}
  kill "$pkill_pid" 2>/dev/null
done

[ $fails -eq 0 ] && echo "rest_poll_ids: ok"
exit $fails
