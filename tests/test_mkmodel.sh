#!/usr/bin/env bash
# llmfs-mkmodel: a small model of every weight type loads in llmfs-run and
# generates the tokens asked for; the same seed gives the same file; bad
# arguments fail with a non-zero status and one line on stderr.
set -u
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
MK=$BIN/llmfs-mkmodel
RUN=$BIN/llmfs-run
tmp=$(mktemp -d "${TMPDIR:-/tmp}/llmfs-mkmodel-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

ok()     { echo "ok - mkmodel: $1"; }
not_ok() { echo "not ok - mkmodel: $1"; shift; for l in "$@"; do echo "#   $l"; done; }

if [ ! -x "$MK" ]; then not_ok "$MK is built"; exit 1; fi

small=(--dim 64 --hidden 128 --layers 2 --heads 4 --kv-heads 2 --vocab 512 --ctx 64)
k256=(--dim 256 --hidden 512 --layers 2 --heads 4 --kv-heads 2 --vocab 512 --ctx 64)   # K types: rows of 256
# Q4_K_M with rows of 640 (ffn_down), which take llama.cpp's fallbacks
k256m=(--dim 256 --hidden 640 --layers 2 --heads 4 --kv-heads 2 --vocab 512 --ctx 64)
N=12
for t in f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q3_k q4_k q5_k q6_k q4_k_m; do
    m=$tmp/$t.gguf
    shape=("${small[@]}")
    case $t in q?_k) shape=("${k256[@]}") ;; q4_k_m) shape=("${k256m[@]}") ;; esac
    if ! err=$("$MK" -o "$m" "${shape[@]}" --type "$t" --seed 7 2>&1) || [ ! -s "$m" ]; then
        not_ok "writes a $t model" "$err"
        continue
    fi
    ok "writes a $t model"
    if [ -e "$m.tmp" ]; then not_ok "leaves no $t temporary file"; else ok "leaves no $t temporary file"; fi
    if [ ! -x "$RUN" ]; then not_ok "$t model generates ($RUN is not built)"; continue; fi
    out=$("$RUN" --model "$m" -p "Once upon a time there was a little girl" -n "$N" \
          --temp 0 --ignore-eos --stats 2>"$tmp/stderr"); rc=$?
    gen=$(awk '$1 == "generated_tokens" { print $2 }' "$tmp/stderr")
    if [ "$rc" -eq 0 ] && [ "$gen" = "$N" ]; then
        ok "$t model loads and generates $N tokens"
    else
        not_ok "$t model loads and generates $N tokens" "status $rc, generated_tokens '$gen'" \
            "$(head -c 400 "$tmp/stderr")"
    fi
    # greedy decoding of the same file is reproducible
    out2=$("$RUN" --model "$m" -p "Once upon a time there was a little girl" -n "$N" \
           --temp 0 --ignore-eos 2>/dev/null)
    if [ "$out" = "$out2" ]; then ok "$t greedy output is reproducible"
    else not_ok "$t greedy output is reproducible"; fi
done

# the tensor types of a file (GGUF v3 tensor infos), as "NAME TYPE" lines
tensor_types() {
    python3 - "$1" <<'PY'
import struct, sys
f = open(sys.argv[1], "rb").read()
o = 8
nt, nkv = struct.unpack_from("<QQ", f, o); o += 16
def s():
    global o
    n, = struct.unpack_from("<Q", f, o); o += 8 + n
    return f[o - n:o].decode()
size = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
def val(t):
    global o
    if t == 8: s()
    elif t == 9:
        et, n = struct.unpack_from("<IQ", f, o); o += 12
        for _ in range(n): val(et)
    else: o += size[t]
for _ in range(nkv):
    s(); t, = struct.unpack_from("<I", f, o); o += 4; val(t)
for _ in range(nt):
    name = s(); nd, = struct.unpack_from("<I", f, o); o += 4 + 8 * nd
    t, = struct.unpack_from("<I", f, o); o += 12
    print(name, t)
PY
}
# Q4_K_M: Q4_K, Q6_K for the output and layer 1's attn_v and ffn_down
# (llama.cpp's use_more_bits of 2 layers), rows of 640 in Q5_0 (from Q4_K)
# and Q8_0 (from Q6_K)
if types=$(tensor_types "$tmp/q4_k_m.gguf" 2>&1); then
    want="output.weight 14
