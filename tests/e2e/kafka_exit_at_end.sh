#!/usr/bin/env bash
# c360 kafka-sink --exit-at-end through the binary against `c360 kafka-mock`:
# a clean stop commits before the partitions are given up (the log says so,
# no librdkafka COMMITFAIL), a restart of the same group re-reads 0 records,
# and runs with tasks.max 2 end (bounded by timeout, never hang).
set -uo pipefail
BIN=${C360_BIN:?}
tmp=$(mktemp -d)
mock_pid=
cleanup() {
  [ -n "$mock_pid" ] && kill "$mock_pid" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok   $*"; }

"$BIN" kafka-mock --topic t:4 --bootstrap-file "$tmp/bs" > "$tmp/mock.out" 2>&1 &
mock_pid=$!
for _ in $(seq 50); do [ -s "$tmp/bs" ] && break; sleep 0.1; done
BS=$(cat "$tmp/bs")
[ -n "$BS" ] || { echo "FAIL: no mock"; exit 1; }
n=$("$BIN" kafka-produce -b "$BS" -t t --customers 2000 2> "$tmp/prod.err")
[ "$n" = 2000 ] && ok "kafka-produce: 2000 records" || fail "kafka-produce printed '$n': $(cat "$tmp/prod.err")"

# one run: RUN TASKS -> sets rc and in (records read) from the summary line
sink() {
  printf '{"name":"s","config":{"topics":"t","tasks.max":"%s","connection.bucket":"b","group.id":"g-%s",%s}}' \
    "$2" "$1" '"session.timeout.ms":"6000","value.converter.schemas.enable":"false"' > "$tmp/$1.json"
  C360_STORE="$tmp/$1.db" timeout 60 "$BIN" kafka-sink --config "$tmp/$1.json" --brokers "$BS" --exit-at-end \
    > /dev/null 2> "$tmp/$1.err"
  rc=$?
  in=$(sed -n "s/.*'s': \([0-9]*\) records in.*/\1/p" "$tmp/$1.err")
}

# each case: a first run reads everything, a restart of the same group
# (same store) reads nothing again
for c in one:1 two-a:2 two-b:2; do
  name=${c%:*} tasks=${c#*:}
  sink "$name" "$tasks"
  [ $rc -eq 0 ] && [ "${in:-x}" = 2000 ] && ok "$name (tasks.max $tasks): --exit-at-end ends, 2000 read" \
    || fail "$name: rc=$rc read ${in:-?} $(tail -2 "$tmp/$name.err")"
  ! grep -qi commitfail "$tmp/$name.err" && ok "$name: no COMMITFAIL" || fail "$name: $(grep -i commitfail "$tmp/$name.err")"
  nrev=$(grep -c "revoked [0-9]* partition(s) after committing the offsets" "$tmp/$name.err")
  [ "$nrev" = "$tasks" ] && ok "$name: every task logs its commit on revoke" || fail "$name: $nrev commit-on-revoke lines: $(grep revoked "$tmp/$name.err")"
  cp "$tmp/$name.err" "$tmp/$name.first.err"
  sink "$name" "$tasks"
  [ $rc -eq 0 ] && [ "${in:-x}" = 0 ] && ok "$name: restart re-reads 0 records" \
    || fail "$name: restart rc=$rc re-read ${in:-?} $(tail -2 "$tmp/$name.err")"
done

[ $fails -eq 0 ] && echo "all passed" || echo "$fails failed"
exit $fails
