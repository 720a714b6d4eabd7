#!/usr/bin/env bash
# How long a hostile prompt stalls another client's token stream: a reader
# follows a long generation of the 110M F32 model through the mount and
# records when each chunk of bytes arrives; meanwhile another client writes
# a front matter nested DEPTH deep (libyaml's cost grows with the square of
# the depth), then one with ALIASES aliases, and then ordinary prompts.
# Reported: the largest gap between chunks before the attack, during it,
# and how long the attacker's writes and a bystander's write took.
# Target: no gap above 100 ms caused by the attack.
#   DEPTH=100000 bash bench/hostile_bench.sh
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
DEPTH=${DEPTH:-100000}
ALIASES=${ALIASES:-100000}
THREADS=${THREADS:-2}

bench_require hostile_bench llmfs llmfs-mkmodel
MODEL=$(bench_model f32)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/llmfs-hostile.XXXXXX")
M=$tmp/mnt
mkdir -p "$M"
cleanup() {
    if mountpoint -q "$M" 2>/dev/null; then
        fusermount3 -u "$M" 2>/dev/null || { sleep 0.5; fusermount3 -uz "$M" 2>/dev/null; }
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
"$BIN/llmfs" --model "$MODEL" -o "threads=$THREADS,cache.l1_mb=0,cache.l2_mb=0,limits.max_prompt_bytes=16777216" "$M"

# the hostile texts
(printf -- '---\nstop: '; head -c "$DEPTH" /dev/zero | tr '\0' '['; printf '\n---\nhi\n') > "$tmp/deep"
python3 - "$tmp/alias" "$ALIASES" <<'EOF'
import sys
n = int(sys.argv[2])
open(sys.argv[1], "w").write("---\nstop: &a x\nmax_tokens: [" + "*a, " * n + "]\n---\nhi\n")
EOF

printf -- '---\nmax_tokens: 400\n---\nOnce upon a time\n' > "$M/prompts/stream"
python3 - "$M" "$tmp" <<'EOF'
import os, subprocess, sys, threading, time
m, tmp = sys.argv[1], sys.argv[2]
arrivals = []
def follow():
    fd = os.open(m + "/completions/stream", os.O_RDONLY)
    while True:
        b = os.read(fd, 65536)
        if not b:
            break
        arrivals.append(time.monotonic())
    os.close(fd)
t = threading.Thread(target=follow)
t.start()
time.sleep(1.0)
marks = {}
def timed_write(name, path, data):
    t0 = time.monotonic()
    try:
        with open(path, "wb") as f:
            f.write(data)
        ok = "accepted"
    except OSError as e:
        ok = "refused (%s)" % os.strerror(e.errno)
    return t0, time.monotonic() - t0, ok
results = []
for name in ("deep", "alias"):
    data = open(os.path.join(tmp, name), "rb").read()
    t0, dt, ok = timed_write(name, m + "/prompts/" + name, data)
    marks[name] = (t0, t0 + dt)
    results.append((name, dt, ok))
    t0b, dtb, okb = timed_write("bystander", m + "/prompts/bystander-" + name, b"Once upon a time\n")
    results.append(("bystander after " + name, dtb, okb))
    time.sleep(0.5)
t.join()
def max_gap(lo, hi):
    g = 0.0
    for a, b in zip(arrivals, arrivals[1:]):
        if b >= lo and a <= hi:
            g = max(g, b - a)
    return g
start = arrivals[0] if arrivals else 0
first_mark = min(v[0] for v in marks.values())
last_mark = max(v[1] for v in marks.values())
print("chunks %d over %.2f s" % (len(arrivals), arrivals[-1] - start if arrivals else 0))
print("max_gap_before_ms %.1f" % (1000 * max_gap(start, first_mark - 0.05)))
print("max_gap_during_attack_ms %.1f" % (1000 * max_gap(first_mark, last_mark)))
for name, dt, ok in results:
    print("%s_write_ms %.1f %s" % (name.replace(" ", "_"), 1000 * dt, ok))
EOF
