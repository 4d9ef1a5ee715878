#!/usr/bin/env bash
# c360 function: deploy the shipped customer360 function, run it, lifecycle
# commands, exit codes, resume from the checkpoint after kill -9, and SIGTERM
# during a runaway handler.
set -euo pipefail
bin=${C360_BIN:?}
src=${C360_SRC:?}
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
export C360_STORE=$tmp/s.db
fail() { echo "FAIL: $*" >&2; exit 1; }
expect_exit() { # CODE CMD...
  local want=$1; shift
  set +e; "$@" >"$tmp/out" 2>"$tmp/err"; local got=$?; set -e
  [ "$got" = "$want" ] || { cat "$tmp/out" "$tmp/err" >&2; fail "'$*' exited $got, expected $want"; }
}

"$bin" bucket create staging >/dev/null
"$bin" doc upsert staging '{"id":1029}' -f "$src/tests/fixtures/debezium/customer_with_schema.json" >/dev/null
"$bin" doc upsert staging key::1 -f "$src/functions/tests/matthew_groves/loyalty_member.json" >/dev/null

# --- deploy the shipped export unchanged, with the online store switched off
"$bin" function deploy "$src/functions/customer360.json" -b constant:pollOnlineStore=false >"$tmp/out"
grep -q "deployed function 'ingestionCustomer360'" "$tmp/out" || fail "deploy output: $(cat "$tmp/out")"
expect_exit 4 "$bin" function deploy "$src/functions/customer360.json"
"$bin" function list | grep -q "ingestionCustomer360 *deployed" || fail "list"
"$bin" function status --json ingestionCustomer360 | grep -q '"backlog":2' || fail "backlog before run"
"$bin" function run ingestionCustomer360 --exit-when-idle 2>"$tmp/err" || { cat "$tmp/err"; fail "run"; }
grep -q "processed 2 change(s) (0 failed" "$tmp/err" || fail "run summary: $(cat "$tmp/err")"
"$bin" doc get customer360 matthew.groves@couchbase.com >"$tmp/doc"
grep -q '"loyaltyPoints":"47"' "$tmp/doc" || fail "customer doc: $(cat "$tmp/doc")"
grep -q '"external_system":"home_delivery"' "$tmp/doc" || fail "customer doc: $(cat "$tmp/doc")"
"$bin" function status --json ingestionCustomer360 >"$tmp/st"
grep -q '"backlog":0' "$tmp/st" || fail "status after run: $(cat "$tmp/st")"
grep -q '"num_processed_events":2' "$tmp/st" || fail "status counts: $(cat "$tmp/st")"

# --- pause / resume / undeploy / delete
"$bin" function pause ingestionCustomer360 >/dev/null
expect_exit 1 "$bin" function pause ingestionCustomer360
expect_exit 1 "$bin" function run ingestionCustomer360 --exit-when-idle
"$bin" function status ingestionCustomer360 | grep -q paused || fail "paused status"
"$bin" function resume ingestionCustomer360 >/dev/null
"$bin" function undeploy ingestionCustomer360 >/dev/null
"$bin" function export ingestionCustomer360 | grep -q '"appname":"ingestionCustomer360"' || fail "export"
"$bin" function delete ingestionCustomer360 >/dev/null
expect_exit 3 "$bin" function status ingestionCustomer360
expect_exit 3 "$bin" function pause nope

# --- bad inputs name the problem
echo '{"appname":"x","appcode":"function OnUpdate(d,m){","depcfg":{"source_bucket":"a","metadata_bucket":"b"}}' >"$tmp/bad.json"
expect_exit 5 "$bin" function deploy "$tmp/bad.json"
grep -q SyntaxError "$tmp/err" || fail "syntax error message: $(cat "$tmp/err")"
echo '{"appname":"x",' >"$tmp/bad2.json"
expect_exit 5 "$bin" function deploy "$tmp/bad2.json"
grep -q "not valid JSON: line 2, column 1" "$tmp/err" || fail "json error message: $(cat "$tmp/err")"
expect_exit 2 "$bin" function deploy onlyname
expect_exit 5 "$bin" function deploy f --code /dev/null --source a --metadata b -b 'bucket:x=y:w'
"$bin" function --help | grep -q deploy || fail "help"
"$bin" function run --help | grep -q exit-when-idle || fail "run help"

# --- log(): in the application log with timestamps
cat >"$tmp/log.js" <<'EOF'
function OnUpdate(doc, meta) { log('saw', meta.id, doc); }
EOF
"$bin" function deploy logger --code "$tmp/log.js" --source staging --metadata meta -s dcp_stream_boundary=everything >/dev/null
"$bin" function run logger --exit-when-idle 2>/dev/null
"$bin" function log logger >"$tmp/log"
grep -Eq '^20[0-9-]+T[0-9:.]+Z \[INFO\] "saw" "key::1" \{' "$tmp/log" || fail "app log: $(cat "$tmp/log")"

