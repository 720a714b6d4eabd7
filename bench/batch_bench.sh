#!/usr/bin/env bash
# Issue 4's speed figures, through a real mount of the 110M-shape F32 model
# (THREADS threads), driven by llmfs-bench:
#  (1) aggregate decode tok/s with 1, 4, 16 and 32 concurrent sequences:
#      "steady" is the rate of stats/metrics generated_tokens sampled while
#      the most requests ran ("running": N when the limit allows; decode only), "e2e" is llmfs-bench's
#      tokens / wall time (prefill and ramp included);
#  (2) TTFT of a prompt whose ~400-token prefix is in the KV prefix cache
#      (prompt A = prefix + question 1 is run first, then B = same prefix +
#      question 2) against a cold prompt C of the same length; medians of
#      RUNS, each with a fresh prefix; B's cached_tokens from stats/requests;
#  (3) p99 time per output token of 8 streams: alone (idle), and while new
#      prompts arrive (Poisson, ARRIVAL_RATE/s, ~200-token prompts), with
#      one stream alone for reference.  Per-token figures are the gaps
#      between reads that return bytes (llmfs-bench's itl_ms).
# The measurement fixes the concurrency limit at max_batch (32) with
# scheduler.adaptive=false (and a huge tpot target, so that the warm-up
# finds the limit where it is).  ADAPTIVE=1 also runs (1) with the
# default adaptive limit (target 50 ms) to show what it gives.
#   RUNS=3 THREADS=2 GEN=128 ADAPTIVE=0 bash bench/batch_bench.sh
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
RUNS=${RUNS:-3}
THREADS=${THREADS:-2}
GEN=${GEN:-128}
CONCS=${CONCS:-1 4 16 32}
ADAPTIVE=${ADAPTIVE:-0}
ARRIVAL_RATE=${ARRIVAL_RATE:-2}
PREFIX_TARGET=400

