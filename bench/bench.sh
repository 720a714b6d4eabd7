#!/usr/bin/env bash
# The engine's throughput: prefill and decode tokens per second of the
# 110M LLaMA shape (dim 768, hidden 2048, 12 layers, 12 heads, vocab 32000,
# context 1024) in F32, Q8_0 and Q4_0, with a ~512-token prompt and 128
# generated tokens, and stories260K's decode speed; medians of RUNS runs,
# THREADS threads.  The random-weight models are made once with
# llmfs-mkmodel and kept in LLMFS_BENCH_DIR.
# In the same run it measures memory bandwidth (STREAM triad) and reports
# each decode row against its ceiling, bandwidth / bytes read per token.
# Then it runs SCRIPTS (default: fs_bench batch_bench load_bench).
#   RUNS=5 THREADS=2 TYPES="f32 q8_0 q4_0 q4_k" SCRIPTS= bash bench/bench.sh
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
SHARED=${LLMFS_SHARED:-$(cd .. && pwd)/shared}
RUNS=${RUNS:-5}
THREADS=${THREADS:-2}
TYPES=${TYPES:-f32 q8_0 q4_0 q4_k}
N_GEN=128
PROMPT_TARGET=512

bench_require bench llmfs-run llmfs-mkmodel
[ -x build/bench/triad_bench ] || { echo "bench: build/bench/triad_bench is not built (run make)" >&2; exit 1; }
model_for() { bench_model "$1"; }
for t in $TYPES; do model_for "$t" >/dev/null; done

# stat NAME FILE: the value of a `name value` line of --stats output
stat() { awk -v k="$1" '$1 == k { print $2 }' "$2"; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/llmfs-bench-run.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# A prompt of plain words from the synthetic vocabulary, grown or shrunk
# until the tokenizer makes ~PROMPT_TARGET tokens of it.
sentences=("${BENCH_SENTENCES[@]}")
make_prompt() {   # make_prompt N_SENTENCES
    local i out=""
    for ((i = 0; i < $1; i++)); do out+="${sentences[i % ${#sentences[@]}]} "; done
    printf '%s' "${out% }"
}
probe=$(model_for "${TYPES%% *}")
ns=40
for _ in 1 2 3 4; do
    prompt=$(make_prompt "$ns")
    "$BIN/llmfs-run" --model "$probe" -p "$prompt" -n 1 --temp 0 --threads "$THREADS" \
        --stats >/dev/null 2>"$tmp/probe"
    pt=$(stat prompt_tokens "$tmp/probe")
    [ -n "$pt" ] && [ "$pt" -gt 0 ] || { echo "bench: no prompt_tokens from llmfs-run" >&2; cat "$tmp/probe" >&2; exit 1; }
    [ $((pt > PROMPT_TARGET ? pt - PROMPT_TARGET : PROMPT_TARGET - pt)) -le 16 ] && break
    ns=$(( (ns * PROMPT_TARGET + pt / 2) / pt ))
done
echo "# prompt: $pt tokens; $N_GEN generated; $THREADS threads; median of $RUNS runs"

# Memory bandwidth (STREAM triad, THREADS threads), measured before and
# after the decode runs in this same run; the larger is the ceiling's
# numerator: a decode step reads decode_bytes_per_token bytes.
triad() { build/bench/triad_bench "$THREADS" | awk '{ print $2 }'; }
bw0=$(triad)

# run_case LABEL TYPE ARGS...: RUNS runs, one table row of medians
run_case() {
    local label=$1 type=$2; shift 2
    : >"$tmp/pre"; : >"$tmp/dec"; : >"$tmp/bpt"
    local r pt=""
    for ((r = 0; r < RUNS; r++)); do
        if ! "$BIN/llmfs-run" "$@" --temp 0 --ignore-eos --threads "$THREADS" --stats \
                >/dev/null 2>"$tmp/err"; then
            echo "bench: llmfs-run failed on $label $type:" >&2; cat "$tmp/err" >&2; exit 1
        fi
        stat prefill_tok_s "$tmp/err" >>"$tmp/pre"
        stat decode_tok_s "$tmp/err" >>"$tmp/dec"
        stat decode_bytes_per_token "$tmp/err" >>"$tmp/bpt"
        pt=$(stat prompt_tokens "$tmp/err")
        gen=$(stat generated_tokens "$tmp/err")
    done
    local dec bpt
    dec=$(median <"$tmp/dec"); bpt=$(median <"$tmp/bpt")
    printf '%-12s %-6s %7s %7s %14.1f %14.1f %10.1f\n' "$label" "$type" "$pt" "$gen" \
        "$(median <"$tmp/pre")" "$dec" "$(awk -v b="$bpt" 'BEGIN { print b / 1e6 }')"
    echo "$label $type $dec $bpt" >>"$tmp/rows"
}

printf '%-12s %-6s %7s %7s %14s %14s %10s\n' model type prompt gen prefill_tok_s decode_tok_s MB_per_tok
for t in $TYPES; do
    run_case llama-110m "${t^^}" --model "$(model_for "$t")" -p "$prompt" -n "$N_GEN"
done
# decode from an empty context, as llama-bench's tg128 measures it (the
# rows above decode after the long prompt, reading its KV cache too)
for t in $TYPES; do
    run_case llama-110m "${t^^}" --model "$(model_for "$t")" -p "Once" -n "$N_GEN"
done
run_case stories260K F32 --model "$SHARED/models/stories260K.bin" \
    --tokenizer "$SHARED/models/tok512.bin" -p "Once upon a time" -n 256
bw1=$(triad)
bw=$(awk -v a="$bw0" -v b="$bw1" 'BEGIN { print (a > b ? a : b) }')
echo
echo "# triad bandwidth ($THREADS threads) before and after: $bw0 and $bw1 GB/s"
echo "# decode against its ceiling (bandwidth / bytes read per token)"
printf '%-12s %-6s %14s %14s %10s\n' model type decode_tok_s ceiling_tok_s fraction
awk -v bw="$bw" '{ c = bw * 1e9 / $4; printf "%-12s %-6s %14.1f %14.1f %10.3f\n", $1, $2, $3, c, $3 / c }' "$tmp/rows"
for b in ${SCRIPTS-fs_bench batch_bench load_bench}; do if [ -f "bench/$b.sh" ]; then echo; echo "# bench/$b.sh"; bash "bench/$b.sh"; fi; done
