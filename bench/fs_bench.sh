#!/usr/bin/env bash
# Issue 3's speed figures, through a real mount of the 110M-shape F32 model:
#  (a) open+read+close of a finished ~2 KB completion through the mount
#      against the same bytes on tmpfs (/dev/shm): median and p99 latency
#      of ITER iterations (alternating, one C loop), and their ratios;
#  (b) tokens per second through the mount (`cat` of a streaming
#      completion, 128 tokens, timed from the prompt's write to cat's EOF)
#      against `llmfs-run` on the same model and prompt (its total_ms: prefill
#      + decode, model load excluded); medians of RUNS alternating runs and
#      the ratio (target >= 0.97); the same for decode only;
#  (c) latency of reading stats/latency (open+read+close, and a real `cat`
#      process) idle and while 16 generations run.
#   RUNS=5 ITER=2000 THREADS=2 bash bench/fs_bench.sh
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
RUNS=${RUNS:-5}
ITER=${ITER:-2000}
THREADS=${THREADS:-2}
N_GEN=128
PROMPT=${PROMPT:-Once upon a time}

bench_require fs_bench llmfs llmfs-run llmfs-mkmodel llmfs-bench
MODEL=$(bench_model f32)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/llmfs-fsbench.XXXXXX")
shm=$(mktemp -d /dev/shm/llmfs-fsbench.XXXXXX)
M=$tmp/mnt
mkdir -p "$M"
bgpid=""
cleanup() {
    if [ -n "$bgpid" ]; then kill "$bgpid" 2>/dev/null || true; fi
    if mountpoint -q "$M" 2>/dev/null; then
        fusermount3 -u "$M" 2>/dev/null || { sleep 0.5; fusermount3 -uz "$M" 2>/dev/null; }
    fi
    rm -rf "$tmp" "$shm"
}
trap cleanup EXIT

# ---- a tiny C timing loop: open + read to EOF + close, alternating paths
cat > "$tmp/fsloop.c" <<'C'
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
static double now_us(void) {
    struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}
static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y;
}
int main(int argc, char **argv) {   /* fsloop N PATH... */
    if (argc < 3) { fprintf(stderr, "usage: fsloop N PATH...\n"); return 2; }
    int n = atoi(argv[1]), np = argc - 2, warm = n / 10;
    static char buf[1 << 16];
    double *v = malloc(sizeof(double) * (size_t)n * (size_t)np);
    long long bytes[64] = {0};
    for (int i = -warm; i < n; i++)
        for (int p = 0; p < np; p++) {
            double t0 = now_us();
            int fd = open(argv[2 + p], O_RDONLY);
            if (fd < 0) { perror(argv[2 + p]); return 1; }
            ssize_t r; long long got = 0;
            while ((r = read(fd, buf, sizeof buf)) > 0) got += r;
            close(fd);
            double t1 = now_us();
            if (r < 0) { perror(argv[2 + p]); return 1; }
            if (i >= 0) { v[(size_t)p * n + i] = t1 - t0; bytes[p] = got; }
        }
    for (int p = 0; p < np; p++) {
        double *w = v + (size_t)p * n, s = 0;
        qsort(w, (size_t)n, sizeof *w, cmp);
        for (int i = 0; i < n; i++) s += w[i];
        printf("%s %lld %.2f %.2f %.2f %.2f\n", argv[2 + p], bytes[p], w[(n - 1) / 2],
               w[(int)(0.99 * n + 0.999999) - 1], s / n, w[n - 1]);
    }
    return 0;
}
C
${CC:-cc} -O2 -o "$tmp/fsloop" "$tmp/fsloop.c"

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'; }
field() { awk -v k="$1" '$1 == k { print $2 }' "$2"; }
# row NAME COLUMN: a column of NAME's row in stats/requests
row() {
    awk -F, -v n="$1" -v c="$2" 'NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next }
        $1 == n { v = $(h[c]) } END { print v }' "$M/stats/requests"
}
now_us() { echo "${EPOCHREALTIME/./}"; }   # bash 5: no fork

# Response cache off (every run must generate), KV room for 16 x 261 tokens.
"$BIN/llmfs" --model "$MODEL" -o "threads=$THREADS,cache.l1_mb=0,cache.l2_mb=0,cache.kv_mb=512" "$M"
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cpus; model $(basename "$MODEL"); $THREADS threads"

# ---- (a) a finished ~2 KB completion, through the mount and on tmpfs
printf -- '---\nmax_tokens: 700\n---\n%s\n' "$PROMPT" > "$M/prompts/two-kb"
cat "$M/completions/two-kb" > "$shm/two-kb"
size=$(stat -c %s "$shm/two-kb")
[ "$size" -ge 1500 ] || echo "# warning: the completion is only $size bytes" >&2
"$tmp/fsloop" "$ITER" "$M/completions/two-kb" "$shm/two-kb" > "$tmp/a"
read -r _ a_bytes a_med a_p99 a_mean a_max < <(sed -n 1p "$tmp/a")
read -r _ t_bytes t_med t_p99 t_mean t_max < <(sed -n 2p "$tmp/a")
[ "$a_bytes" = "$t_bytes" ] || echo "# warning: read $a_bytes bytes via the mount, $t_bytes on tmpfs" >&2