bench_require batch_bench llmfs llmfs-run llmfs-mkmodel llmfs-bench
MODEL=$(bench_model f32)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/llmfs-batchbench.XXXXXX")
M=$tmp/mnt
mkdir -p "$M"
bgpids=()
cleanup() {
    local p
    for p in "${bgpids[@]}"; do kill "$p" 2>/dev/null || true; done
    if mountpoint -q "$M" 2>/dev/null; then
        fusermount3 -u "$M" 2>/dev/null || { sleep 0.5; fusermount3 -uz "$M" 2>/dev/null; }
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'; }
val() { awk -v k="$1" '$1 == k { print $2 }' "$2"; }
now_us() { echo "${EPOCHREALTIME/./}"; }   # bash 5: no fork
# mount_it TPOT_TARGET: response cache off (every request generates), room
# in the KV cache for 32 sequences of prompt + GEN tokens and the prefixes.
mount_it() {
    "$BIN/llmfs" --model "$MODEL" -o "threads=$THREADS,cache.l1_mb=0,cache.l2_mb=0,cache.kv_mb=1024,scheduler.max_batch=32,scheduler.queue=1024,scheduler.tpot_target_ms=$1${2:+,scheduler.adaptive=$2}" "$M"
}

# 32 distinct short prompts (the sequences need not be identical)
mkdir -p "$tmp/short"
words=(girl dog ball tree river sun park cat bird boat)
for i in $(seq -w 0 31); do
    printf 'Once upon a time a %s and a %s went to the %s.' "${words[$((10#$i % 10))]}" \
        "${words[$(((10#$i / 10 + 3) % 10))]}" "${words[$(((10#$i + 7) % 10))]}" > "$tmp/short/p$i"
done

# warm_up: lifts the (grow-only) concurrency limit to 32
warm_up() {
    local k
    for k in 1 2 3 4 5 6; do
        [ "$(val concurrency_limit "$M/stats/metrics")" -ge 32 ] && return 0
        "$BIN/llmfs-bench" -m "$M" -c 32 -n 32 --max-tokens 64 --prompts "$tmp/short" \
            --seed $((1000 * k)) -q > /dev/null 2>&1 || true
    done
    [ "$(val concurrency_limit "$M/stats/metrics")" -ge 32 ]
}

# scale N: one line "N steady_tok_s e2e_tok_s mean_batch"
scale() {
    local n=$1 s="$tmp/samples.$1"
    : > "$s"
    "$BIN/llmfs-bench" -m "$M" -c "$n" -n "$n" --max-tokens "$GEN" --prompts "$tmp/short" \
        --seed $((7 * n)) -q > "$tmp/scale.$n" 2>&1 &
    local pid=$!
    bgpids+=("$pid")
    local steps0 st0
    while kill -0 "$pid" 2>/dev/null; do
        local t=${EPOCHREALTIME/./}
        awk -v t="$t" '$1 == "requests_running" { r = $2 } $1 == "generated_tokens" { g = $2 }
            $1 == "engine_steps" { s = $2 } END { print t, r, g, s }' "$M/stats/metrics" >> "$s"
        sleep 0.2
    done
    wait "$pid" || echo "# warning: llmfs-bench reported errors at concurrency $n" >&2
    # the samples taken while the most requests ran (N, when the limit allows)
    awk '{ if ($2 > mx) mx = $2; t[NR] = $1; r[NR] = $2; g[NR] = $3; st[NR] = $4 }
        END { for (i = 1; i <= NR; i++) if (r[i] == mx && mx > 0) { if (!c++) { t0 = t[i]; g0 = g[i]; s0 = st[i] } t1 = t[i]; g1 = g[i]; s1 = st[i] }
              if (c >= 2 && t1 > t0) printf "%.1f %.2f %d\n", (g1 - g0) / ((t1 - t0) / 1e6), (s1 > s0 ? (g1 - g0) / (s1 - s0) : 0), mx;
              else printf "n/a n/a %d\n", mx }' "$s" > "$tmp/steady.$n"
    read -r st mb mx < "$tmp/steady.$n"
    echo "$n $st $(val tokens_per_s "$tmp/scale.$n") $mb $(val completed "$tmp/scale.$n")/$(val errors "$tmp/scale.$n") $mx"
}

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cpus; model $(basename "$MODEL"); $THREADS threads"
mount_it 600000 false
warm_up || echo "# warning: the concurrency limit is $(val concurrency_limit "$M/stats/metrics"), not 32" >&2
echo "# concurrency limit after warm-up: $(val concurrency_limit "$M/stats/metrics")"

# ---- (1) scaling
: > "$tmp/scaling"
for n in $CONCS; do scale "$n" >> "$tmp/scaling"; done

# ---- (2) prefix-cache TTFT
sentences=("${BENCH_SENTENCES[@]}")
make_doc() {   # make_doc TAG N_SENTENCES: a document that starts with TAG
    local i out="$1"
    for ((i = 0; i < $2; i++)); do out+=" ${sentences[i % ${#sentences[@]}]}"; done
    printf '%s' "$out"
}
tokens_of() {
    "$BIN/llmfs-run" --model "$MODEL" -p "$1" -n 1 --temp 0 --threads "$THREADS" --stats \
        2>&1 >/dev/null | awk '$1 == "prompt_tokens" { print $2 }'
}
ns=28
for _ in 1 2 3; do
    pt=$(tokens_of "$(make_doc "Document 0." "$ns")")
    [ $((pt > PREFIX_TARGET ? pt - PREFIX_TARGET : PREFIX_TARGET - pt)) -le 12 ] && break
    ns=$(( (ns * PREFIX_TARGET + pt / 2) / pt ))
done
Q1=" Question: what did Tom find under the tree? Answer:"
Q2=" Question: where did they go when the sun was warm? Answer:"
cache0=$(cat "$M/stats/cache")
: > "$tmp/ttft_warm"; : > "$tmp/ttft_cold"; : > "$tmp/ttft_a"; cached=""
one() {   # one PROMPT SEED: llmfs-bench's CSV row of one request
    "$BIN/llmfs-bench" -m "$M" -c 1 -n 1 --max-tokens 8 --seed "$2" --prompt "$1" --csv 2>/dev/null | sed -n 2p
}
for ((r = 0; r < RUNS; r++)); do
    doc=$(make_doc "Document $((r + 1))." "$ns")
    cold=$(make_doc "Report $((r + 1))." "$ns")
    a=$(one "$doc$Q1" $((100 + r)))
    b=$(one "$doc$Q2" $((200 + r)))
    c=$(one "$cold$Q2" $((300 + r)))
    echo "$a" | cut -d, -f3 >> "$tmp/ttft_a"
    echo "$b" | cut -d, -f3 >> "$tmp/ttft_warm"
    echo "$c" | cut -d, -f3 >> "$tmp/ttft_cold"
    cached+="$(echo "$b" | cut -d, -f7)/$(echo "$b" | cut -d, -f6) "
done
cache1=$(cat "$M/stats/cache")
plen=$(echo "$b" | cut -d, -f6)

# ---- (3) mixed load: 8 streams, idle and with arrivals
MIX_GEN=$((GEN * 3))
mkdir -p "$tmp/long"
for i in 0 1 2 3 4 5 6 7; do make_doc "Note $i." 14 > "$tmp/long/q$i"; done
"$BIN/llmfs-bench" -m "$M" -c 1 -n 1 --max-tokens "$GEN" --seed 500 -q > "$tmp/one" 2>&1 || true
"$BIN/llmfs-bench" -m "$M" -c 8 -n 8 --max-tokens "$MIX_GEN" --prompts "$tmp/short" --seed 600 -q \
    > "$tmp/idle8" 2>&1 || true
"$BIN/llmfs-bench" -m "$M" -c 8 -n 8 --max-tokens "$MIX_GEN" --prompts "$tmp/short" --seed 700 -q \
    > "$tmp/mix8" 2>&1 &
bgpids+=("$!")
streams=$!
wait_running() { local k; for k in $(seq 100); do [ "$(val requests_running "$M/stats/metrics")" -ge "$1" ] && return; sleep 0.1; done; }
wait_running 8
sleep 0.5
# enough arrivals to cover ~80% of the streams' life (their idle e2e time)
n_arr=$(awk -v r="$ARRIVAL_RATE" -v e="$(val e2e_ms_p50 "$tmp/idle8")" 'BEGIN { n = int(r * e / 1e3 * 0.8); print (n < 4 ? 4 : n) }')
"$BIN/llmfs-bench" -m "$M" -c 16 -n "$n_arr" --rate "$ARRIVAL_RATE" --max-tokens 16 --prompts "$tmp/long" \
    --seed 800 -q > "$tmp/arrivals" 2>&1 || true
arr_done=$(now_us)
wait "$streams" || true
fin=$(now_us)

# ---- ADAPTIVE=1: scaling under the default adaptive limit (target 50 ms)
if [ "$ADAPTIVE" = 1 ]; then
    fusermount3 -u "$M"
    mount_it 50
    : > "$tmp/scaling_ad"
    for n in $CONCS; do
        "$BIN/llmfs-bench" -m "$M" -c 4 -n 8 --max-tokens 32 --prompts "$tmp/short" --seed 5 -q >/dev/null 2>&1 || true
        scale "$n" >> "$tmp/scaling_ad"
        echo "# adaptive: limit $(val concurrency_limit "$M/stats/metrics") after N=$n" >> "$tmp/ad_limits"
    done
fi

# ---- the table
one_tps=$(awk '$1 == 1 { print $2 }' "$tmp/scaling")
echo
echo "(1) aggregate decode, $GEN tokens per sequence, ~16-token prompts, limit fixed at 32"
row_fmt='%-6s %14s %10s %14s %10s %10s %8s\n'
printf "$row_fmt" seqs steady_tok_s "x 1-seq" e2e_tok_s mean_batch "ok/errors" running
while read -r n st e2e mb oe mx; do
    printf "$row_fmt" "$n" "$st" "$(ratio "$st" "$one_tps")" "$e2e" "$mb" "$oe" "$mx"
done < "$tmp/scaling"
if [ "$ADAPTIVE" = 1 ]; then
    echo "  with the adaptive limit (tpot_target_ms 50):"
    while read -r n st e2e mb oe mx; do
        printf "$row_fmt" "$n" "$st" "$(ratio "$st" "$one_tps")" "$e2e" "$mb" "$oe" "$mx"
    done < "$tmp/scaling_ad"
    sed 's/^/  /' "$tmp/ad_limits"
fi
echo
w=$(median < "$tmp/ttft_warm"); c=$(median < "$tmp/ttft_cold")
echo "(2) TTFT of a $plen-token prompt, ~$pt-token shared prefix, median of $RUNS, ms"
printf '%-40s %10.1f\n' "A: prefix + question 1 (cold, first)" "$(median < "$tmp/ttft_a")"
printf '%-40s %10.1f\n' "B: same prefix + question 2" "$w"
printf '%-40s %10.1f\n' "C: cold prompt, same length" "$c"
printf '%-40s %10s   (target <= 0.25)\n' "ratio B/C" "$(ratio "$w" "$c")"
echo "B's cached/prompt tokens per run: $cached"
echo "prefix counters (stats/cache), before -> after:"
join <(echo "$cache0" | grep -E '^kv_prefix_(lookups|hits|tokens_reused) ' | sort) \
     <(echo "$cache1" | grep -E '^kv_prefix_(lookups|hits|tokens_reused) ' | sort) | sed 's/^/  /;s/ \([0-9.]*\) \([0-9.]*\)$/ \1 -> \2/'
echo
echo "(3) time per output token (gaps between reads), 8 streams of $MIX_GEN tokens, ms"
printf '%-44s %8s %8s %8s %10s\n' "" itl_p50 itl_p99 tpot_p50 tok_s
for f in one:"1 stream alone" idle8:"8 streams, idle" mix8:"8 streams + $n_arr arrivals at ${ARRIVAL_RATE}/s"; do
    k=${f%%:*}; label=${f#*:}
    printf '%-44s %8s %8s %8s %10s\n' "$label" "$(val itl_ms_p50 "$tmp/$k")" "$(val itl_ms_p99 "$tmp/$k")" \
        "$(val tpot_ms_p50 "$tmp/$k")" "$(val tokens_per_s "$tmp/$k")"
done
printf '%-44s %8s   (target <= 3)\n' "p99 ratio mixed / idle (8 streams)" \
    "$(ratio "$(val itl_ms_p99 "$tmp/mix8")" "$(val itl_ms_p99 "$tmp/idle8")")"
printf '%-44s %8s\n' "p99 ratio mixed / 1 stream alone" \
    "$(ratio "$(val itl_ms_p99 "$tmp/mix8")" "$(val itl_ms_p99 "$tmp/one")")"
echo "arrivals: $(val completed "$tmp/arrivals")/$(val requests "$tmp/arrivals") completed, TTFT p50 $(val ttft_ms_p50 "$tmp/arrivals") ms, p99 $(val ttft_ms_p99 "$tmp/arrivals") ms; streams ran $(( (fin - arr_done) / 1000 )) ms past the last arrival"
fusermount3 -u "$M"
