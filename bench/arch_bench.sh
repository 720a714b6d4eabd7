#!/usr/bin/env bash
# Every architecture at the 110M shape (dim 768, hidden 2048, 12 layers,
# 12 heads, vocab 32000, context 1024; llmfs-mkmodel --arch, seed 1) in
# TYPES (default F32 and Q4_K): prefill tok/s of a ~512-token prompt and
# decode tok/s of 128 tokens from an empty context, medians of RUNS runs
# on THREADS threads.  The runs are interleaved (one of each architecture
# per round, each round starting one architecture later), so that the
# machine's drift hits them alike.  Decode is
# reported against its ceiling, triad bandwidth / bytes read per token,
# and both figures against llama's of the same type.  gemma2 and gemma3
# have llmfs-mkmodel's default window (half the context, 512 positions).
# MMAP=1 runs every model from its file mapping (llmfs-run --mmap): the
# tied-embedding models of Q4_K are under 64 MiB, which llmfs keeps mapped
# while it reads the larger untied ones into huge pages.
#   RUNS=3 THREADS=2 TYPES="f32 q4_k" MMAP= bash bench/arch_bench.sh
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
RUNS=${RUNS:-3}
THREADS=${THREADS:-2}
TYPES=${TYPES:-f32 q4_k}
ARCHS=${ARCHS:-llama llama3 qwen2 qwen3 phi3 gemma2 gemma3}
N_GEN=128
load=(); [ -n "${MMAP:-}" ] && load=(--mmap)

bench_require arch_bench llmfs-run llmfs-mkmodel
[ -x build/bench/triad_bench ] || { echo "arch_bench: build/bench/triad_bench is not built (run make)" >&2; exit 1; }
for a in $ARCHS; do for t in $TYPES; do bench_arch_model "$a" "$t" >/dev/null; done; done

stat() { awk -v k="$1" '$1 == k { print $2 }' "$2"; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/llmfs-arch-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

prompt=""
for ((i = 0; i < 44; i++)); do prompt+="${BENCH_SENTENCES[i % ${#BENCH_SENTENCES[@]}]} "; done

# one ARCH TYPE: a prefill run and a decode run, appended to their files
one() {
    local m; m=$(bench_arch_model "$1" "$2")
    "$BIN/llmfs-run" --model "$m" "${load[@]}" -p "$prompt" -n 1 --temp 0 --ignore-eos --threads "$THREADS" \
        --stats >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
    stat prefill_tok_s "$tmp/err" >>"$tmp/$1-$2.pre"
    stat prompt_tokens "$tmp/err" >"$tmp/$1-$2.pt"
    "$BIN/llmfs-run" --model "$m" "${load[@]}" -p "Once" -n "$N_GEN" --temp 0 --ignore-eos --threads "$THREADS" \
        --stats >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
    stat decode_tok_s "$tmp/err" >>"$tmp/$1-$2.dec"
    stat decode_bytes_per_token "$tmp/err" >"$tmp/$1-$2.bpt"
}

triad() { build/bench/triad_bench "$THREADS" | awk '{ print $2 }'; }
bw0=$(triad)
bws=$bw0
read -ra archs <<<"$ARCHS"
for ((r = 0; r < RUNS; r++)); do   # each round starts one architecture later
    [ "$r" -gt 0 ] && bws+=" $(triad)"
    for t in $TYPES; do
        for ((i = 0; i < ${#archs[@]}; i++)); do one "${archs[(i + r) % ${#archs[@]}]}" "$t"; done
    done
done
bws+=" $(triad)"
bw=$(tr ' ' '\n' <<<"$bws" | sort -g | tail -1)

echo "# $THREADS threads${MMAP:+, every model mapped (--mmap)}, median of $RUNS interleaved rounds; triad bandwidth before each round and after: $bws GB/s (the ceiling takes the largest)"
printf '%-7s %-5s %6s %9s %8s %9s %8s %9s %8s %8s\n' arch type prompt prefill vs_llama decode MB_tok ceiling fraction vs_llama
for t in $TYPES; do
    lp=$(median <"$tmp/llama-$t.pre"); ld=$(median <"$tmp/llama-$t.dec"); lb=$(cat "$tmp/llama-$t.bpt")
    for a in $ARCHS; do
        p=$(median <"$tmp/$a-$t.pre"); d=$(median <"$tmp/$a-$t.dec"); b=$(cat "$tmp/$a-$t.bpt")
        awk -v a="$a" -v t="${t^^}" -v pt="$(cat "$tmp/$a-$t.pt")" -v p="$p" -v lp="$lp" -v d="$d" \
            -v b="$b" -v ld="$ld" -v lb="$lb" -v bw="$bw" 'BEGIN {
            c = bw * 1e9 / b; lc = bw * 1e9 / lb
            printf "%-7s %-5s %6d %9.1f %8.2f %9.1f %8.1f %9.1f %8.3f %8.2f\n",
                   a, t, pt, p, p / lp, d, b / 1e6, c, d / c, (d / c) / (ld / lc) }'
    done
done
