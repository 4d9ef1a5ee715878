# Sourced by the e2e scripts (not a test itself: ctest runs tests/e2e/*.sh):
# the binary and the source tree from ctest's environment, a scratch
# directory $dir removed at exit with the process in $pid killed, fail()
# counting failures, wait_until, and finish for the last line.
set -uo pipefail
BIN=${C360_BIN:?C360_BIN not set}
SRC=${C360_SRC:?C360_SRC not set}
dir=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$dir"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
# wait_until TRIES PAUSE COMMAND...: runs COMMAND until it succeeds, at most
# TRIES times PAUSE seconds apart; its status is the last run's
wait_until() {
  local tries=$1 pause=$2
  shift 2
  for _ in $(seq "$tries"); do
    "$@" && return 0
    sleep "$pause"
  done
  return 1
}
# finish: "NAME: ok" when nothing failed, else exit 1
finish() {
  [ "$fails" -eq 0 ] || exit 1
  echo "$(basename "$0" .sh): ok"
}
