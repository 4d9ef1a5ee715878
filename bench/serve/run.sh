#!/usr/bin/env bash
# bench/serve: requests/s and p99 of GET /api/v1/customers/{email} over random
# emails of a 100k-customer store, `c360 serve` against nginx (Debian
# nginx-light) serving the same documents as static files, same wrk settings,
# same run. Targets: >= 0.5x nginx's requests/s, p99 < 5 ms.
#   bench/serve/run.sh BUILD_DIR
# Env: CUSTOMERS (100000), DURATION (10s), CONNECTIONS (16), WRK_THREADS (2),
#      SERVER_THREADS (2: c360 --threads and nginx worker_processes).
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
customers=${CUSTOMERS:-100000}
duration=${DURATION:-10s}
conns=${CONNECTIONS:-16}
wthreads=${WRK_THREADS:-2}
sthreads=${SERVER_THREADS:-2}
for t in wrk nginx curl; do
  command -v $t >/dev/null || [ -x /usr/sbin/$t ] || { echo "bench/serve: '$t' missing (scripts/deps.sh --bench)"; exit 1; }
done
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
tmp=$(mktemp -d)
chmod 755 "$tmp" # nginx workers run as an unprivileged user
cpid=""; npid=""
cleanup() {
  [ -n "$cpid" ] && kill "$cpid" 2>/dev/null && wait "$cpid" 2>/dev/null
  [ -n "$npid" ] && kill "$npid" 2>/dev/null && wait "$npid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

echo "seeding $customers customers (customer360 + orders + products, and the same as static files)..."
"$build/c360-seed360" --store "$tmp/store.db" --customers "$customers" \
  --emails "$tmp/emails.txt" --static "$tmp/www"
n=$(wc -l <"$tmp/emails.txt")

# c360 serve
"$build/c360" --store "$tmp/store.db" --log-level error serve --port 0 --port-file "$tmp/port" \
  --threads "$sthreads" --no-web >"$tmp/c360.log" 2>&1 &
cpid=$!
for _ in $(seq 300); do [ -s "$tmp/port" ] && break; sleep 0.1; done
cport=$(cat "$tmp/port")
# wait until the index has read the whole feed
for _ in $(seq 600); do
  curl -s "http://127.0.0.1:$cport/api/v1/pipeline" | grep -q '"lag":0' && break; sleep 0.1
done

# nginx on a free loopback port, same documents as files
nport=$(free_port)
mkdir -p "$tmp/nginx"
cat >"$tmp/nginx.conf" <<CONF
worker_processes $sthreads;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log;
daemon off;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  # no open_file_cache: over 100k random files it would need more
  # descriptors than the 20000 this machine allows (EMFILE), and evict anyway
  server {
    listen 127.0.0.1:$nport;
    location /api/v1/customers/ { alias $tmp/www/; default_type application/json; }
  }
}
CONF
"$nginx_bin" -c "$tmp/nginx.conf" -p "$tmp/nginx" &
npid=$!
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$nport/" && break; sleep 0.1; done

e=$(head -1 "$tmp/emails.txt" | sed 's/@/%40/')
c_size=$(curl -s "http://127.0.0.1:$cport/api/v1/customers/$e" | wc -c)
n_size=$(curl -s "http://127.0.0.1:$nport/api/v1/customers/$e" | wc -c)
[ "$n_size" -gt 100 ] || { echo "nginx does not serve the documents"; exit 1; }

run() { # name port
  EMAILS="$tmp/emails.txt" wrk -t"$wthreads" -c"$conns" -d2s -s "$here/random_email.lua" "http://127.0.0.1:$2" >/dev/null
  EMAILS="$tmp/emails.txt" wrk -t"$wthreads" -c"$conns" -d"$duration" -s "$here/random_email.lua" "http://127.0.0.1:$2" \
    | grep '^RESULT' | sed "s/^RESULT/$1/"
}
echo "wrk -t$wthreads -c$conns -d$duration over $n random emails; servers with $sthreads threads/workers"
echo "response bytes for one customer: c360 $c_size, nginx $n_size"
c=$(run c360 "$cport")
g=$(run nginx "$nport")
echo "$c"
echo "$g"
crps=$(sed 's/.*rps=\([0-9]*\).*/\1/' <<<"$c")
grps=$(sed 's/.*rps=\([0-9]*\).*/\1/' <<<"$g")
cp99=$(sed 's/.*p99_ms=\([0-9.]*\).*/\1/' <<<"$c")
python3 - "$crps" "$grps" "$cp99" <<'PY'
import sys
c, g, p = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
r = c / g if g else 0
print(f"ratio c360/nginx = {r:.2f}x (target >= 0.5x: {'met' if r >= 0.5 else 'NOT met'}); "
      f"c360 p99 = {p:.2f} ms (target < 5 ms: {'met' if p < 5 else 'NOT met'})")
PY
