#!/usr/bin/env bash
# End to end: the native integration's secret-hashing key never sits in a
# bucket the API or SQL can read. A generated key goes to a file of mode 600
# beside the store; a store of an older c360 that kept it in the metadata
# bucket has it moved there when `c360 serve` starts, before any answer (a
# read token then gets 404 and SQL finds nothing); equal passwords of two
# records hash differently, and a replay gives the same documents.
. "$(dirname "$0")/lib.bash"
unset C360_SECRET_KEY
export C360_STORE="$dir/c360.db"
kfile="$dir/c360.db.customer360_metadata.key"
mode() { stat -c %a "$1"; }

# 1. a generated key: in the file, not in the bucket; salted per record
"$BIN" bucket create staging >/dev/null || fail "bucket create"
for i in 1 2; do
  "$BIN" doc upsert staging "loyalty-member-$i" \
    "{\"id\":\"$i\",\"password\":\"same-password\",\"firstName\":\"F$i\",\"lastName\":\"L$i\",\"email\":\"p$i@example.com\",\"points\":\"$i\"}" >/dev/null ||
    fail "staging upsert"
done
"$BIN" integrate run --quiet --no-online --exit-when-idle "$SRC/functions/customer360.yaml" 2>"$dir/int.err" ||
  fail "integrate run: $(cat "$dir/int.err")"
grep -q "generated a secret-hashing key, kept in '$kfile' (mode 600" "$dir/int.err" || fail "no key log line: $(cat "$dir/int.err")"
[ -f "$kfile" ] && [ "$(mode "$kfile")" = 600 ] || fail "key file missing or not mode 600"
"$BIN" doc get customer360_metadata c360n::secret-key >/dev/null 2>&1 && fail "the key is in the metadata bucket"
h1=$("$BIN" doc get customer360 p1@example.com | grep -o '"pass":"[^"]*"')
h2=$("$BIN" doc get customer360 p2@example.com | grep -o '"pass":"[^"]*"')
[[ "$h1" == '"pass":"blake2b-salted:'* ]] || fail "not a salted hash: $h1"
[ -n "$h1" ] && [ "$h1" != "$h2" ] || fail "equal passwords hash equally: $h1 $h2"
"$BIN" doc get customer360 p1@example.com >"$dir/c1.json"
"$BIN" integrate run --quiet --no-online --exit-when-idle --from-start "$SRC/functions/customer360.yaml" 2>/dev/null ||
  fail "replay"
"$BIN" doc get customer360 p1@example.com | cmp -s - "$dir/c1.json" || fail "a replay changed the customer"

# 2. a store of an older c360: the key document moves to the file at start
rm -f "$kfile"
old=5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a
"$BIN" doc upsert customer360_metadata c360n::secret-key "{\"key\":\"$old\"}" >/dev/null || fail "key doc"
tok=$("$BIN" token create --scope read --name reader 2>/dev/null)
"$BIN" serve --port 0 --port-file "$dir/port" >"$dir/serve.log" 2>&1 &
pid=$!
wait_until 100 0.1 test -s "$dir/port" || fail "serve did not start: $(cat "$dir/serve.log")"
u="http://127.0.0.1:$(cat "$dir/port")/api/v1"
grep -q "moved the secret-hashing key from document 'c360n::secret-key' of 'customer360_metadata'" "$dir/serve.log" ||
  fail "no move log line: $(cat "$dir/serve.log")"
c=$(curl -s -o "$dir/body" -w '%{http_code}' -H "Authorization: Bearer $tok" "$u/docs/customer360_metadata/c360n::secret-key")
[ "$c" = 404 ] || fail "a read token fetched the key document: $c $(cat "$dir/body")"
curl -s -H "Authorization: Bearer $tok" -X POST --data "SELECT key, doc FROM customer360_metadata" "$u/query" >"$dir/sql"
grep -q "$old" "$dir/sql" && fail "SQL reads the key"
grep -q 'c360n::' "$dir/sql" || fail "the SQL query did not run: $(head -c 300 "$dir/sql")"
[ "$(cat "$kfile" 2>/dev/null)" = "$old" ] || fail "the key file does not hold the old key"
[ "$(mode "$kfile")" = 600 ] || fail "moved key file is mode $(mode "$kfile")"
kill $pid
wait $pid 2>/dev/null
pid=

finish
