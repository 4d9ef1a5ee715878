#!/usr/bin/env bash
# Slow (opt-in): `c360 run PIPELINE.yaml` stopped at random moments while
# rows arrive, RESTARTS times with SIGTERM and RESTARTS times with kill -9, on
# one store with a JavaScript and a native function. Every start must resume
# (none refused), every row must reach customer360 once, the persisted
# processed counters must equal the rows; after SIGTERM no handler call is
# repeated, after kill -9 the calls repeated (handled after the last
# checkpoint, at least once) are counted and printed.
#   C360_RESTARTS=20 (default)
. "$(dirname "$0")/lib.bash"
N=${C360_RESTARTS:-20}
export C360_ONLINE_STORE_URL=http://127.0.0.1:1

# loop SIGNAL: N starts on a fresh store, each stopped by SIGNAL
loop() {
  local sig=$1 d="$dir/$1" row=1 refused=0
  mkdir -p "$d/drop"
  cp "$SRC/functions/customer360.yaml" "$d/"
  cat >"$d/counter.json" <<'JSON'
{"appname": "counter",
 "appcode": "function OnUpdate(doc, meta) { var c = counts['n']; counts['n'] = {n: (c ? c.n : 0) + 1}; }",
 "depcfg": {"source_bucket": "staging", "metadata_bucket": "counter_metadata",
            "buckets": [{"alias": "counts", "bucket_name": "counts", "access": "rw"}]},
 "settings": {"worker_count": 1, "checkpoint_interval": 1}}
JSON
  cat >"$d/p.yaml" <<YAML
store: {path: c360.db}
buckets: {staging: {}, customer360: {}, customer360_metadata: {}}
sources:
  - name: loyalty
    csv: {dir: drop, key: 'loyalty-member-%id%'}
    schedule: every 1s
functions:
  - file: counter.json
  - native: customer360.yaml
    settings: {checkpoint_interval: 1}
YAML
  for k in $(seq "$N"); do
    { echo 'id,password,firstName,lastName,email,points'
      for i in $(seq $row $((row + 199))); do echo "$i,pw$i,F$i,L$i,u$i@example.com,$i"; done
    } >"$d/drop/b$k.tmp" && mv "$d/drop/b$k.tmp" "$d/drop/b$k.csv"
    row=$((row + 200))
    "$BIN" run "$d/p.yaml" >>"$d/run.log" 2>&1 &
    pid=$!
    sleep "0.$((RANDOM % 9 + 1))"
    sleep $((RANDOM % 2))
    if ! kill -0 $pid 2>/dev/null; then
      wait $pid
      refused=$((refused + 1))
      pid=
      continue
    fi
    kill -"$sig" $pid
    wait $pid
    local code=$?
    pid=
    [ "$sig" = KILL ] || [ $code -eq 0 ] || fail "$sig: exit $code"
  done
  "$BIN" run --once "$d/p.yaml" >"$d/once.out" 2>"$d/once.err" || fail "$sig: the last start exited $?"
  local rows=$((row - 1)) db="$d/c360.db"
  local calls cust
  calls=$("$BIN" --store "$db" doc get counts n | grep -o '"n":[0-9]*' | cut -d: -f2)
  cust=$("$BIN" --store "$db" query "SELECT count(*) FROM customer360" | grep -o '\[\[[0-9]*' | tr -d '[')
  [ $refused -eq 0 ] || fail "$sig: $refused starts ended before the signal: $(grep -m3 'c360 run:' "$d/run.log")"
  [ "$cust" = $rows ] || fail "$sig: $cust customers for $rows rows"
  grep -Eq "function counter +$rows processed" "$d/once.out" || fail "$sig: $(cat "$d/once.out")"
  grep -Eq "function customer360 +$rows processed" "$d/once.out" || fail "$sig: $(cat "$d/once.out")"
  [ "$sig" = KILL ] || [ "$calls" = $rows ] || fail "$sig: $calls handler calls for $rows rows"
  echo "$sig x$N: $rows rows, $cust customers, 0 refused starts, processed $rows/$rows;" \
    "JS handler calls $calls ($((calls - rows)) repeated after the last checkpoint)"
}
loop TERM
loop KILL
finish
