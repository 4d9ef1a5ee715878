#!/usr/bin/env bash
# The interim `make demo`: a small end-to-end run of c360's store with the
# seed tutorial's data (Matthew Groves). In a temporary directory it creates
# the buckets staging and customer360, writes the two staging documents (the
# home-delivery Debezium envelope and the loyalty row), the consolidated
# customer document the tutorial expects, shows the change feed, runs a SQL
# query over the buckets, and cleans up.
#   scripts/demo.sh BINARY      e.g. scripts/demo.sh build/c360
set -euo pipefail
bin=${1:?usage: scripts/demo.sh BINARY}
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
src=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export C360_STORE="$dir/c360.db"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ c360 %s\n' "$*"; "$bin" "$@"; }

say "1. buckets (store: $C360_STORE)"
run bucket create staging
run bucket create customer360

say "2. staging documents, as the Kafka sink and cbimport would write them"
envelope="$src/tests/fixtures/debezium/customer_with_schema.json"
if [ -f "$envelope" ]; then
  run doc upsert staging '{"id":1029}' --file "$envelope"
else
  run doc upsert staging '{"id":1029}' '{"payload":{"after":{"id":1029,"name":"Matthew Groves","email":"matthew.groves@couchbase.com","password":"5owhiy1j.isq","address_line_1":"600 Sporer Curve","address_line_2":"Suite 528","city":"West Evertchester","state":"NH","zipcode":"04006","phonenumber":"811.128.4320 x4808"},"source":{"name":"dbserver1"},"op":"c"}}'
fi
run doc upsert staging 'key::1' --expiry 25h \
  '{"id":"27","password":"xrinn5xp.swd","firstName":"Matthew","lastName":"Groves","email":"matthew.groves@couchbase.com","points":"47"}'

say "3. the Customer 360 document the tutorial expects (written by hand until functions run here)"
run doc upsert customer360 matthew.groves@couchbase.com '{"type":"user","profile":{"name":"Matthew Groves","address1":"600 Sporer Curve","address2":"Suite 528","city":"West Evertchester","state":"NH","phone":"811.128.4320 x4808"},"loyaltyPoints":"47","xrefs":[{"external_system":"online_store","external_ID":1,"pass":"edzchzmatv5"},{"external_system":"home_delivery","external_ID":1029,"pass":"5owhiy1j.isq"},{"external_system":"loyalty","external_ID":"27","pass":"xrinn5xp.swd"}]}'
run doc upsert customer360 order::1 '{"OrderId":1,"PurchaseDate":"2019-04-25T15:15:5800838522","CustomerId":1,"Items":[{"OrderId":1,"ProductId":200,"Quantity":2,"Price":87.81}]}'
run doc upsert customer360 order::2 '{"OrderId":2,"PurchaseDate":"2019-04-13T16:15:5801361975","CustomerId":1,"Items":[{"OrderId":2,"ProductId":100,"Quantity":2,"Price":219.74}]}'

say "4. the change feed of staging (what eventing functions consume)"
run feed staging 2>&1 | cut -c1-160

say "5. read-only SQL over the buckets"
run query --format table "SELECT key, json_extract(doc, '\$.profile.name') AS name, json_extract(doc, '\$.loyaltyPoints') AS points, json_array_length(doc, '\$.xrefs') AS xrefs FROM customer360 WHERE json_extract(doc, '\$.type') = 'user'"
run query --format table "SELECT key, json_extract(doc, '\$.PurchaseDate') AS purchased, (SELECT sum(json_extract(i.value, '\$.Quantity') * json_extract(i.value, '\$.Price')) FROM json_each(doc, '\$.Items') AS i) AS total FROM customer360 WHERE key LIKE 'order::%' ORDER BY key"
printf '$ c360 query "DELETE FROM staging"   (refused: queries are read-only)\n'
"$bin" query "DELETE FROM staging" || true

say "6. buckets"
run bucket list

say "done: 2 buckets, 5 documents, change feed and SQL shown; temporary store removed"
