#!/usr/bin/env bash
# The shipped load scenarios through a real mount: each of SCENARIOS (from
# bench/scenarios/) with llmfs-bench run, its summary and SLA lines, its
# per-request CSV and JSON, and its SVG plots in OUT/NAME/.  The mount
# serves the 110M F32 model (MODEL=... for another) with THREADS threads;
# the response cache is off except for cache-mix, which is about it.
#   SCENARIOS="smoke ramp cache-mix" OUT=bench/out bash bench/load_bench.sh
set -u
cd "$(dirname "$0")/.."
. bench/lib.sh
bench_require load_bench llmfs llmfs-bench llmfs-mkmodel
MODEL=${MODEL:-$(bench_model f32)}
OUT=${OUT:-bench/out}
THREADS=${THREADS:-2}
SCENARIOS=${SCENARIOS:-smoke ramp cache-mix}
mnt=$(mktemp -d "${TMPDIR:-/tmp}/llmfs-load.XXXXXX")
trap 'fusermount3 -u "$mnt" 2>/dev/null; rmdir "$mnt"' EXIT
echo "# model $MODEL, $THREADS threads; results in $OUT/"
status=0
for s in $SCENARIOS; do
    f=bench/scenarios/$s.yaml
    [ -f "$f" ] || { echo "load_bench: no $f" >&2; exit 2; }
    cache=cache.l1_mb=0,cache.l2_mb=0
    [ "$s" = cache-mix ] && cache=cache.l1_mb=64,cache.l2_mb=0
    "$BIN/llmfs" --model "$MODEL" "$mnt" -o "threads=$THREADS,$cache" || exit 1
    mkdir -p "$OUT/$s"
    echo "# $s ($cache)"
    "$BIN/llmfs-bench" run "$f" -m "$mnt" --csv "$OUT/$s/requests.csv" --json "$OUT/$s/summary.json" \
        --svg "$OUT/$s" > "$OUT/$s/summary.txt"
    rc=$?
    grep -E '^(requests|errors|requests_per_s|tokens_per_s|cache_hit_ratio|ttft_ms_p95|e2e_ms_p95|bottleneck|daemon_cpu_s|cpu_s_per_1k_tokens|sla) ' \
        "$OUT/$s/summary.txt"
    [ "$rc" -eq 0 ] || { echo "# $s: exit $rc (an SLA criterion failed)"; status=1; }
    fusermount3 -u "$mnt"
done
exit $status
