#!/usr/bin/env bash
# The other real models in ../shared/models/more: every llama2.c float
# checkpoint generates valid UTF-8; zh_poem, sampled, writes Chinese; the
# quantized llama2.c format is refused with one clear line.  Bad files
# give one line on stderr and a non-zero exit from llmfs-run, saying what
# they are: text, safetensors, a tokenizer of another vocabulary.
set -u
BIN=${BIN:-bin}
S=${LLMFS_SHARED:-../shared}
M=$S/models
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
ok() { echo "ok - $1"; }
no() { echo "not ok - $1"; }
valid_utf8() { python3 -c 'import sys; sys.stdin.buffer.read().decode("utf-8")' <"$1" 2>/dev/null; }

gen() {   # name model tokenizer prompt extra-args...
    local name=$1 model=$2 tok=$3 prompt=$4; shift 4
    if "$BIN/llmfs-run" --model "$model" --tokenizer "$tok" -p "$prompt" -n 200 "$@" \
        >"$tmp/$name.out" 2>"$tmp/$name.err" && [ -s "$tmp/$name.out" ] && valid_utf8 "$tmp/$name.out"; then
        ok "$name generates valid UTF-8 ($(wc -c <"$tmp/$name.out") bytes)"
    else
        no "$name generates valid UTF-8: $(head -c 200 "$tmp/$name.err")"
    fi
}
gen llama2xs_salty "$M/more/llama2xs_salty/model.bin" "$M/tok512.bin" "Once upon a time"
gen llama2xs_salty-sampled "$M/more/llama2xs_salty/model.bin" "$M/tok512.bin" "Once upon a time" --temp 1 --seed 5
gen eric_humane_260K "$M/more/eric_humane_260K/model.bin" "$M/more/eric_humane_260K/tokenizer.bin" "The cat"
gen aidreams260K "$M/more/aidreams260K/aidreams260K.bin" "$M/more/aidreams260K/tok512.bin" "The moon"
gen aidreams260K-sampled "$M/more/aidreams260K/aidreams260K.bin" "$M/more/aidreams260K/tok512.bin" "The moon" --temp 1.2 --seed 9
gen zh_poem "$M/more/zh_poem/poem_model.bin" "$M/more/zh_poem/poem_tok.bin" $'主题：明月 体裁：五绝\n' --temp 0.8 --seed 3
gen zh_poem-greedy "$M/more/zh_poem/poem_model.bin" "$M/more/zh_poem/poem_tok.bin" $'主题：春风 体裁：七绝\n'
if python3 -c 'import sys; t=open(sys.argv[1],encoding="utf-8").read(); sys.exit(0 if sum(0x4e00<=ord(c)<=0x9fff for c in t) >= 10 else 1)' "$tmp/zh_poem.out"; then
    ok "zh_poem with sampling writes Chinese characters: $(head -c 60 "$tmp/zh_poem.out" | tr '\n' ' ')"
else
    no "zh_poem with sampling writes Chinese characters"
fi

# one line, non-zero exit, for files that are not models
one_line_error() {   # name args...
    local name=$1; shift
    "$BIN/llmfs-run" "$@" -p hi -n 4 >"$tmp/o" 2>"$tmp/e"; local rc=$?
    if [ $rc -ne 0 ] && [ "$(wc -l <"$tmp/e")" -eq 1 ] && [ ! -s "$tmp/o" ]; then
        ok "$name: one line, exit $rc: $(cat "$tmp/e")"
    else
        no "$name: exit $rc, stderr: $(head -c 300 "$tmp/e")"
    fi
}
one_line_error "llama2.c quantized checkpoint" --model "$M/more/stories260K_q8/stories260K_q8.bin" --tokenizer "$M/tok512.bin"
head -c 300000 "$M/stories260K.gguf" >"$tmp/trunc.gguf"
one_line_error "truncated GGUF" --model "$tmp/trunc.gguf"
head -c 5000 "$M/stories260K.bin" >"$tmp/trunc.bin"
one_line_error "truncated llama2.c checkpoint" --model "$tmp/trunc.bin" --tokenizer "$M/tok512.bin"
head -c 3000 "$M/tok512.bin" >"$tmp/trunc.tok"
one_line_error "truncated tokenizer" --model "$M/stories260K.bin" --tokenizer "$tmp/trunc.tok"
one_line_error "missing model file" --model "$tmp/none.gguf"
one_line_error "llama2.c checkpoint without a tokenizer" --model "$M/stories260K.bin"
printf 'GGUF\003\0\0\0' >"$tmp/tiny.gguf"
one_line_error "an 8-byte GGUF" --model "$tmp/tiny.gguf"

# what the one line says, for files a new user tries
error_says() {   # name pattern args...
    local name=$1 pat=$2; shift 2
    "$BIN/llmfs-run" "$@" -p hi -n 4 >"$tmp/o" 2>"$tmp/e"; local rc=$?
    if [ $rc -ne 0 ] && grep -q -- "$pat" "$tmp/e"; then ok "$name: $(cat "$tmp/e")"
    else no "$name: exit $rc, stderr: $(head -c 300 "$tmp/e")"; fi
}
printf 'Once upon a time there was a model file that was really a text file.\n%.0s' $(seq 50) >"$tmp/text.gguf"
error_says "a text file is not a model" "not a GGUF or llama2.c checkpoint" --model "$tmp/text.gguf"
python3 - "$tmp/x.safetensors" <<'PY'
import json, struct, sys
h = json.dumps({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}).encode()
open(sys.argv[1], "wb").write(struct.pack("<Q", len(h)) + h + b"\0" * 16)
PY
error_says "a safetensors file is named as one" "a safetensors file" --model "$tmp/x.safetensors"
error_says "a tokenizer of another vocabulary is refused" "another model" \
    --model "$M/stories260K.bin" --tokenizer "$M/more/zh_poem/poem_tok.bin"
