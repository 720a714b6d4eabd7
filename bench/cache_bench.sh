#!/usr/bin/env bash
# The response cache's speed through a real mount, one C timing loop per
# figure (medians and p99 of ITER iterations, microseconds):
#  (a) a hit: write the prompt (open O_TRUNC, write, close) then read
#      completions/NAME to EOF, against a re-read (open+read+close) of a
#      finished completion of the same size, and against the same bytes on
#      /dev/shm, in a C loop and by a `cat` process.  Targets: a hit <= 3x
#      the finished-completion read; a re-read <= 5x /dev/shm (finished
#      completions stay in the page cache and their names in the dentry
#      cache: a re-read is one round trip, the open).
#  (b) an L2 hit (cache.l1_mb=0, so every hit reads and decompresses the
#      record) of a ~4 KB and a ~64 KB completion.
#  (c) a miss: the time from the prompt's open to the first byte, for
#      distinct prompts with the cache on and with `cache: off` (no lookup,
#      nothing stored), with and without the disk tier; without it the
#      difference is what a lookup (and keeping the result in memory) costs
#      (target <= 20 us); with it, also what the disk writes (zstd, fsync)
#      of the previous misses take from the machine.
#   ITER=2000 bash bench/cache_bench.sh
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
SHARED=${LLMFS_SHARED:-$(cd .. && pwd)/shared}
ITER=${ITER:-2000}
bench_require cache_bench llmfs llmfs-mkmodel

# a tiny model with a long context, for long completions made quickly
LONG=$DIR/tiny-ctx32k-v32k.gguf
mkdir -p "$DIR"
[ -s "$LONG" ] || "$BIN/llmfs-mkmodel" -o "$LONG" --dim 64 --hidden 128 --layers 1 --heads 2 \
    --kv-heads 2 --vocab 32000 --ctx 32768 --type f32 --seed 3 >/dev/null
SMALL=$SHARED/models/stories260K.gguf

tmp=$(mktemp -d "${TMPDIR:-/tmp}/llmfs-cachebench.XXXXXX")
shm=$(mktemp -d /dev/shm/llmfs-cachebench.XXXXXX)
M=$tmp/mnt
mkdir -p "$M"
cleanup() {
    if mountpoint -q "$M" 2>/dev/null; then fusermount3 -u "$M" 2>/dev/null || fusermount3 -uz "$M"; fi
    rm -rf "$tmp" "$shm"
}
trap cleanup EXIT
export HOME=$tmp/home        # a fresh disk cache (~/.cache/llmfs)
mkdir -p "$HOME"

cat > "$tmp/cacheloop.c" <<'C'
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
static double now_us(void) {
    struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}
static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y;
}
static char buf[1 << 17];
static long long slurp(const char *path, double *first) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) { perror(path); exit(1); }
    ssize_t r; long long got = 0;
    while ((r = read(fd, buf, sizeof buf)) > 0) { if (!got && first) *first = now_us(); got += r; }
    if (r < 0) { perror(path); exit(1); }
    close(fd);
    return got;
}
static void put(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) { perror(path); exit(1); }
    if (close(fd)) { perror(path); exit(1); }
}
static void report(const char *name, double *v, int n, long long bytes) {
    qsort(v, (size_t)n, sizeof *v, cmp);
    printf("%s %lld %.2f %.2f\n", name, bytes, v[(n - 1) / 2], v[(int)(0.99 * n + 0.999999) - 1]);
}
/* cacheloop read N PATH            open + read to EOF + close
 * cacheloop hit N PROMPT COMPLETION PROMPTTEXT
 *                                  write the prompt, read the completion
 * cacheloop ttft N PROMPTDIR COMPLETIONDIR HEAD
 *                                  distinct prompts: open of the prompt to
 *                                  the first byte of the completion */
int main(int argc, char **argv) {
    if (argc < 4) return 2;
    int n = atoi(argv[2]), warm = n / 10;
    double *v = malloc(sizeof(double) * (size_t)n);
    long long bytes = 0;
    char path[4096], text[8192];
    for (int i = -warm; i < n; i++) {
        double t0 = now_us(), t1, first = 0;
        if (!strcmp(argv[1], "read")) {
            bytes = slurp(argv[3], NULL);
            t1 = now_us();
        } else if (!strcmp(argv[1], "hit")) {
            put(argv[3], argv[5]);
            bytes = slurp(argv[4], NULL);
            t1 = now_us();
        } else {
            snprintf(path, sizeof path, "%s/t%d", argv[3], i + warm);
            snprintf(text, sizeof text, "%s %d\n", argv[5], i + warm);
            t0 = now_us();
            put(path, text);
            snprintf(path, sizeof path, "%s/t%d", argv[4], i + warm);
            bytes = slurp(path, &first);
            t1 = first;
        }
        if (i >= 0) v[i] = t1 - t0;
    }
    report(argv[1], v, n, bytes);
    return 0;
}
C
${CC:-cc} -O2 -o "$tmp/cacheloop" "$tmp/cacheloop.c"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cpus"

