#!/usr/bin/env bash
# End to end: Kafka Connect's REST API on `c360 run` against `c360 kafka-mock`:
# the tutorial's body POSTed as it is consumes from the brokers named by the
# pipeline's `connect: bootstrap.servers:`, GET / answers as Kafka Connect
# (the dashboard is at /ui/), and a connector whose brokers do not answer is
# FAILED with the reason, not RUNNING.
. "$(dirname "$0")/lib.bash"
mock_pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; [ -n "$mock_pid" ] && kill $mock_pid 2>/dev/null; rm -rf "$dir"' EXIT

TOPIC=dbserver1.inventory.customers
"$BIN" kafka-mock --topic $TOPIC:2 --bootstrap-file "$dir/bs" >"$dir/mock.out" 2>&1 &
mock_pid=$!
wait_until 50 0.1 test -s "$dir/bs" || { echo "FAIL: no mock"; exit 1; }
BS=$(cat "$dir/bs")
"$BIN" kafka-produce --brokers "$BS" --customers 40 >/dev/null 2>&1 || fail "kafka-produce"

# the tutorial's body, as POSTed to Kafka Connect (no bootstrap.servers in it)
cat >"$dir/seed.json" <<'EOF'
{
  "name": "home-delivery-sink",
  "config": {
    "connector.class": "com.couchbase.connect.kafka.CouchbaseSinkConnector",
    "tasks.max": "2",
    "topics": "dbserver1.inventory.customers",
    "connection.cluster_address": "db",
    "connection.bucket": "staging",
    "connection.username": "Administrator",
    "connection.password": "password",
    "key.converter": "org.apache.kafka.connect.storage.StringConverter",
    "value.converter": "org.apache.kafka.connect.json.JsonConverter",
    "value.converter.schemas.enable": "false"
  }
}
EOF
cat >"$dir/p.yaml" <<YAML
store: {path: c360.db}
buckets: {staging: {}}
serve: {port: 0}
connect: {bootstrap.servers: "$BS"}
YAML
printf 'connect: {bootstrap.server: x}\n' >"$dir/bad.yaml"
"$BIN" run --check "$dir/bad.yaml" >/dev/null 2>"$dir/err"
grep -q "unknown key 'bootstrap.server' in connect" "$dir/err" || fail "connect: typo not refused: $(cat "$dir/err")"

"$BIN" run "$dir/p.yaml" >"$dir/run.log" 2>&1 &
pid=$!
wait_until 100 0.1 grep -q 'http://127.0.0.1:[0-9]' "$dir/run.log" || fail "the server did not start: $(cat "$dir/run.log")"
url=$(grep -o 'http://127.0.0.1:[0-9]*' "$dir/run.log" | head -1)
code=$(curl -s -o "$dir/post" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  --data @"$dir/seed.json" "$url/connectors")
[ "$code" = 201 ] || fail "POST /connectors: $code $(cat "$dir/post")"
count() { curl -sf "$url/connectors/home-delivery-sink/status" | grep -o '"written":[0-9]*' | cut -d: -f2; }
all_in() { [ "$(count)" = 40 ]; }
wait_until 600 0.1 all_in || fail "the tutorial's connector consumed $(count) of 40 records"
curl -sf "$url/connectors/home-delivery-sink/status" | grep -q '"connector":{"state":"RUNNING"' || fail "not RUNNING"
curl -sf "$url/" >"$dir/root" || fail "GET /"
grep -q '"version":"' "$dir/root" && grep -q '"kafka_cluster_id":"' "$dir/root" || fail "GET /: $(cat "$dir/root")"
curl -sf "$url/ui/" | grep -qi '<html' || fail "the dashboard is not at /ui/"
curl -sf "$url/connector-plugins" | grep -q 'CouchbaseSinkConnector' || fail "GET /connector-plugins"

# brokers that do not answer: FAILED with the reason
code=$(curl -s -o "$dir/put" -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
  --data '{"topics":"t","connection.bucket":"lost","bootstrap.servers":"127.0.0.1:1"}' "$url/connectors/lost/config")
[ "$code" = 201 ] || fail "PUT /connectors/lost/config: $code $(cat "$dir/put")"
curl -s "$url/connectors/lost/status" >"$dir/lost"
grep -q '"connector":{"state":"FAILED"' "$dir/lost" && grep -q "cannot reach the kafka brokers '127.0.0.1:1'" "$dir/lost" ||
  fail "unreachable brokers: $(cat "$dir/lost")"
grep -q 'RUNNING' "$dir/lost" && fail "a connector without brokers reports RUNNING"
curl -s "$url/connectors/nope" | grep -qF '{"error_code":404,"message":"Connector nope not found"}' || fail "404 body"

kill -TERM $pid
wait $pid
code=$?
pid=
[ $code -eq 0 ] || fail "SIGTERM: exit $code, expected 0"
finish