# --- kill -9 in the middle, then resume from the checkpoint: none skipped
for i in $(seq 1 1500); do echo "{\"n\":$i}"; done >"$tmp/docs.jsonl"
"$bin" bucket create src >/dev/null
"$bin" cbimport json -c couchbase://x -u u -p p -b src -d "file://$tmp/docs.jsonl" -f lines -g 'k%n%' >/dev/null 2>&1
cat >"$tmp/slow.js" <<'EOF'
function OnUpdate(doc, meta) {
  var t = Date.now(); while (Date.now() - t < 2) {}
  var old = dst[meta.id];
  dst[meta.id] = {n: doc.n, seen: old ? old.seen + 1 : 1};
}
EOF
"$bin" function deploy slow --code "$tmp/slow.js" --source src --metadata meta -b bucket:dst=dst:rw \
  -s checkpoint_interval=1 >/dev/null
"$bin" function run slow 2>/dev/null &
pid=$!
for _ in $(seq 1 200); do
  n=$("$bin" query "SELECT count(*) FROM dst" 2>/dev/null | grep -o '\[\[[0-9]*\]\]' | tr -dc 0-9 || true)
  [ "${n:-0}" -ge 300 ] && break
  sleep 0.05
done
kill -9 "$pid"; wait "$pid" 2>/dev/null || true; pid=
[ "${n:-0}" -ge 300 ] && [ "${n:-0}" -lt 1500 ] || fail "not killed in the middle (dst had ${n:-?} docs)"
"$bin" function run slow --exit-when-idle 2>/dev/null
total=$("$bin" query "SELECT count(*) FROM dst" | grep -o '\[\[[0-9]*\]\]' | tr -dc 0-9)
again=$("$bin" query "SELECT count(*) FROM dst WHERE json_extract(doc,'\$.seen') > 1" | grep -o '\[\[[0-9]*\]\]' | tr -dc 0-9)
[ "$total" = 1500 ] || fail "after kill -9 and resume: $total of 1500 processed"
[ "$again" -le 600 ] || fail "re-processed $again (more than two batches past the checkpoint)"
echo "kill -9 at $n documents; after resume all 1500 processed, $again processed twice"
# --- SIGTERM while a handler runs away inside a built-in (60 s timeout): the
# process ends promptly, nothing of the batch is committed, and the next start
# handles the change again
"$bin" bucket create rsrc >/dev/null
"$bin" bucket create rout >/dev/null
"$bin" bucket create rctl >/dev/null
"$bin" doc upsert rsrc r1 '{"n":1}' >/dev/null
"$bin" doc upsert rsrc r2 '{"run":true}' >/dev/null
"$bin" doc upsert rsrc r3 '{"n":3}' >/dev/null
cat >"$tmp/runaway.js" <<'EOF'
function OnUpdate(doc, meta) {
  if (doc.run && !ctl['calm']) {
    log('spinning');
    var a = []; while (true) a.push(new Array(1000000).join('x'));
  }
  out[meta.id] = 'done';
}
EOF
"$bin" function deploy runaway --code "$tmp/runaway.js" --source rsrc --metadata meta \
  -b bucket:out=rout:rw -b bucket:ctl=rctl:r -s execution_timeout=60 >/dev/null
"$bin" function run runaway 2>"$tmp/rerr" &
pid=$!
for _ in $(seq 1 400); do
  "$bin" function log runaway 2>/dev/null | grep -q spinning && break
  sleep 0.05
done
"$bin" function log runaway | grep -q spinning || fail "the runaway handler did not start"
t0=$(date +%s%N)
kill -TERM "$pid"
for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "SIGTERM did not end 'function run' within 20 s of a runaway handler"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
set +e; wait "$pid"; code=$?; set -e; pid=
[ "$code" = 0 ] || { cat "$tmp/rerr" >&2; fail "'function run' exited $code after SIGTERM"; }
grep -q "are handled again at the next start" "$tmp/rerr" || fail "stop message: $(cat "$tmp/rerr")"
n=$("$bin" query "SELECT count(*) FROM rout" | grep -o '\[\[[0-9]*\]\]' | tr -dc 0-9)
[ "$n" = 0 ] || fail "the abandoned batch committed $n document(s)"
"$bin" doc upsert rctl calm true >/dev/null
"$bin" function run runaway --exit-when-idle 2>"$tmp/rerr" || { cat "$tmp/rerr"; fail "run after SIGTERM"; }
n=$("$bin" query "SELECT count(*) FROM rout" | grep -o '\[\[[0-9]*\]\]' | tr -dc 0-9)
[ "$n" = 3 ] || fail "after the restart $n of 3 changes handled"
echo "SIGTERM during a runaway handler: process ended ${ms} ms after it; all 3 changes handled at the next start"
echo "ok"
