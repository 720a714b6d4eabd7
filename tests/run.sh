#!/usr/bin/env bash
# Runs every unit test binary and every shell test; counts "ok"/"not ok"
# lines, and "ok - NAME # SKIP why" lines apart (a skipped check passed
# nothing).  A program that dies without reporting counts as one failure.
# The last line is always "N passed, N failed, N skipped".  With TIMES set,
# each test's wall time goes to stderr.
set -u
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
TESTBIN=${TESTBIN:-build/tests}
export BIN TESTBIN LLMFS_SHARED=${LLMFS_SHARED:-$(cd .. && pwd)/shared}
pass=0 fail=0 skipped=0
only=${1:-}
run_one() {
    local name=$1; shift
    local out rc t0=$SECONDS
    out=$("$@" 2>&1); rc=$?
    [ -n "${TIMES:-}" ] && echo "# $name took $((SECONDS - t0)) s" >&2
    local p f k
    k=$(grep -c '^ok - .*# SKIP' <<<"$out")
    p=$(( $(grep -c '^ok - ' <<<"$out") - k ))
    f=$(grep -c '^not ok - ' <<<"$out")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; out+=$'\n'"not ok - $name exited with status $rc"; fi
    if [ "$f" -ne 0 ] || [ -n "${VERBOSE:-}" ]; then printf '%s\n' "$out"; else grep -E '^(ok|not ok) - ' <<<"$out"; fi
    pass=$((pass + p)); fail=$((fail + f)); skipped=$((skipped + k))
}
for t in "$TESTBIN"/test_*; do
    [ -x "$t" ] || continue
    case "$t" in *.o|*.d) continue;; esac
    [ -n "$only" ] && [[ "$t" != *"$only"* ]] && continue
    echo "# $t"
    run_one "$(basename "$t")" "$t"
done
for t in tests/test_*.sh tests/mount/test_*.sh; do
    [ -f "$t" ] || continue
    [ -n "$only" ] && [[ "$t" != *"$only"* ]] && continue
    echo "# $t"
    run_one "$(basename "$t")" bash "$t"
done
echo "$pass passed, $fail failed, $skipped skipped"
[ "$fail" -eq 0 ]
