#!/usr/bin/env bash
# End to end: `c360 run PIPELINE.yaml` restarted on one store with a
# JavaScript and a native function: after a clean --once, after SIGTERM and
# after kill -9 the next start resumes each function from its checkpoint
# (nothing processed twice: a JS side effect counts handler calls, the native
# function's persisted processed counter is compared with the feed), and a
# changed definition is redeployed from its boundary, with a log line saying
# so.
. "$(dirname "$0")/lib.bash"
export C360_ONLINE_STORE_URL=http://127.0.0.1:1 # no online store: fetches fail fast
db="$dir/c360.db"

mkdir -p "$dir/drop"
cp "$SRC/functions/customer360.yaml" "$dir/"
# rows N..M of the loyalty CSV, one file per batch
batch() {
  { echo 'id,password,firstName,lastName,email,points'
    for i in $(seq "$2" "$3"); do echo "$i,pw$i,First$i,Last$i,user$i@example.com,$i"; done
  } >"$dir/drop/$1.csv.tmp" && mv "$dir/drop/$1.csv.tmp" "$dir/drop/$1.csv"
}
# the JS function counts its handler calls in counts/n (one worker: no races)
cat >"$dir/counter.json" <<'JSON'
{"appname": "counter",
 "appcode": "function OnUpdate(doc, meta) { var c = counts['n']; counts['n'] = {n: (c ? c.n : 0) + 1}; }",
 "depcfg": {"source_bucket": "staging", "metadata_bucket": "counter_metadata",
            "buckets": [{"alias": "counts", "bucket_name": "counts", "access": "rw"}]},
 "settings": {"dcp_stream_boundary": "everything", "worker_count": 1, "checkpoint_interval": 60}}
JSON
cat >"$dir/p.yaml" <<YAML
store: {path: c360.db}
buckets: {staging: {}, customer360: {}, customer360_metadata: {}}
sources:
  - name: loyalty
    csv: {dir: drop, key: 'loyalty-member-%id%'}
    schedule: every 1s
functions:
  - file: counter.json
    settings: {checkpoint_interval: 1}
  - native: customer360.yaml
    settings: {checkpoint_interval: 1}
YAML

count() { "$BIN" --store "$db" doc get counts n 2>/dev/null | grep -o '"n":[0-9]*' | cut -d: -f2; }
high() { "$BIN" --store "$db" feed high staging 2>/dev/null || echo -1; }
# status FUNCTION FIELD: a number from `c360 function status --json`
status() {
  "$BIN" --store "$db" function status --json "$1" 2>/dev/null | tr -d ' \n' |
    grep -o "\"$2\":[0-9]*" | head -1 | cut -d: -f2
}
# both functions have processed and checkpointed rows 1..N (one change each)
caught_up() {
  local n=$1
  [ "$(count)" = "$n" ] || return 1
  [ "$(status counter checkpoint)" = "$n" ] && [ "$(status customer360 checkpoint)" = "$n" ]
}
# after N rows in all: nothing was handled twice
check() {
  local n=$1 what=$2
  [ "$(count)" = "$n" ] || fail "$what: the JS handler ran $(count) times for $n changes"
  local p
  p=$(status customer360 num_processed_events)
  [ "$p" = "$n" ] || fail "$what: the native function processed $p changes for $n"
  p=$(status counter num_processed_events)
  [ "$p" = "$n" ] || fail "$what: the JS function processed $p changes for $n"
}
start() {
  "$BIN" run "$dir/p.yaml" >>"$dir/run.log" 2>&1 &
  pid=$!
}
wait_caught_up() {
  for _ in $(seq 300); do
    caught_up "$1" && return 0
    kill -0 $pid 2>/dev/null || break
    sleep 0.2
  done
  fail "$2: not caught up with $1 changes: count $(count), checkpoints" \
    "$(status counter checkpoint)/$(status customer360 checkpoint): $(tail -5 "$dir/run.log")"
  return 1
}

