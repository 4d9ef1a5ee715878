#!/usr/bin/env bash
# End to end: -Werror is off for a packager's plain cmake and on in every build
# of the project's own CI (Makefile), which also compiles a Release (-O3) build.
set -uo pipefail
src=${C360_SRC:?C360_SRC not set}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }

# a packager: plain `cmake -DCMAKE_BUILD_TYPE=Release`, configure only
if cmake -S "$src" -B "$dir/pkg" -DCMAKE_BUILD_TYPE=Release >"$dir/cmake.log" 2>&1; then
  cc=$dir/pkg/compile_commands.json
  if grep -q -- '-Werror' "$cc"; then bad "a plain cmake configure adds -Werror"
  else ok "no -Werror by default"; fi
  grep -q -- '-O3' "$cc" && ok "Release compiles with -O3" || bad "Release without -O3"
else
  bad "cmake configure failed: $(tail -5 "$dir/cmake.log")"
fi

# the project's builds: every cmake configure in the Makefile (but the fuzz
# build, clang's warnings differ) passes C360_WERROR, which is ON by default
mk=$(make -s -n -C "$src" BUILD="$dir/b" build build-release test-sanitize 2>&1)
n=$(grep -c 'cmake -S' <<<"$mk")
w=$(grep 'cmake -S' <<<"$mk" | grep -c -- '-DC360_WERROR=ON')
[ "$n" -eq 3 ] && [ "$w" -eq 3 ] && ok "make build, build-release, test-sanitize: -DC360_WERROR=ON" ||
  bad "Makefile cmake lines ($w of $n with -Werror): $mk"
grep 'cmake -S' <<<"$mk" | grep -q -- '-DCMAKE_BUILD_TYPE=Release' && ok "make build-release is Release" ||
  bad "no Release build in the Makefile: $mk"
grep -qx 'make build-release' "$src/.ci/run" && ok "CI compiles the Release build" ||
  bad ".ci/run does not run make build-release"

[ $fails -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
