#!/usr/bin/env bash
# c360 integrate: check reports file:line:column, run merges staging into
# customer360 (secrets hashed, case variants in one profile), deletes
# recompute, a second run resumes from its cursor, `function deploy
# --native` runs the same mapping under the eventing engine, and a second
# engine on the same buckets in another process is refused until the first
# is gone (kill -9 included).
set -uo pipefail
bin=${C360_BIN:?}
src=${C360_SRC:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export C360_STORE=$tmp/s.db
unset C360_ONLINE_STORE_URL
export C360_SECRET_KEY=e2e-integrate-secret-key
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=1; }

"$bin" integrate --help >/dev/null && ok "integrate --help" || bad "integrate --help"
"$bin" integrate run --help | grep -q -- "--exit-when-idle" && ok "run --help" || bad "run --help"
"$bin" integrate check "$src/functions/customer360.yaml" >/dev/null && ok "shipped mapping checks" ||
  bad "shipped mapping checks"

# a bad mapping: file:line:column and the reason, exit 5
cat > "$tmp/bad.yaml" <<'EOF'
fields:
  profile.name: newest
sources:
  - system: a
    match: /x present
    identity: /e
    external_id: /i
EOF
out=$("$bin" integrate check "$tmp/bad.yaml" 2>&1); rc=$?
[ $rc -eq 5 ] && [[ "$out" == "$tmp/bad.yaml:2:17: survivorship is 'most_recent' or 'priority'"* ]] &&
  ok "bad mapping: file:line:column, exit 5" || bad "bad mapping ($rc): $out"
out=$("$bin" integrate run --exit-when-idle "$tmp/bad.yaml" 2>&1); rc=$?
[ $rc -eq 5 ] && [[ "$out" == *"bad.yaml:2:17:"* ]] && ok "run refuses a bad mapping" || bad "run bad ($rc): $out"
out=$("$bin" integrate check "$tmp/missing.yaml" 2>&1); rc=$?
[ $rc -eq 3 ] && [[ "$out" == *"missing.yaml"* ]] && ok "missing file: exit 3" || bad "missing ($rc): $out"

# staging: the seed's home-delivery envelope, a loyalty row spelled differently
"$bin" bucket create staging >/dev/null
"$bin" doc upsert staging '{"id":1029}' "$(cat "$src/tests/fixtures/debezium/customer_with_schema.json")" >/dev/null
"$bin" doc upsert staging key::1 '{"id":"27","password":"xrinn5xp.swd","firstName":"Matthew","lastName":"Groves","email":" Matthew.Groves@Couchbase.com","points":"47"}' >/dev/null
"$bin" doc upsert staging key::2 '{"id":"28","email":"nobody","points":"3"}' >/dev/null
out=$("$bin" integrate run --exit-when-idle --no-online "$src/functions/customer360.yaml" 2>&1); rc=$?
[ $rc -eq 0 ] && [[ "$out" == *"3 changes"*"1 without identity"* ]] && ok "run: summary" || bad "run ($rc): $out"
doc=$("$bin" doc get customer360 matthew.groves@couchbase.com 2>&1)
[[ "$doc" == *'"name":"Matthew Groves"'* && "$doc" == *'"loyaltyPoints":"47"'* &&
   "$doc" == *'"external_system":"home_delivery"'* && "$doc" == *'"external_system":"loyalty"'* ]] &&
  ok "one customer document from both systems" || bad "customer: $doc"
[[ "$doc" != *5owhiy1j* && "$doc" != *xrinn5xp* && "$doc" == *'"pass":"blake2b-salted:'* ]] &&
  ok "secrets hashed" || bad "secrets: $doc"
[[ "$doc" == *'"email":" Matthew.Groves@Couchbase.com"'* ]] && ok "original spelling in the xref" ||
  bad "spelling: $doc"

# the CDC delete removes home delivery: the name falls back to loyalty's
"$bin" doc delete staging '{"id":1029}' >/dev/null
out=$("$bin" --log-level debug integrate run --exit-when-idle --no-online "$src/functions/customer360.yaml" 2>&1); rc=$?
[[ $rc -eq 0 && "$out" == *"1 changes"*"1 deletes"* ]] && ok "second run resumes at its cursor" ||
  bad "resume ($rc): $out"
# at debug level, where each batch's time went (for tuning --batch)
[[ "$out" == *"batch of 1 changes (seqnos 4..4): waited "*" for the reader, merged in "* &&
   "$out" == *"committed "*" writes in "* ]] &&
  ok "debug log: batch and commit timings" || bad "debug log: $out"
doc=$("$bin" doc get customer360 matthew.groves@couchbase.com 2>&1)
[[ "$doc" != *home_delivery* && "$doc" != *Sporer* && "$doc" == *'"name":"Matthew Groves"'* &&
   "$doc" == *'"system":"loyalty"'* ]] && ok "delete recomputes" || bad "after delete: $doc"

