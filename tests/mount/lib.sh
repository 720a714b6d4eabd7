# Helpers for the mount tests: TAP-like "ok - NAME" / "not ok - NAME"
# lines, mounting llmfs into temporary directories that a trap unmounts,
# and a cached slow model for the streaming tests.
# Environment: BIN (programs, default bin), LLMFS_SHARED (default ../shared).
set -u
BIN=${BIN:-bin}
LLMFS_SHARED=${LLMFS_SHARED:-../shared}
MODEL=$LLMFS_SHARED/models/stories260K.gguf
T=$(mktemp -d "${TMPDIR:-/tmp}/llmfs-test.XXXXXX")
MOUNTS=()
FAILS=0
# Every daemon's default disk cache (~/.cache/llmfs) is the test's own.
export HOME=$T/home
mkdir -p "$HOME"
# -o options that turn the response cache off, for tests of generation
# itself (batching, streaming, scheduling), where a repeated prompt must
# be generated again.
NOCACHE=cache.l1_mb=0,cache.l2_mb=0
# A daemonized llmfs has no stderr: sanitizer reports go to files, which
# finish() turns into failures.
export ASAN_OPTIONS=${ASAN_OPTIONS:-log_path=$T/sanitizer}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-log_path=$T/sanitizer:print_stacktrace=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-log_path=$T/sanitizer}

ok()    { echo "ok - $1"; }
notok() { echo "not ok - $1${2:+: $2}"; FAILS=$((FAILS + 1)); }
# check NAME COMMAND...: ok when the command succeeds.
check() { local n=$1; shift; if "$@"; then ok "$n"; else notok "$n"; fi; }
skip()  { echo "ok - $1 # SKIP $2"; }

cleanup() {
    local m
    for m in "${MOUNTS[@]}"; do
        if mountpoint -q "$m" 2>/dev/null; then
            fusermount3 -u "$m" 2>/dev/null || { sleep 0.5; fusermount3 -uz "$m" 2>/dev/null; }
        fi
    done
    # background jobs of the test (cats, tails) end with the mount
    local j
    for j in $(jobs -p); do kill "$j" 2>/dev/null; done
    rm -rf "$T"
}
trap cleanup EXIT

# mount_llmfs DIR [llmfs args...]: mounts (daemonized); returns llmfs's status.
mount_llmfs() {
    local d=$1; shift
    mkdir -p "$d"
    MOUNTS+=("$d")
    "$BIN/llmfs" "$@" "$d"
}

umount_llmfs() {
    # the daemon finishes after the unmount (records being written, its
    # threads): wait until it has exited, so that a test sees what it left
    local pid rc
    pid=$(awk '$1 == "pid" { print $2 }' "$1/stats/engine" 2>/dev/null)
    fusermount3 -u "$1"; rc=$?
    [ "$rc" = 0 ] && [ -n "$pid" ] && wait_for 30 eval "! running $pid"
    return "$rc"
}
# running PID: the process exists and has not exited (a zombie has)
running() {
    local s
    s=$(ps -o stat= -p "$1" 2>/dev/null) && [ "${s#Z}" = "$s" ]
}

# now_ms: monotonic-enough wall clock in milliseconds.
now_ms() { date +%s%3N; }

# wait_for SECONDS COMMAND...: polls every 50 ms until the command succeeds.
wait_for() {
    local limit=$(( $(now_ms) + $1 * 1000 )); shift
    while ! "$@"; do
        [ "$(now_ms)" -ge "$limit" ] && return 1
        sleep 0.05
    done
}

# slow_model: prints the path of a 110M-shape F32 model (made once, cached).
slow_model() {
    local f=${TMPDIR:-/tmp}/llmfs-test-110m-f32.gguf
    if [ ! -s "$f" ]; then
        [ -x "$BIN/llmfs-mkmodel" ] || return 1
        "$BIN/llmfs-mkmodel" -o "$f.tmp.$$" --dim 768 --hidden 2048 --layers 12 --heads 12 \
            --kv-heads 12 --vocab 32000 --ctx 1024 --type f32 >/dev/null 2>&1 &&
            mv "$f.tmp.$$" "$f" || { rm -f "$f.tmp.$$"; return 1; }
    fi
    echo "$f"
}

# row_cache MOUNT NAME: the cache column (miss, l1, l2, joined, off) of
# the last stats/requests row of prompt NAME.
row_cache() {
    python3 -c '
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["name"] == sys.argv[2]]
print(rows[-1]["cache"] if rows else "")' "$1/stats/requests" "$2"
}

# metric FILE NAME: the value of "NAME value" in a stats file.
metric() { awk -v k="$2" '$1 == k { print $2 }' "$1"; }

# xattr_get PATH NAME: prints the value of an extended attribute.
xattr_get() {
    python3 -c 'import os, sys; sys.stdout.write(os.getxattr(sys.argv[1], sys.argv[2]).decode())' "$1" "$2"
}

finish() {
    local f
    for m in "${MOUNTS[@]}"; do mountpoint -q "$m" 2>/dev/null && fusermount3 -u "$m" 2>/dev/null; done
    sleep 0.2
    for f in "$T"/sanitizer.*; do
        [ -e "$f" ] || continue
        notok "sanitizer report from $(basename "$f")" "$(head -c 400 "$f" | tr '\n' ' ')"
    done
    exit $(( FAILS > 0 ))
}
