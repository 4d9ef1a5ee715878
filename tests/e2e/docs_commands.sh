#!/usr/bin/env bash
# End to end: every command in the ```sh blocks of README.md and docs/*.md,
# and every whole command quoted inline in their prose (one naming a file of
# the repository, no placeholders), runs as written, so a command the docs
# show that breaks fails this test.
#
# Each block runs as one bash script (its lines share variables, files and
# background processes, as in a user's terminal) in its own scratch folder
# holding links to the repository's folders (functions/, tests/, examples/ …),
# with a fresh store ($C360_STORE, not created), the build's binaries first on
# PATH, and its own network namespace when `unshare -n` is allowed (so the
# fixed ports the docs show, 8080, 8091, 8360, are free). A command that exits
# non-zero fails the test, naming the file and line. Lines are handled by
# rule, not by position, so editing a doc does not break this test unless a
# command in it breaks:
#   - a synopsis (`[options]`, `[--flag …]` notation) is not a command: skipped;
#   - a daemon (serve, mock store, kafka-mock, run without --once, feed
#     --follow, import watch, function/integrate run without --exit-when-idle,
#     kafka-sink without --exit-at-end) is started in the background (as the
#     docs' `&` lines are), must come up (its --port / --port-file /
#     --bootstrap-file, serve's 8360), and is stopped when the block ends;
#   - the SKIP list below, each with its reason, and any block right under a
#     `<!-- docs-test: skip REASON -->` line (invisible once rendered), for
#     commands that need what a test does not have (a real Kafka cluster);
#   - inputs the docs assume on the user's machine are generated (SUBST).
set -uo pipefail
BIN=${C360_BIN:?C360_BIN not set}
SRC=${C360_SRC:?C360_SRC not set}
BUILD=$(cd "$(dirname "$BIN")" && pwd)
dir=$(mktemp -d); [ -z "${KEEP:-}" ] || echo "scratch: $dir"
trap '[ -n "${KEEP:-}" ] || rm -rf "$dir"' EXIT
export PATH="$BUILD:$PATH"
unset C360_STORE

# Lines not run, as bash glob patterns on the command line, with the reason.
SKIP=(
  'make demo*|builds and runs the whole demo, serving until stopped (e2e/demo runs c360 demo)'
  'make test*|is this test suite'
  'make bench*|the benchmarks take minutes (bench/, not a test)'
  'scripts/deps.sh*|installs Debian packages'
  'cmake *|a build of its own (this test uses the build under test)'
)
# Inputs the docs assume on the user's machine: TEXT|REPLACEMENT (in the
# block's scratch folder $W), and the files the replacement needs.
SUBST=(
  'file:///data/|file://$W/data/'
)
make_inputs() { # $1 = a block's scratch folder
  mkdir -p "$1/data"
  printf 'id,password,firstName,lastName,email,points\n27,xrinn5xp.swd,Matthew,Groves,matthew.groves@couchbase.com,47\n' \
    >"$1/data/loyalty_members.csv"
}

netns=()
if unshare -n true 2>/dev/null && command -v ip >/dev/null; then
  netns=(unshare -n)
else
  echo "note: no network namespace (unshare -n): the docs' fixed ports must be free"
fi

# ---- extract the blocks into one script each ----
python3 - "$SRC" "$dir" "${SKIP[@]}" -- "${SUBST[@]}" <<'PY' || { echo "FAIL: extraction"; exit 1; }
import fnmatch, glob, os, re, shlex, sys
src, out = sys.argv[1], sys.argv[2]
rest = sys.argv[3:]
sep = rest.index("--")
skips = [s.split("|", 1) for s in rest[:sep]]
substs = [s.split("|", 1) for s in rest[sep + 1:]]
files = ["README.md"] + sorted(os.path.relpath(p, src) for p in glob.glob(os.path.join(src, "docs", "*.md")))

def words(line):
    """Shell words of line, comments dropped; None when it does not lex."""
    try:
        lx = shlex.shlex(line, posix=True, punctuation_chars=True)
        lx.whitespace_split = True
        lx.commenters = "#"
        return list(lx)
    except ValueError:
        return None

def unquoted(line):
    return re.sub(r"'[^']*'|\"(\\.|[^\"\\])*\"", "''", line)