# the same mapping as an eventing function (kind native), into another bucket
sed -e 's/^target_bucket: customer360/target_bucket: c360native/' \
    -e 's/^metadata_bucket: customer360_metadata/metadata_bucket: native_meta/' \
    "$src/functions/customer360.yaml" > "$tmp/native.yaml"
# (its buckets are the mapping's: no --source / --metadata, as in the README)
out=$("$bin" function deploy customer360n --native "$tmp/native.yaml" 2>&1); rc=$?
if [ $rc -eq 0 ] && [[ "$out" == *"deployed function 'customer360n' (native) on 'staging'"* ]]; then
  "$bin" function run --exit-when-idle customer360n >/dev/null 2>&1
  doc=$("$bin" doc get c360native matthew.groves@couchbase.com 2>&1)
  [[ "$doc" == *'"loyaltyPoints":"47"'* && "$doc" != *home_delivery* ]] &&
    ok "function deploy --native runs the mapping" || bad "native function: $doc"
else
  bad "function deploy --native ($rc): $out"
fi
out=$("$bin" function deploy badn --native "$tmp/bad.yaml" --source staging --metadata native_meta 2>&1); rc=$?
[[ $rc -ne 0 && "$out" == *":2:17:"* ]] && ok "deploy --native refuses a bad mapping" ||
  bad "deploy bad ($rc): $out"
# --source / --metadata override the mapping's buckets
out=$("$bin" function deploy overn --native "$tmp/native.yaml" --source c360native --metadata native_meta 2>&1); rc=$?
[[ $rc -ne 0 && "$out" == *"the mapping's target_bucket 'c360native' is the function's source bucket"* ]] &&
  ok "deploy --native: --source overrides the mapping" || bad "deploy --source ($rc): $out"

# one engine per target: while one process follows the feed, a second
# `integrate run` (exit 4) and a native function on the same buckets are
# refused, naming the first's pid; kill -9 of the first frees the buckets
"$bin" integrate run --no-online -q "$src/functions/customer360.yaml" 2> "$tmp/follow.log" &
first=$!
for _ in $(seq 200); do   # its claim: a POSIX lock of its pid in /proc/locks
  awk -v p=$first '$2 == "POSIX" && $5 == p { f = 1 } END { exit !f }' /proc/locks && break
  kill -0 $first 2>/dev/null || break
  sleep 0.05
done
out=$("$bin" integrate run --exit-when-idle --no-online "$src/functions/customer360.yaml" 2>&1); rc=$?
[[ $rc -eq 4 && "$out" == *"another process (pid $first) integrates into bucket 'customer360'"* ]] &&
  ok "a second integrate run on the same buckets is refused (exit 4, pid)" ||
  bad "second run ($rc): $out / first: $(cat "$tmp/follow.log")"
"$bin" function deploy clash --native "$src/functions/customer360.yaml" --source staging \
  --metadata customer360_metadata >/dev/null 2>&1
out=$("$bin" function run --exit-when-idle clash 2>&1); rc=$?
[[ $rc -ne 0 && "$out" == *"another process (pid $first)"* ]] &&
  ok "a native function on the same buckets is refused" || bad "clash ($rc): $out"
out=$("$bin" integrate run --exit-when-idle --no-online "$tmp/native.yaml" 2>&1); rc=$?
[ $rc -eq 0 ] && ok "other buckets are free meanwhile" || bad "other buckets ($rc): $out"
kill -9 $first; wait $first 2>/dev/null
"$bin" doc upsert staging key::3 '{"id":"29","email":"Ada@Example.com","points":"5"}' >/dev/null
out=$("$bin" integrate run --exit-when-idle --no-online "$src/functions/customer360.yaml" 2>&1); rc=$?
doc=$("$bin" doc get customer360 ada@example.com 2>&1)
[[ $rc -eq 0 && "$doc" == *'"loyaltyPoints":"5"'* ]] && ok "after kill -9 of the first, the next run goes on" ||
  bad "after kill -9 ($rc): $out / $doc"
[ -e "$C360_STORE-integrate.lock" ] && ok "the claim is in STORE-integrate.lock" || bad "no lock file"
# the lock file takes the store's permissions, past the umask (like -wal, -shm)
chmod 660 "$C360_STORE"; rm -f "$C360_STORE-integrate.lock"
(umask 077; "$bin" integrate run --exit-when-idle --no-online -q "$src/functions/customer360.yaml")
mode=$(stat -c %a "$C360_STORE-integrate.lock" 2>&1)
[ "$mode" = 660 ] && ok "lock file with the store's permissions" || bad "lock file mode: $mode"
exit $fail
