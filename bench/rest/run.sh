#!/usr/bin/env bash
# bench/rest: poll N customers (default 50000) against the mock online store
# at concurrency 16, and measure the store's capacity with wrk at the same
# concurrency on the same endpoint in the same run.
#   bench/rest/run.sh BUILD_DIR        (env: CUSTOMERS, CONCURRENCY, WRK_SECONDS, MOCK_THREADS)
# Prints requests/s of both, the ratio (target >= 0.7) and the error count (target 0).
# bench_poller is the HTTP side alone (no store), split over 2 poller threads
# with 8 + 8 transfers like c360 poll (wrk runs -t2 as well).
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
n=${CUSTOMERS:-50000}
conc=${CONCURRENCY:-16}
secs=${WRK_SECONDS:-10}
mthreads=${MOCK_THREADS:-2}
c360="$build/c360"
mock="$build/c360-mock-store"
bp="$build/bench/rest/bench_poller"
for b in "$c360" "$mock"; do
  [ -x "$b" ] || { echo "bench/rest: '$b' is missing: build first" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "bench/rest: wrk is missing (scripts/deps.sh --bench)" >&2; exit 1; }
tmp=$(mktemp -d)
mpid=""
cleanup() { [ -n "$mpid" ] && kill "$mpid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

# the data set: N generated customers (seeded), their emails as customer360 users
"$mock" --customers "$n" --seed 7 --dump |
  python3 -c '
import json, sys
for line in sys.stdin:
    d = json.loads(line)
    if "Email" in d:
        print(json.dumps({"type": "user", "email": d["Email"]}))' > "$tmp/users.jsonl"
export C360_STORE="$tmp/c360.db"
"$c360" bucket create customer360 >/dev/null 2>&1 || true
"$c360" cbimport json -c couchbase://local -u x -p x -b customer360 --create-bucket \
  -d "file://$tmp/users.jsonl" -f lines -g %email% >/dev/null
python3 -c '
import json, sys
for line in open(sys.argv[1]):
    print(json.loads(line)["email"])' "$tmp/users.jsonl" > "$tmp/emails.txt"
email=$(head -1 "$tmp/users.jsonl" | python3 -c 'import json,sys,urllib.parse; print(urllib.parse.quote(json.load(sys.stdin)["email"], safe=""))')

"$mock" --customers "$n" --seed 7 --threads "$mthreads" --port-file "$tmp/port" -q > "$tmp/mock.out" &
mpid=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.05; done
port=$(cat "$tmp/port")
base="http://127.0.0.1:$port"

echo "bench/rest: $n customers, concurrency $conc, mock store with $mthreads threads at $base"
cpu() { /usr/bin/time -f "%U %S" -o "$tmp/cpu" "$@"; }
wrk_out=$(cpu wrk -t2 -c"$conc" -d"${secs}s" "$base/api/onlineStore/getCustomerDetailsByEmail?customerEmail=$email")
wrk_rps=$(echo "$wrk_out" | awk '/Requests\/sec/ {print $2}')
wrk_err=$(echo "$wrk_out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')
wrk_n=$(echo "$wrk_out" | awk '/requests in/ {print $1}')
wrk_us=$(python3 -c "u,s=open('$tmp/cpu').read().split()[-2:]; print(f'{(float(u)+float(s))*1e6/$wrk_n:.1f}')")
echo "wrk (-t2 -c$conc, ${secs}s, getCustomerDetailsByEmail): $wrk_rps requests/s, $wrk_us us CPU per request ${wrk_err}"
if [ -x "$bp" ]; then
  bp_out=$(cpu "$bp" "$base" "$tmp/emails.txt" "$conc" || true)
  bp_rps=$(echo "$bp_out" | sed -n 's/.* \([0-9.]*\) requests\/s$/\1/p')
  bp_req=$(echo "$bp_out" | sed -n 's/.* \([0-9]*\) requests in .*/\1/p')
  bp_us=$(python3 -c "u,s=open('$tmp/cpu').read().split()[-2:]; print(f'{(float(u)+float(s))*1e6/${bp_req:-1}:.1f}')")
  echo "$bp_out"
  echo "poller alone (no store, 2 threads): ${bp_rps:-?} requests/s, $bp_us us CPU per request; ratio to wrk: $(python3 -c "print(f'{float(\"${bp_rps:-0}\") / float(\"$wrk_rps\"):.2f}')")"
fi

# pass 1 writes every xref, order and product; pass 2 (--force over unchanged
# data) rewrites only the poll state: the HTTP side with the lightest store load
pass() {
  set +e
  poll_out=$(cpu "$c360" poll --base-url "$base" --concurrency "$conc" --force --quiet 2>"$tmp/poll.err")
  poll_rc=$?
  set -e
  echo "$poll_out" | sed 's/^/  /'
  [ -s "$tmp/poll.err" ] && head -5 "$tmp/poll.err"
  poll_rps=$(echo "$poll_out" | sed -n 's/.* \([0-9.]*\) requests\/s$/\1/p')
  errors=$(echo "$poll_out" | sed -n 's/^poll: errors: \([0-9]*\).*/\1/p')
  werr=$(echo "$poll_out" | sed -n 's/.*; \([0-9]*\) write errors$/\1/p')
  polled=$(echo "$poll_out" | sed -n 's/^poll: [0-9]* customers: \([0-9]*\) polled.*/\1/p')
  ratio=$(python3 -c "print(f'{float(\"${poll_rps:-0}\") / float(\"$wrk_rps\"):.2f}')")
  req=$(echo "$poll_out" | sed -n 's/^poll: \([0-9]*\) requests.*/\1/p')
  us=$(python3 -c "u,s=open('$tmp/cpu').read().split()[-2:]; print(f'{(float(u)+float(s))*1e6/${req:-1}:.1f}')")
  echo "c360 poll $1: ${poll_rps:-?} requests/s, $us us CPU per request ($polled customers polled, exit $poll_rc)"
  echo "ratio c360/wrk $1: $ratio (target >= 0.7); errors: $((${errors:-1} + ${werr:-1})) (target 0)"
}
pass "pass 1 (all documents written)"
pass "pass 2 (re-poll, documents unchanged)"
