#!/usr/bin/env bash
# Greedy output equals llama2.c's run.c (../shared/models/reference), from
# the llama2.c checkpoint and from the GGUF conversion.  The reference had
# a budget of 256 positions (BOS and prompt included) and stopped at BOS,
# so we generate exactly 256 - prompt_tokens and expect identical bytes.
set -u
BIN=${BIN:-bin}
S=${LLMFS_SHARED:-../shared}
M=$S/models
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for src in bin gguf; do
    if [ $src = bin ]; then args=(--model "$M/stories260K.bin" --tokenizer "$M/tok512.bin")
    else args=(--model "$M/stories260K.gguf"); fi
    for p in "$M"/reference/s*.prompt; do
        case=$(basename "$p" .prompt)
        prompt=$(cat "$p")
        "$BIN/llmfs-run" "${args[@]}" -p "$prompt" -n 0 --stats 2>"$tmp/st" >/dev/null
        P=$(awk '$1=="prompt_tokens"{print $2-1}' "$tmp/st")
        "$BIN/llmfs-run" "${args[@]}" -p "$prompt" --temp 0 -n $((256 - P)) >"$tmp/out" 2>"$tmp/err"
        if cmp -s "$tmp/out" "$M/reference/$case.completion"; then
            echo "ok - reference $case from $src"
        else
            echo "not ok - reference $case from $src"
            echo "#   expected: $(head -c 200 "$M/reference/$case.completion")"
            echo "#   got:      $(head -c 200 "$tmp/out") $(cat "$tmp/err")"
        fi
    done
done