blk.0.attn_q.weight 12
blk.0.attn_v.weight 12
blk.1.attn_v.weight 14
blk.0.ffn_down.weight 6
blk.1.ffn_down.weight 8
blk.0.ffn_up.weight 12"
    missing=$(grep -vxFf <(printf '%s\n' "$types") <<<"$want")
    if [ -z "$missing" ]; then ok "q4_k_m mixes Q4_K, Q6_K and the fallbacks Q5_0, Q8_0 as llama.cpp does"
    else not_ok "q4_k_m mixes Q4_K, Q6_K and the fallbacks Q5_0, Q8_0 as llama.cpp does" "missing: $missing"; fi
else
    not_ok "q4_k_m tensor types readable" "$types"
fi
# phi3's fused attn_qkv: Q5_K in Q4_K_M
if "$MK" -o "$tmp/phi3m.gguf" --arch phi3 "${k256[@]}" --type q4_k_m >/dev/null 2>&1 &&
   tensor_types "$tmp/phi3m.gguf" | grep -x "blk.0.attn_qkv.weight 13" >/dev/null &&
   "$RUN" --model "$tmp/phi3m.gguf" -p "Once" -n 4 --temp 0 >/dev/null 2>&1; then
    ok "phi3 q4_k_m has a Q5_K attn_qkv and generates"
else
    not_ok "phi3 q4_k_m has a Q5_K attn_qkv and generates"
fi

# every architecture, with the GPT-2 BPE vocabulary where it has one (gemma:
# LLaMA's SentencePiece one, a window of 8 positions that the run passes)
vocab=${LLMFS_SHARED:-../shared}/vocab/ggml-vocab-gpt-2.gguf
for a in llama3 qwen2 qwen3 phi3 gemma2 gemma3; do
    m=$tmp/$a.gguf
    extra=(); [ "$a" = qwen3 ] && extra=(--head-dim 32)
    v=$vocab; [ "$a" = phi3 ] && v=${LLMFS_SHARED:-../shared}/vocab/ggml-vocab-phi-3.gguf
    case $a in gemma*) v=${LLMFS_SHARED:-../shared}/vocab/ggml-vocab-llama-spm.gguf; extra=(--sliding-window 8);; esac
    if ! err=$("$MK" -o "$m" --arch "$a" --dim 64 --hidden 128 --layers 2 --heads 4 --kv-heads 2 \
               "${extra[@]}" --vocab-file "$v" --ctx 64 --type q8_0 --seed 7 2>&1); then
        not_ok "writes a $a model" "$err"
        continue
    fi
    ok "writes a $a model"
    "$RUN" --model "$m" -p "Once upon a time" -n "$N" --temp 0 --ignore-eos --stats \
        >/dev/null 2>"$tmp/stderr"; rc=$?
    gen=$(awk '$1 == "generated_tokens" { print $2 }' "$tmp/stderr")
    if [ "$rc" -eq 0 ] && [ "$gen" = "$N" ]; then ok "$a model loads and generates $N tokens"
    else not_ok "$a model loads and generates $N tokens" "status $rc" "$(head -c 400 "$tmp/stderr")"; fi
done

# the same seed gives the same bytes, another seed other bytes
"$MK" -o "$tmp/a.gguf" "${small[@]}" --type q4_0 --seed 7 2>/dev/null
"$MK" -o "$tmp/c.gguf" "${small[@]}" --type q4_0 --seed 8 2>/dev/null
if cmp -s "$tmp/a.gguf" "$tmp/q4_0.gguf"; then ok "same seed, same file"
else not_ok "same seed, same file"; fi
if [ -s "$tmp/c.gguf" ] && ! cmp -s "$tmp/a.gguf" "$tmp/c.gguf"; then ok "other seed, other file"
else not_ok "other seed, other file"; fi

