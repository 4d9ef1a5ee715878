#!/usr/bin/env bash
# Every C source under src/ includes core/banned.h (git's banned.h habit), and no
# banned function is called anywhere in src/ or tools/.
set -u
root=${1:-.}
fail=0
while IFS= read -r f; do
  grep -q '#include "core/banned.h"' "$f" || { echo "missing #include \"core/banned.h\": $f"; fail=1; }
done < <(find "$root/src" -name '*.c')
if grep -rnE '\b(strcpy|strcat|sprintf|vsprintf|strtok|atoi|atol|gets)[[:space:]]*\(' "$root/src" "$root/tools" --include='*.c' --include='*.h' | grep -v 'core/banned.h'; then
  echo "banned function used (see core/banned.h)"; fail=1
fi
[ $fail -eq 0 ] && echo "lint_banned: ok"
exit $fail
