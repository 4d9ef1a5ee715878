#!/usr/bin/env bash
# c360 kafka-sink through the binary against `c360 kafka-mock` (librdkafka's
# mock cluster over loopback TCP): the seed's connector JSON, bad config
# values naming the key, unknown-key warnings, kill -9 mid-consume then
# restart (every produced record ends in staging or in the dead-letter
# topic), SIGTERM drains, kcat reading what kafka-produce wrote, the
# connector's .properties form with a per-topic id and transforms.
set -uo pipefail
BIN=${C360_BIN:?}
tmp=$(mktemp -d)
mock_pid=
sink_pid=
cleanup() {
  [ -n "$sink_pid" ] && kill -9 "$sink_pid" 2>/dev/null
  [ -n "$mock_pid" ] && kill "$mock_pid" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
export C360_STORE="$tmp/c360.db"
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok   $*"; }
count() { "$BIN" query "select count(*) from $1" 2>/dev/null | sed -n 's/.*"rows":\[\[\([0-9]*\)\]\].*/\1/p'; }

TOPIC=dbserver1.inventory.customers
"$BIN" kafka-mock --topic $TOPIC:4 --topic dlq:1 --bootstrap-file "$tmp/bs" > "$tmp/mock.out" 2>&1 &
mock_pid=$!
for _ in $(seq 50); do [ -s "$tmp/bs" ] && break; sleep 0.1; done
BS=$(cat "$tmp/bs")
[ -n "$BS" ] && ok "kafka-mock prints its bootstrap servers ($BS)" || { echo "FAIL: no mock"; exit 1; }

# the seed's connector JSON, as posted to Kafka Connect (tabs included)
cat > "$tmp/seed.json" <<'EOF'
{
  "name": "home-delivery-sink",
  "config": {
    "connector.class": "com.couchbase.connect.kafka.CouchbaseSinkConnector",
    "tasks.max": "2",
	"topics" : "dbserver1.inventory.customers",
	"connection.cluster_address" : "db",
	"connection.timeout.ms" : "2000",
	"connection.bucket" : "staging",
	"connection.username" : "Administrator",
	"connection.password" : "password",
	"couchbase.durability.persist_to" : "NONE",
	"couchbase.durability.replicate_to" : "NONE",
	"key.converter" : "org.apache.kafka.connect.storage.StringConverter",
	"value.converter" : "org.apache.kafka.connect.json.JsonConverter",
	"value.converter.schemas.enable" : "false"
  }
}
EOF

# bad values stop the start, naming the key
sed 's/"tasks.max": "2"/"tasks.max": "two"/' "$tmp/seed.json" > "$tmp/bad.json"
"$BIN" kafka-sink --config "$tmp/bad.json" --brokers "$BS" > /dev/null 2> "$tmp/err"
rc=$?
[ $rc -eq 5 ] && grep -q "'tasks.max'" "$tmp/err" && ok "bad tasks.max: exit 5 naming the key" || fail "bad tasks.max: rc=$rc $(cat "$tmp/err")"
sed 's/"value.converter.schemas.enable" : "false"/"value.converter.schemas.enable" : "maybe"/' "$tmp/seed.json" > "$tmp/bad.json"
"$BIN" kafka-sink --config "$tmp/bad.json" --brokers "$BS" > /dev/null 2> "$tmp/err"
rc=$?
[ $rc -eq 5 ] && grep -q "'value.converter.schemas.enable'" "$tmp/err" && ok "bad boolean names the key" || fail "bad boolean: rc=$rc $(cat "$tmp/err")"
"$BIN" kafka-sink --config "$tmp/missing.json" > /dev/null 2>&1
[ $? -ne 0 ] && ok "missing config file fails" || fail "missing config file"
"$BIN" kafka-sink --help | grep -q -- "--exit-at-end" && ok "--help" || fail "--help"

# data: 3000 creates, 300 updates, 100 deletes + tombstones, with schema,
# plus two records that are not JSON (they must reach the DLQ)
n=$("$BIN" kafka-produce -b "$BS" -t $TOPIC --customers 3000 --updates 300 --deletes 100 --schema 2> "$tmp/prod.err")
[ "$n" = 3500 ] && ok "kafka-produce: 3500 records acknowledged" || fail "kafka-produce printed '$n': $(cat "$tmp/prod.err")"
printf 'not json at all\n' | kcat -P -b "$BS" -t $TOPIC -k bad1 2>/dev/null
printf '{"half":\n' | kcat -P -b "$BS" -t $TOPIC -k bad2 2>/dev/null
got=$(kcat -C -b "$BS" -t $TOPIC -o beginning -e -q -f '%o\n' 2>/dev/null | wc -l)
[ "$got" = 3502 ] && ok "kcat reads the topic (3502 records)" || fail "kcat read $got records"

# a sink config with a DLQ (the seed's plus 4.x error keys)
python3 - "$tmp/seed.json" "$tmp/sink.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
d["config"].update({"errors.tolerance": "all", "errors.deadletterqueue.topic.name": "dlq",
                    "session.timeout.ms": "6000", "c360.batch.size": "200", "bogus.key": "1"})
json.dump(d, open(sys.argv[2], "w"))
EOF

# kill -9 mid-consume, then restart to the end
"$BIN" kafka-sink --config "$tmp/sink.json" --brokers "$BS" --sync normal > /dev/null 2> "$tmp/run1.err" &
sink_pid=$!
for _ in $(seq 300); do
  c=$(count staging); [ -n "$c" ] && [ "$c" -ge 300 ] && break; sleep 0.05
done
kill -9 $sink_pid; wait $sink_pid 2>/dev/null; sink_pid=
grep -q "unknown config key 'bogus.key'" "$tmp/run1.err" && ok "unknown key warned" || fail "no warning for bogus.key"
before=$(count staging)
[ -n "$before" ] && [ "$before" -gt 0 ] && [ "$before" -lt 3000 ] && ok "killed mid-consume with $before documents" || ok "killed with ${before:-?} documents"
timeout 120 "$BIN" kafka-sink --config "$tmp/sink.json" --brokers "$BS" --exit-at-end > /dev/null 2> "$tmp/run2.err"
rc=$?
[ $rc -eq 0 ] && ok "restart with --exit-at-end exits 0" || fail "restart rc=$rc: $(tail -3 "$tmp/run2.err")"
c=$(count staging)
[ "$c" = 2900 ] && ok "staging holds 3000 - 100 deleted = 2900 documents" || fail "staging holds $c documents"
gone=$("$BIN" query "select count(*) from staging where key in ('1001','1050','1100')" | sed -n 's/.*"rows":\[\[\([0-9]*\)\]\].*/\1/p')
kept=$("$BIN" query "select count(*) from staging where key in ('1101','4000')" | sed -n 's/.*"rows":\[\[\([0-9]*\)\]\].*/\1/p')
[ "$gone" = 0 ] && [ "$kept" = 2 ] && ok "d events and tombstones deleted by the key struct's id" || fail "deletes: gone=$gone kept=$kept"
upd=$("$BIN" query "select count(*) from staging where json_extract(doc, '\$.payload.op') = 'u'" | sed -n 's/.*"rows":\[\[\([0-9]*\)\]\].*/\1/p')
[ "$upd" = 200 ] && ok "updated rows hold the update envelope (200 live)" || fail "updates: $upd"
dlq=$(kcat -C -b "$BS" -t dlq -o beginning -e -q -f '%k %h\n' 2>/dev/null)
echo "$dlq" | grep -q "^bad1 .*__connect.errors.exception.message=value is not valid JSON" && \
  echo "$dlq" | grep -q "^bad2 .*__connect.errors.topic=$TOPIC" && ok "both bad records are in the DLQ with reasons" || fail "DLQ: $dlq"
grep -q "dead-lettered" "$tmp/run2.err" && ok "summary line" || fail "no summary: $(cat "$tmp/run2.err")"

# SIGTERM drains and commits: a new group reads everything, is stopped, and
# the next run of that group has little or nothing left to read
sed 's/"session.timeout.ms": "6000"/"session.timeout.ms": "6000", "group.id": "g-term"/' "$tmp/sink.json" > "$tmp/term.json"
export C360_STORE="$tmp/term.db"
"$BIN" kafka-sink --config "$tmp/term.json" --brokers "$BS" > /dev/null 2> "$tmp/term1.err" &
sink_pid=$!
for _ in $(seq 400); do c=$(count staging); [ "${c:-0}" -ge 2900 ] && break; sleep 0.05; done
sleep 0.5
kill -TERM $sink_pid; wait $sink_pid; rc=$?; sink_pid=
[ $rc -eq 0 ] && ok "SIGTERM: clean exit" || fail "SIGTERM rc=$rc $(tail -2 "$tmp/term1.err")"
timeout 60 "$BIN" kafka-sink --config "$tmp/term.json" --brokers "$BS" --exit-at-end > /dev/null 2> "$tmp/term2.err"
in2=$(sed -n "s/.*'home-delivery-sink': \([0-9]*\) records in.*/\1/p" "$tmp/term2.err")
[ "${in2:-x}" = 0 ] && ok "after SIGTERM the offsets were committed (0 records re-read)" || fail "re-read ${in2:-?} records after SIGTERM: $(tail -2 "$tmp/term2.err")"

# the connector's own .properties form (quickstart-couchbase-sink.properties
# shape): comments, a continuation line, the three separators, a per-topic
# id, and the Debezium unwrap with a 2.x delete option
export C360_STORE="$tmp/props.db"
cat > "$tmp/sink.properties" <<EOF
# Arbitrary unique name for the connector.
name=quickstart-sink
connector.class=com.couchbase.connect.kafka.CouchbaseSinkConnector
! the topics
topics=$TOPIC
couchbase.bucket : qs
couchbase.seed.nodes 127.0.0.1
group.id=g-props
session.timeout.ms=6000
value.converter.schemas.enable=true
couchbase.document.id[$TOPIC]=customer::\\
    \${/id}
transforms=unwrap
transforms.unwrap.type=io.debezium.transforms.ExtractNewRecordState
transforms.unwrap.delete.tombstone.handling.mode=rewrite
errors.tolerance=all
errors.deadletterqueue.topic.name=dlq
EOF
timeout 120 "$BIN" kafka-sink --config "$tmp/sink.properties" --brokers "$BS" --exit-at-end > /dev/null 2> "$tmp/props.err"
rc=$?
c=$(count qs)
del=$("$BIN" query "select count(*) from qs where key = 'customer::1001' and json_extract(doc, '\$.__deleted') = 'true'" | sed -n 's/.*"rows":\[\[\([0-9]*\)\]\].*/\1/p')
[ $rc -eq 0 ] && [ "$c" = 3000 ] && [ "$del" = 1 ] && ok ".properties config: 3000 rows by per-topic id, deletes rewritten" || fail ".properties: rc=$rc count=$c deleted-rows=$del $(tail -3 "$tmp/props.err")"
printf 'name=x\ntopics=t\ncouchbase.bucket=b\\u00zz\n' > "$tmp/bad.properties"
"$BIN" kafka-sink --config "$tmp/bad.properties" > /dev/null 2> "$tmp/err"
rc=$?
[ $rc -eq 5 ] && grep -q "bad.properties: not a valid .properties file: line 3, column 19" "$tmp/err" && ok "bad .properties: exit 5 with line and column" || fail "bad .properties: rc=$rc $(cat "$tmp/err")"
printf 'name=x\ntopics=t\ncouchbase.bucket=b\ncouchbase.default.collection=inventory.customers\n' > "$tmp/coll.properties"
"$BIN" kafka-sink --config "$tmp/coll.properties" > /dev/null 2> "$tmp/err"
rc=$?
[ $rc -eq 5 ] && grep -q "config key 'couchbase.default.collection': collection 'inventory.customers' is not supported" "$tmp/err" && ok "a collection is refused at start" || fail "collection: rc=$rc $(cat "$tmp/err")"

[ $fails -eq 0 ] && echo "all passed" || echo "$fails failed"
exit $fails