# --help succeeds and prints the usage on stdout
if "$MK" --help 2>/dev/null | grep -q '^usage:'; then ok "--help prints the usage"
else not_ok "--help prints the usage"; fi

# bad arguments: non-zero status, exactly one line on stderr, no file
bad() {
    local name=$1; shift
    local f=$tmp/bad.gguf
    rm -f "$f"
    "$MK" "$@" >/dev/null 2>"$tmp/err"; local rc=$?
    local lines; lines=$(wc -l <"$tmp/err")
    if [ "$rc" -ne 0 ] && [ "$lines" -eq 1 ] && [ ! -e "$f" ]; then
        ok "refuses $name"
    else
        not_ok "refuses $name" "status $rc, $lines stderr lines: $(head -c 300 "$tmp/err")"
    fi
}
o=(-o "$tmp/bad.gguf")
shape=(--hidden 128 --layers 2 --vocab 512 --ctx 64)
bad "dim not divisible by heads" "${o[@]}" --dim 66 --heads 4 "${shape[@]}" --type f32
bad "heads not a multiple of kv-heads" "${o[@]}" --dim 64 --heads 4 --kv-heads 3 "${shape[@]}" --type f32
bad "kv-heads above heads" "${o[@]}" --dim 64 --heads 4 --kv-heads 8 "${shape[@]}" --type f32
bad "q8_0 rows not a multiple of 32" "${o[@]}" --dim 48 --heads 4 "${shape[@]}" --type q8_0
bad "q4_0 hidden not a multiple of 32" "${o[@]}" --dim 64 --heads 4 --hidden 100 --layers 2 \
    --vocab 512 --ctx 64 --type q4_0
bad "a vocabulary too small" "${o[@]}" --dim 64 --heads 4 --hidden 128 --layers 2 --vocab 100 \
    --ctx 64 --type f32
bad "an unknown type" "${o[@]}" --dim 64 --heads 4 "${shape[@]}" --type iq2_xxs
bad "a non-numeric dim" "${o[@]}" --dim abc --heads 4 "${shape[@]}" --type f32
bad "a negative layer count" "${o[@]}" --dim 64 --heads 4 --hidden 128 --layers -1 --vocab 512 \
    --ctx 64 --type f32
bad "a missing -o" --dim 64 --heads 4 "${shape[@]}" --type f32
bad "a missing --type" "${o[@]}" --dim 64 --heads 4 "${shape[@]}"
bad "an unknown option" "${o[@]}" --dim 64 --heads 4 "${shape[@]}" --type f32 --bogus
bad "an option without its value" "${o[@]}" --dim 64 --heads 4 "${shape[@]}" --type
bad "an unknown architecture" "${o[@]}" --dim 64 --heads 4 "${shape[@]}" --type f32 --arch gemma
bad "--vocab with --vocab-file" "${o[@]}" --dim 64 --heads 4 "${shape[@]}" --type f32 \
    --vocab-file "$vocab"
bad "a missing vocabulary file" -o "$tmp/bad.gguf" --dim 64 --heads 4 --hidden 128 --layers 2 \
    --ctx 64 --type f32 --vocab-file "$tmp/none.gguf"
bad "a head size that is odd" "${o[@]}" --dim 64 --heads 4 --head-dim 15 "${shape[@]}" --type f32
bad "a non-numeric --std" "${o[@]}" --dim 64 --heads 4 "${shape[@]}" --type f32 --std x
bad "a sliding window for qwen2" "${o[@]}" --dim 64 --heads 4 "${shape[@]}" --type f32 --arch qwen2 \
    --sliding-window 8
bad "a window pattern for llama" "${o[@]}" --dim 64 --heads 4 "${shape[@]}" --type f32 \
    --sliding-window 8 --sliding-window-pattern 2
bad "a RoPE scaling under 1" "${o[@]}" --dim 64 --heads 4 "${shape[@]}" --type f32 --rope-scaling 0.5
bad "an unwritable output" -o "$tmp/no/such/dir/m.gguf" --dim 64 --heads 4 "${shape[@]}" --type f32
exit 0