# 1. --once, twice: the second start resumes and finds nothing to do
batch b1 1 20
"$BIN" run --once "$dir/p.yaml" >"$dir/once1.out" 2>"$dir/once1.err" || fail "first run --once exited $?: $(cat "$dir/once1.err")"
check 20 "first --once"
"$BIN" run --once "$dir/p.yaml" >"$dir/once2.out" 2>"$dir/once2.err" || fail "run --once after --once exited $?: $(cat "$dir/once2.err")"
grep -q "function 'counter' (js) is unchanged: resuming on 'staging' after its checkpoint (seqno 20)" "$dir/once2.err" ||
  fail "no resume line: $(cat "$dir/once2.err")"
grep -q "function 'customer360' (native) is unchanged: resuming" "$dir/once2.err" || fail "no native resume line"
check 20 "--once after --once"

# 2. the daemon, new rows, SIGTERM
batch b2 21 40
start
wait_caught_up 40 "daemon after --once"
kill -TERM $pid
wait $pid
code=$?
pid=
[ $code -eq 0 ] || fail "SIGTERM: exit $code: $(tail -5 "$dir/run.log")"
check 40 "after SIGTERM"

# 3. restarted after SIGTERM, new rows, kill -9 once they are checkpointed
batch b3 41 60
start
wait_caught_up 60 "daemon after SIGTERM"
kill -9 $pid
wait $pid 2>/dev/null
pid=
check 60 "after kill -9"

# 4. restarted after kill -9: resumes, processes only the new rows
batch b4 61 70
"$BIN" run --once "$dir/p.yaml" >"$dir/once3.out" 2>"$dir/once3.err" || fail "run --once after kill -9 exited $?: $(cat "$dir/once3.err")"
grep -q 'is deployed already' "$dir/once3.err" && fail "restart refused: $(cat "$dir/once3.err")"
check 70 "--once after kill -9"
grep -Eq 'function counter +70 processed' "$dir/once3.out" || fail "--once summary: $(cat "$dir/once3.out")"

# 5. a changed definition is redeployed from its boundary, saying so; the
#    old checkpoint is dropped only then
sed -i 's/"worker_count": 1, "checkpoint_interval": 60/"worker_count": 1, "checkpoint_interval": 60, "dcp_stream_boundary": "from_now"/' "$dir/counter.json"
sed -i 's/{"dcp_stream_boundary": "everything", /{/' "$dir/counter.json"
"$BIN" run --once "$dir/p.yaml" >"$dir/once4.out" 2>"$dir/once4.err" || fail "run --once with a changed function exited $?: $(cat "$dir/once4.err")"
grep -q "function 'counter' (js): its bindings or settings changed since it was deployed: redeployed on 'staging' from its boundary 'from_now' (after seqno 70); the old checkpoint (seqno 70) is dropped" "$dir/once4.err" ||
  fail "no redeploy line: $(cat "$dir/once4.err")"
grep -q "function 'customer360' (native) is unchanged" "$dir/once4.err" || fail "the unchanged native function was not resumed"
[ "$(count)" = 70 ] || fail "from_now redeploy reprocessed: count $(count)"
# the native mapping changed: redeployed from 'everything', processed again
printf '\n# changed\n' >>"$dir/customer360.yaml"
"$BIN" run --once "$dir/p.yaml" >"$dir/once5.out" 2>"$dir/once5.err" || fail "run --once with a changed mapping exited $?: $(cat "$dir/once5.err")"
grep -q "function 'customer360' (native): its code changed since it was deployed: redeployed on 'staging' from its boundary 'everything' (after seqno 0); the old checkpoint (seqno 70)" "$dir/once5.err" ||
  fail "no native redeploy line: $(cat "$dir/once5.err")"
[ "$(status customer360 num_processed_events)" = 70 ] || fail "redeployed native function: $(status customer360 num_processed_events) processed"
grep -q "function 'counter' (js) is unchanged" "$dir/once5.err" || fail "the unchanged JS function was not resumed"

# 6. a setting the pipeline does not know is refused with its position
sed -i 's/settings: {checkpoint_interval: 1}$/settings: {checkpoint_intervall: 1}/' "$dir/p.yaml"
"$BIN" run --once "$dir/p.yaml" >/dev/null 2>"$dir/bad.err"
[ $? -eq 2 ] || fail "an unknown function setting did not exit 2"
grep -q "p.yaml:9:16: unknown key 'checkpoint_intervall' in a function's settings" "$dir/bad.err" ||
  fail "unknown setting: $(cat "$dir/bad.err")"

finish
