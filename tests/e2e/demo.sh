#!/usr/bin/env bash
# End to end: `c360 demo --customers 2000 --exit` runs the whole pipeline
# (mock Kafka with Debezium events, the loyalty CSV drop, the mock online
# store, the native Customer 360 function) and checks customer360 against
# the generator's truth: one document per person with exactly the right
# xrefs (deleted home-delivery rows gone), every order present. The check
# itself is tested to catch each kind of mistake (tests/unit/test_demo_data.c).
set -uo pipefail
BIN=${C360_BIN:?C360_BIN not set}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

"$BIN" demo --help >"$dir/help" || fail "demo --help exited $?"
grep -q -- '--customers' "$dir/help" || fail "demo --help does not describe --customers"

"$BIN" demo --customers 2000 --exit --dir "$dir/work" >"$dir/out" 2>"$dir/err"
code=$?
cat "$dir/out"
[ $code -eq 0 ] || { fail "demo exited $code"; tail -20 "$dir/err"; }
grep -q 'check            ok: 2000 people, 2000 customer documents' "$dir/out" ||
  fail "the summary does not report a clean check against the truth"
grep -Eq '^  customers +2000 ' "$dir/out" || fail "summary: not 2000 customers"
grep -q 'example customer 360 document' "$dir/out" || fail "no example document"
for stage in generate kafka kafka-sink csv-import integrate check; do
  grep -Eq "^  $stage +[0-9.]+ s" "$dir/out" || fail "no timing line for stage '$stage'"
done

# the outside systems run in processes of their own, reported, and gone at the end
grep -Eq 'peak memory +[0-9.]+ MB  \(c360; the outside systems in their own processes: mock Kafka [0-9.]+ MB, mock online store [0-9.]+ MB\)' "$dir/out" ||
  fail "the summary does not report c360's memory and the outside systems' apart"
pid=$(sed -n 's/.*(process \([0-9]*\)).*/\1/p' "$dir/out" | head -1)
[ -n "$pid" ] || fail "the generate line does not name the online store's process"
[ -n "$pid" ] && [ -d "/proc/$pid" ] && [ "$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null)" != Z ] && fail "the mock online store (process $pid) outlived the demo"

# kill -9 of the demo takes its outside systems with it
"$BIN" demo --customers 500 --dir "$dir/killed" --port 0 >"$dir/kout" 2>&1 &
dpid=$!
for _ in $(seq 1 300); do grep -q 'dashboard and API' "$dir/kout" && break; sleep 0.1; done
grep -q 'dashboard and API' "$dir/kout" || fail "the demo did not reach serving"
kids=$(pgrep -P "$dpid" | tr '\n' ' ')
[ -n "$kids" ] || fail "the serving demo has no outside-system processes"
kill -9 "$dpid"; wait "$dpid" 2>/dev/null
sleep 0.5
alive() { # running, not a zombie left for an init that does not reap
  local st; st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "$st" != Z ]
}
for k in $kids; do alive "$k" && { fail "process $k outlived kill -9 of the demo"; kill -9 "$k"; }; done

# Ctrl-C during the ingestion (the Kafka sink waits about 3 s for its
# consumer group to form): the demo stops there, says so, checks nothing
# (no "differs from the truth"), exits 130 and takes its outside systems
"$BIN" demo --customers 2000 --exit --dir "$dir/int" >"$dir/iout" 2>"$dir/ierr" &
dpid=$!
for _ in $(seq 1 300); do grep -Eq '^  kafka +[0-9.]+ s' "$dir/iout" && break; sleep 0.1; done
grep -Eq '^  kafka +[0-9.]+ s' "$dir/iout" || fail "the demo did not reach the ingestion"
kids=$(pgrep -P "$dpid" | tr '\n' ' ')
kill -INT "$dpid"
wait "$dpid"
code=$?
[ $code -eq 130 ] || fail "demo stopped by Ctrl-C during the ingestion exited $code, expected 130"
grep -q "interrupted during '.*', before the pipeline finished: nothing was checked" "$dir/ierr" ||
  { fail "no message that the demo was interrupted"; cat "$dir/ierr"; }
grep -q 'differs from the truth\|FAILED' "$dir/iout" "$dir/ierr" &&
  fail "an interrupted demo reports a failed check"
sleep 0.5
for k in $kids; do alive "$k" && { fail "process $k outlived the interrupted demo"; kill -9 "$k"; }; done

# what the demo leaves behind is a pipeline a user can check and inspect
[ -f "$dir/work/pipeline.yaml" ] || fail "no pipeline.yaml in the work folder"
"$BIN" run --check "$dir/work/pipeline.yaml" >/dev/null 2>&1 || fail "run --check on the demo's pipeline.yaml failed"
n=$("$BIN" --store "$dir/work/c360.db" query "SELECT count(*) FROM customer360 WHERE key NOT LIKE 'order::%'" 2>/dev/null)
case "$n" in *'[[2000]]'*) ;; *) fail "customer360 holds '$n' customers, expected 2000" ;; esac

# a bad option is a usage error
"$BIN" demo --customers 0 --exit >/dev/null 2>&1
[ $? -eq 2 ] || fail "demo --customers 0 should exit 2"

[ $fails -eq 0 ] && echo "demo: all checks passed"
exit $fails
