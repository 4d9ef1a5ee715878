#!/usr/bin/env bash
# Installs the Debian packages c360 needs to build, test and benchmark.
# Idempotent: a quick no-op when everything is already installed.
#   scripts/deps.sh            build + test packages
#   scripts/deps.sh --bench    also the benchmark peers (jansson, cJSON, wrk, nginx)
#   scripts/deps.sh --browser  also Chromium + Node.js for the dashboard tests
set -euo pipefail

BUILD=(build-essential cmake pkg-config git
       libsqlite3-dev librdkafka-dev libcsv-dev libcurl4-openssl-dev
       libmicrohttpd-dev duktape-dev libfyaml-dev libsodium-dev libzstd-dev)
TEST=(sqlite3 kcat clang libclang-rt-14-dev curl python3 procps time)
BENCH=(libjansson-dev libcjson-dev wrk nginx-light hyperfine bc nodejs time)
BROWSER=(chromium nodejs npm)

want=("${BUILD[@]}" "${TEST[@]}")
for a in "$@"; do
  case "$a" in
    --bench) want+=("${BENCH[@]}") ;;
    --browser) want+=("${BROWSER[@]}") ;;
    --all) want+=("${BENCH[@]}" "${BROWSER[@]}") ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "deps.sh: unknown option '$a'" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
# node may come from outside Debian on some machines: accept any working node/npm
if [[ " ${missing[*]} " == *" nodejs "* || " ${missing[*]} " == *" npm "* ]] && command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
clean=(); for p in "${missing[@]}"; do [ -n "$p" ] && clean+=("$p"); done
[ ${#clean[@]} -eq 0 ] && exit 0

SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "deps.sh: installing ${clean[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${clean[@]}" >/dev/null