def is_synopsis(line):
    return re.search(r"\[(-|[a-zA-Z])", unquoted(line.split(" #")[0])) is not None

def daemon(w):
    """A long-running command's readiness check, or None."""
    if not w:
        return None
    cmd = " ".join(x for x in w if x != "&")
    def opt(*names):
        for i, x in enumerate(w):
            for n in names:
                if x == n and i + 1 < len(w):
                    return w[i + 1]
                if x.startswith(n + "="):
                    return x[len(n) + 1:]
        return None
    runs = lambda *a: re.search(r"(^|\s)" + r"\s+".join(map(re.escape, a)) + r"(\s|$)", cmd)
    if not (runs("c360", "serve") or runs("c360-mock-store") or runs("c360", "kafka-mock")
            or (runs("c360", "run") and "--once" not in w)
            or (runs("c360", "feed") and ("--follow" in w or "-f" in w))
            or runs("c360", "import", "watch")
            or ((runs("c360", "function", "run") or runs("c360", "integrate", "run"))
                and "--exit-when-idle" not in w)
            or (runs("c360", "kafka-sink") and "--exit-at-end" not in w and "-e" not in w)):
        return None
    f = opt("--port-file", "--bootstrap-file")
    if f:
        return "file " + shlex.quote(f)
    p = opt("--port", "-p")
    if p is None and runs("c360", "serve"):
        p = "8360"
    if p and p.isdigit() and p != "0":
        return "port " + p
    return "alive"

def complete_inline(span):
    """An inline `c360 …` of the prose that is a whole command: no
    placeholder (an upper-case word, `…`, `|`, `[`), and naming a file of
    the repository (`c360 function deploy x --native functions/x.yaml`).
    Names (`c360 serve`) and fragments (`--expiry 25h`) are not run."""
    if re.search(r"[\u2026|\[<>]", span):
        return False
    w = words(span)
    if not w or any(re.fullmatch(r"[A-Z][A-Z0-9_]+(\.[a-z]+)?", x) for x in w):
        return False
    return any("/" in x and os.path.exists(os.path.join(src, x)) for x in w[1:])

n = 0
def emit(sh, run):
    global n
    # ends in `:` so a failure is reported once, by the ERR trap inside
    # (not by `source` again; `source … || :` would turn the trap off)
    with open(os.path.join(out, "block%03d.sh" % n), "w") as f:
        f.write("\n".join(sh) + "\n:\n")
    with open(os.path.join(out, "block%03d.count" % n), "w") as f:
        f.write("%d\n" % run)

for rel in files:
    path = os.path.join(src, rel)
    lines = open(path, encoding="utf-8").read().split("\n")
    # inline commands of the prose, each a block of its own
    fence = False
    for no, text in enumerate(lines, 1):
        if text.startswith("```"):
            fence = not fence
            continue
        if fence:
            continue
        for m in re.finditer(r"`((?:c360|cbimport)[ -][^`]*)`", text):
            if complete_inline(m.group(1)):
                n += 1
                loc = "%s:%d" % (rel, no)
                emit(["# %s (inline)" % loc, "__at %s %s" % (shlex.quote(loc), shlex.quote(m.group(1))),
                      m.group(1)], 1)
    i = 0
    while i < len(lines):
        if not re.match(r"^```(sh|bash|shell)\s*$", lines[i]):
            i += 1
            continue
        start = i + 1
        # <!-- docs-test: skip REASON --> right above a block: not run
        prev = next((l for l in reversed(lines[:i]) if l.strip()), "")
        m = re.match(r"\s*<!--\s*docs-test:\s*skip\s*(.*?)\s*-->", prev)
        optout = m.group(1) or "marked in the doc" if m else None
        i += 1
        body = []
        while i < len(lines) and not lines[i].startswith("```"):
            body.append((i + 1, lines[i]))
            i += 1
        i += 1
        # logical lines: a trailing backslash continues the line
        cmds, cur, at = [], "", 0
        for no, text in body:
            if not cur:
                at = no
            if text.rstrip().endswith("\\"):
                cur += text.rstrip()[:-1] + " "
                continue
            cur += text
            if cur.strip() and not cur.strip().startswith("#"):
                cmds.append((at, cur.strip()))
            cur = ""
        n += 1
        where = "%s:%d" % (rel, start)
        sh = ["# " + where, "__block=%s" % shlex.quote(where)]
        run = 0
        for no, cmd in cmds:
            loc = "%s:%d" % (rel, no)
            reason = optout
            for pat, why in skips:
                if fnmatch.fnmatchcase(cmd, pat):
                    reason = why
            if reason is None and is_synopsis(cmd):
                reason = "a synopsis ([options] notation), not a command"
            if reason is None and "<<" in unquoted(cmd):
                reason = "a here-document (not supported by this test)"
            if reason:
                sh.append("__skip %s %s %s" % (shlex.quote(loc), shlex.quote(cmd), shlex.quote(reason)))
                continue
            for a, b in substs:
                cmd = cmd.replace(a, b)
            w = words(cmd)
            d = daemon(w)
            sh.append("__at %s %s" % (shlex.quote(loc), shlex.quote(cmd)))
            if d:
                bg = cmd if (w and w[-1] == "&") else None
                if bg is None:
                    # a foreground daemon in the docs: run it in the background
                    c = re.sub(r"\s+#.*$", "", cmd) if w is not None else cmd
                    bg = c + " &"
                sh.append(bg)
                sh.append("__daemon $! %s" % d)
            else:
                sh.append(cmd)
            run += 1
        emit(sh, run)
