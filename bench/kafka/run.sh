#!/usr/bin/env bash
# bench/kafka: 100k Debezium envelopes with schema (~3.4 KB each) in a
# 4-partition lz4 topic on the mock cluster (c360 kafka-mock). Measures in
# one run: kcat -C -e to /dev/null, a bare C loop upserting the same records
# into SQLite (WAL, synchronous=FULL, 1000 per transaction), and c360's sink
# into a durable staging bucket (--exit-at-end). Prints msgs/s and ratios.
#   bench/kafka/run.sh BUILD_DIR [RECORDS] [TASKS]
set -euo pipefail
BUILD=${1:?usage: run.sh BUILD_DIR [RECORDS] [TASKS]}
N=${2:-100000}
TASKS=${3:-2}
BIN=$BUILD/c360
BARE=$BUILD/bench/kafka/bench_kafka_bare
[ -x "$BARE" ] || cmake --build "$BUILD" --target bench_kafka_bare >/dev/null
tmp=$(mktemp -d)
mock=
cleanup() { [ -n "$mock" ] && kill "$mock" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
now() { date +%s.%N; }

"$BIN" kafka-mock --topic bench:4 --bootstrap-file "$tmp/bs" >/dev/null 2>&1 &
mock=$!
for _ in $(seq 50); do [ -s "$tmp/bs" ] && break; sleep 0.1; done
BS=$(cat "$tmp/bs")
"$BIN" kafka-produce -b "$BS" -t bench --customers "$N" --schema --compression lz4 >/dev/null 2>"$tmp/prod"
got=$(kcat -C -b "$BS" -t bench -o beginning -e -q -f '%p\n' 2>/dev/null | wc -l)
bytes=$(sed -n 's/.*(\([0-9]*\) value bytes).*/\1/p' "$tmp/prod")
echo "records: $got of $N arrived in the mock cluster (4 partitions, lz4), $((bytes / N)) bytes each on average"
[ "$got" = "$N" ] || echo "warning: the mock cluster dropped records; figures use what arrived"

# kcat: tuned consumer to /dev/null
t0=$(now)
kcat -C -b "$BS" -t bench -o beginning -e -q -X fetch.wait.max.ms=10 -X fetch.message.max.bytes=8388608 \
  -X queued.min.messages=200000 > /dev/null 2>&1
t1=$(now)
kcat_rate=$(echo "$got / ($t1 - $t0)" | bc -l)

# bare SQLite loop (the time from its first record to its last commit)
read -r bn bs < <("$BARE" "$BS" bench 4 "$tmp/bare.db")
bare_rate=$(echo "$bn / $bs" | bc -l)

# c360's sink, durable (synchronous=FULL), from the first record to the last
# write (the consumer-group join of the mock cluster, ~3 s, is not counted;
# the wall time including it is shown too)
cat > "$tmp/sink.json" <<JSON
{"name":"bench","config":{"connector.class":"com.couchbase.connect.kafka.CouchbaseSinkConnector",
 "topics":"bench","connection.bucket":"staging","value.converter.schemas.enable":"false",
 "tasks.max":"$TASKS","bootstrap.servers":"$BS","group.id":"bench-$$"}}
JSON
"$BIN" --store "$tmp/c360.db" kafka-sink --config "$tmp/sink.json" --exit-at-end 2> "$tmp/sink.err" >/dev/null
line=$(grep "records in" "$tmp/sink.err")
sn=$(echo "$line" | sed -n "s/.*'bench': \([0-9]*\) records in.*/\1/p")
wall=$(echo "$line" | sed -n 's/.* in \([0-9.]*\) s (.*/\1/p')
sink_rate=$(echo "$line" | sed -n 's/.*; \([0-9]*\) records\/s from the first record.*/\1/p')
docs=$("$BIN" --store "$tmp/c360.db" query "select count(*) from staging" | sed -n 's/.*"rows":\[\[\([0-9]*\)\]\].*/\1/p')

printf "%-44s %10.0f msgs/s\n" "kcat -C -e (tuned) to /dev/null" "$kcat_rate"
printf "%-44s %10.0f msgs/s  (%s records in %.2f s)\n" "bare C loop -> SQLite (WAL, FULL, 1000/txn)" "$bare_rate" "$bn" "$bs"
printf "%-44s %10.0f msgs/s  (%s records, %s documents; %s s wall incl. group join)\n" \
  "c360 kafka-sink (tasks.max=$TASKS, FULL)" "$sink_rate" "$sn" "$docs" "$wall"
printf "ratio sink / bare loop: %.2fx   sink / kcat: %.2fx\n" "$(echo "$sink_rate / $bare_rate" | bc -l)" \
  "$(echo "$sink_rate / $kcat_rate" | bc -l)"