# ---- (a) hit vs finished re-read vs /dev/shm (~2 KB)
"$BIN/llmfs" --model "$LONG" "$M"
P2='---
max_tokens: 500
---
Once upon a time'
printf '%s\n' "$P2" > "$M/prompts/a"
cat "$M/completions/a" > "$shm/a"
"$tmp/cacheloop" hit "$ITER" "$M/prompts/h" "$M/completions/h" "$P2" > "$tmp/hit"
"$tmp/cacheloop" read "$ITER" "$M/completions/a" > "$tmp/reread"
"$tmp/cacheloop" read "$ITER" "$shm/a" > "$tmp/shm"
read -r _ hb hmed hp99 < "$tmp/hit"; read -r _ rb rmed rp99 < "$tmp/reread"; read -r _ sb smed sp99 < "$tmp/shm"
rows=$(grep -c ',l1,' "$M/stats/requests" || true)
echo "(a) completion of $hb bytes ($rows l1 rows):"
echo "    hit (write prompt + read completion): median $hmed us, p99 $hp99 us"
echo "    re-read of a finished completion:     median $rmed us, p99 $rp99 us"
echo "    same bytes on /dev/shm:                median $smed us, p99 $sp99 us"
echo "    hit / re-read = $(ratio "$hmed" "$rmed") (target <= 3); re-read / shm = $(ratio "$rmed" "$smed") (target <= 5)"
# the same re-read by a `cat` process, as a shell user does it
catloop() {   # catloop N FILE: median microseconds of N `cat FILE > /dev/null`
    local i t0 t1
    for ((i = 0; i < $1; i++)); do
        t0=${EPOCHREALTIME/./}; cat "$2" > /dev/null; t1=${EPOCHREALTIME/./}
        echo $((t1 - t0))
    done | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
cm=$(catloop 200 "$M/completions/a"); cs=$(catloop 200 "$shm/a")
echo "    a cat process: re-read $cm us, /dev/shm $cs us: $(ratio "$cm" "$cs")x"
fusermount3 -u "$M"

# ---- (b) L2 hits: no L1, so every hit reads the record from disk
"$BIN/llmfs" --model "$LONG" -o cache.l1_mb=0 "$M"
for size in 4k:1170 64k:18500; do
    name=${size%%:*}; toks=${size#*:}
    P="---
max_tokens: $toks
---
The long story $name"
    printf '%s\n' "$P" > "$M/prompts/l$name"
    cat "$M/completions/l$name" > /dev/null
    sleep 0.5              # the record is written on the cache's worker thread
    "$tmp/cacheloop" hit $((ITER / 4)) "$M/prompts/h$name" "$M/completions/h$name" "$P" > "$tmp/l2$name"
    read -r _ b med p99 < "$tmp/l2$name"
    echo "(b) L2 hit of a $b-byte completion: median $med us, p99 $p99 us ($(grep -c ",l2," "$M/stats/requests" || true) l2 rows so far)"
done
grep -E '^l2_(entries|bytes|compression_ratio) ' "$M/stats/cache" | sed 's/^/    /'
fusermount3 -u "$M"

# ---- (c) the cost of a lookup on a miss (first byte after close)
for l2 in 0 1024; do
    "$BIN/llmfs" --model "$SMALL" -o generation.max_tokens=1,cache.l2_mb=$l2 "$M"
    on=() off=()
    for r in 1 2 3; do
        "$tmp/cacheloop" ttft $((ITER / 4)) "$M/prompts" "$M/completions" "The cat $l2 $r" > "$tmp/on"
        "$tmp/cacheloop" ttft $((ITER / 4)) "$M/prompts" "$M/completions" "---
cache: off
---
The dog $l2 $r" > "$tmp/off"
        on+=("$(awk '{print $3}' "$tmp/on")"); off+=("$(awk '{print $3}' "$tmp/off")")
    done
    fusermount3 -u "$M"
    mon=$(printf '%s\n' "${on[@]}" | sort -g | sed -n 2p); moff=$(printf '%s\n' "${off[@]}" | sort -g | sed -n 2p)
    echo "(c) miss, prompt open to first byte, cache.l2_mb=$l2: cache on $mon us, cache off $moff us (medians of 3 runs' medians): $(awk -v a="$mon" -v b="$moff" 'BEGIN { printf "%+.1f", a - b }') us"
done