PY

# ---- run them ----
# The prelude of every block: failures are reported by the ERR trap (each
# failing command, `a; b` included), daemons are waited for and stopped.
cat >"$dir/prelude.sh" <<'EOF'
set -o pipefail
__where=; __cmd=; __pids=()
__fail() { echo "FAIL $__where: $*"; echo x >>"$W/.fails"; }
__at() { __where=$1; __cmd=$2; echo "$1: $2" >"$W/.progress"; }
__skip() { echo "skip $1: $2 ($3)"; }
__daemon() { # PID file F | port N | alive
  local pid=$1 how=$2 arg=${3:-}
  __pids+=("$pid")
  local i
  for i in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid"; __fail "daemon exited ($?): $__cmd"; return; }
    case $how in
      file) [ -s "$arg" ] && return ;;
      port) (exec 3<>"/dev/tcp/127.0.0.1/$arg") 2>/dev/null && return ;;
      alive) [ "$i" -ge 10 ] && return ;;
    esac
    sleep 0.1
  done
  __fail "daemon did not come up ($how $arg) in 10 s: $__cmd"
}
__stop() { for p in "${__pids[@]}"; do kill "$p" 2>/dev/null; done
           for p in "${__pids[@]}"; do wait "$p" 2>/dev/null; done; }
trap '__fail "exit $?: $__cmd"' ERR
trap '__stop' EXIT
EOF

fails=0
covered=0
skipped=0
for s in "$dir"/block*.sh; do
  b=${s%.sh}
  W=$b.d
  mkdir -p "$W"
  for e in "$SRC"/*/; do
    e=${e%/}
    case $(basename "$e") in build*) continue ;; esac
    ln -s "$e" "$W/$(basename "$e")"
  done
  make_inputs "$W"
  where=$(sed -n '1s/^# //p' "$s")
  count=$(cat "$b.count")
  out=$( cd "$W" && W="$W" C360_STORE="$W/c360.db" timeout -k 5 120 "${netns[@]}" bash -c \
    '[ -z "$1" ] || ip link set lo up; source "$W/../prelude.sh"; source "$2"' _ "${netns[*]}" "$s" 2>&1 )
  rc=$?
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    echo "$out" | grep -E '^(FAIL|skip)' ; echo "FAIL $where: timed out (120 s) at $(cat "$W/.progress" 2>/dev/null)"
    fails=$((fails + 1))
    continue
  fi
  echo "$out" | grep -E '^skip' ; skipped=$((skipped + $(echo "$out" | grep -c '^skip')))
  if [ -s "$W/.fails" ]; then
    echo "$out" | grep -E '^FAIL'
    echo "--- output of $where:"; echo "$out" | grep -vE '^(FAIL|skip)' | tail -20
    fails=$((fails + 1))
  elif [ "$count" -gt 0 ]; then
    echo "ok   $where: $count command(s) ran"
    covered=$((covered + count))
  else
    echo "ok   $where: nothing to run"
  fi
done
echo "$covered command(s) of the docs ran, $skipped skipped"
[ $fails -eq 0 ] || { echo "$fails block(s) failed"; exit 1; }