# ---- (b) tokens/s: cat of a streaming completion vs llmfs-run
: > "$tmp/mnt_tps"; : > "$tmp/run_tps"; : > "$tmp/mnt_dec"; : > "$tmp/run_dec"
gens=""
via_mount() {   # via_mount R: one timed cat through the mount
    local name=tps-$1 t0 t1 tf gen
    t0=$(now_us)
    printf -- '---\nmax_tokens: %d\nseed: %d\n---\n%s\n' "$N_GEN" "$1" "$PROMPT" > "$M/prompts/$name"
    cat "$M/completions/$name" | { IFS= read -r -n1 _ || true; now_us > "$tmp/first"; cat > /dev/null; }
    t1=$(now_us)
    gen=$(row "$name" generated_tokens)
    gens+="$gen "
    tf=$(cat "$tmp/first")
    awk -v g="$gen" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", g / ((b - a) / 1e6) }' >> "$tmp/mnt_tps"
    awk -v g="$gen" -v a="$tf" -v b="$t1" 'BEGIN { printf "%.3f\n", (g - 1) / ((b - a) / 1e6) }' >> "$tmp/mnt_dec"
    rm -f "$M/prompts/$name"
}
via_run() {     # via_run R: one llmfs-run with the same prompt and parameters
    local rg
    "$BIN/llmfs-run" --model "$MODEL" -p "$PROMPT" -n "$N_GEN" --temp 0 --seed "$1" \
        --threads "$THREADS" --stats > /dev/null 2> "$tmp/run"
    rg=$(field generated_tokens "$tmp/run")
    awk -v g="$rg" -v t="$(field total_ms "$tmp/run")" 'BEGIN { printf "%.3f\n", g / (t / 1e3) }' >> "$tmp/run_tps"
    field decode_tok_s "$tmp/run" >> "$tmp/run_dec"
}
for ((r = 0; r < RUNS; r++)); do   # alternating which goes first
    if ((r % 2)); then via_run "$r"; via_mount "$r"; else via_mount "$r"; via_run "$r"; fi
done
m_tps=$(median < "$tmp/mnt_tps"); r_tps=$(median < "$tmp/run_tps")
m_dec=$(median < "$tmp/mnt_dec"); r_dec=$(median < "$tmp/run_dec")

# ---- (c) stats/latency: idle, then while 16 generations run
"$tmp/fsloop" "$ITER" "$M/stats/latency" > "$tmp/c_idle"
cat_loop() {   # cat_loop N: µs per `cat stats/latency` process, one per line
    local i a b
    for ((i = 0; i < $1; i++)); do
        a=${EPOCHREALTIME/./}; cat "$M/stats/latency" > /dev/null; b=${EPOCHREALTIME/./}
        echo $(( b - a ))
    done
}
cat_loop 100 > "$tmp/cat_idle"
"$BIN/llmfs-bench" -m "$M" -c 16 -n 16 --max-tokens 256 -q > "$tmp/load" 2>&1 &
bgpid=$!
for _ in $(seq 100); do
    [ "$(field requests_running "$M/stats/metrics")" = 16 ] && break
    sleep 0.1
done
run0=$(field requests_running "$M/stats/metrics")
"$tmp/fsloop" "$ITER" "$M/stats/latency" > "$tmp/c_load"
cat_loop 100 > "$tmp/cat_load"
run1=$(field requests_running "$M/stats/metrics")
wait "$bgpid" || true
bgpid=""
read -r _ _ ci_med ci_p99 _ _ < "$tmp/c_idle"
read -r _ _ cl_med cl_p99 _ _ < "$tmp/c_load"
pc() { sort -n | awk -v p="$1" '{ v[NR] = $1 } END { k = int(p / 100 * NR + 0.999999); if (k < 1) k = 1; print v[k] }'; }

echo
echo "(a) open+read+close of a finished completion ($a_bytes bytes), $ITER iterations, µs"
printf '%-22s %10s %10s %10s %10s\n' "" median p99 mean max
printf '%-22s %10s %10s %10s %10s\n' "through the mount" "$a_med" "$a_p99" "$a_mean" "$a_max"
printf '%-22s %10s %10s %10s %10s\n' "tmpfs (/dev/shm)" "$t_med" "$t_p99" "$t_mean" "$t_max"
printf '%-22s %10s %10s\n' "ratio mount/tmpfs" "$(ratio "$a_med" "$t_med")" "$(ratio "$a_p99" "$t_p99")"
echo
echo "(b) tokens/s, \"$PROMPT\", $N_GEN tokens (generated: $gens), median of $RUNS"
printf '%-22s %12s %12s\n' "" "end-to-end" "decode-only"
printf '%-22s %12.1f %12.1f\n' "cat through the mount" "$m_tps" "$m_dec"
printf '%-22s %12.1f %12.1f\n' "llmfs-run" "$r_tps" "$r_dec"
printf '%-22s %12s %12s   (target >= 0.97)\n' "ratio mount/run" "$(ratio "$m_tps" "$r_tps")" "$(ratio "$m_dec" "$r_dec")"
echo
echo "(c) reading stats/latency, ms (running generations: $run0 at start, $run1 at end of the loaded runs)"
printf '%-34s %10s %10s\n' "" median p99
printf '%-34s %10.3f %10.3f\n' "open+read+close, idle" "$(ratio "$ci_med" 1000)" "$(ratio "$ci_p99" 1000)"
printf '%-34s %10.3f %10.3f\n' "open+read+close, 16 generating" "$(ratio "$cl_med" 1000)" "$(ratio "$cl_p99" 1000)"
printf '%-34s %10.3f %10.3f\n' "cat process, idle" "$(ratio "$(median < "$tmp/cat_idle")" 1000)" "$(ratio "$(pc 99 < "$tmp/cat_idle")" 1000)"
printf '%-34s %10.3f %10.3f\n' "cat process, 16 generating" "$(ratio "$(median < "$tmp/cat_load")" 1000)" "$(ratio "$(pc 99 < "$tmp/cat_load")" 1000)"
fusermount3 -u "$M"
