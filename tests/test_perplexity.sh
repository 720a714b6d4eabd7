#!/usr/bin/env bash
# llmfs-run --perplexity against an independent computation: the same
# chunks (64 tokens, BOS first and in place of each chunk's first token,
# second halves scored, as llama-perplexity) of two TinyStories
# texts, through llama2.c's tokenizer and forward pass written in Python
# with the standard library (tests/ppl_ref.py), agree with llmfs on
# stories260K (the llama2.c checkpoint and its GGUF conversion) to 1e-4
# relative: float32 against double arithmetic, nothing more.
set -u
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
S=${LLMFS_SHARED:-../shared}
R=$S/models/reference
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
{ cat "$R/s1.prompt" "$R/s1.completion"; echo; cat "$R/s2.prompt" "$R/s2.completion"; echo; } > "$T/text"
ref=$(python3 tests/ppl_ref.py "$S/models/stories260K.bin" "$S/models/tok512.bin" "$T/text" 64)
echo "# python: $(tr '\n' ' ' <<< "$ref")"
rp=$(awk '$1 == "perplexity" { print $2 }' <<< "$ref")
rt=$(awk '$1 == "tokens" { print $2 }' <<< "$ref")
for m in bin gguf; do
    if [ $m = bin ]; then args=(--model "$S/models/stories260K.bin" --tokenizer "$S/models/tok512.bin")
    else args=(--model "$S/models/stories260K.gguf"); fi
    out=$("$BIN/llmfs-run" "${args[@]}" --perplexity "$T/text" --ctx 64 2>/dev/null)
    p=$(awk '$1 == "perplexity" { print $2 }' <<< "$out")
    t=$(awk '$1 == "tokens" { print $2 }' <<< "$out")
    echo "# llmfs ($m): tokens $t perplexity $p"
    if [ -n "$p" ] && [ "$t" = "$rt" ] && awk -v a="$p" -v b="$rp" 'BEGIN { d = (a - b) / b; exit !(d < 1e-4 && d > -1e-4) }'; then
        echo "ok - perplexity of stories260K ($m) equals an independent llama2.c computation"
    else
        echo "not ok - perplexity of stories260K ($m) equals an independent llama2.c computation"
    fi
done
out=$("$BIN/llmfs-run" --model "$S/models/stories260K.gguf" --perplexity "$T/text" --ctx 3 2>&1); rc=$?
if [ $rc -eq 2 ] && [[ "$out" == *"at least 4 tokens"* ]]; then
    echo "ok - chunks of fewer than 4 tokens are a usage error"
else
    echo "not ok - chunks of fewer than 4 tokens are a usage error (exit $rc: $out)"
fi
out=$("$BIN/llmfs-run" --model "$S/models/stories260K.gguf" --perplexity "$T/text" 2>&1); rc=$?
if [ $rc -eq 1 ] && [[ "$out" == *"fewer than one chunk of 512"* ]]; then
    echo "ok - a text shorter than one chunk is a one-line error"
else
    echo "not ok - a text shorter than one chunk is a one-line error (exit $rc: $out)"
fi
