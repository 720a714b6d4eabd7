#!/usr/bin/env bash
# Every architecture through the mount: a seeded qwen2, qwen3 and llama3
# model (GPT-2 BPE vocabulary), a phi3 one (Phi-3's vocabulary) and gemma2
# and gemma3 ones (LLaMA's SentencePiece vocabulary; a window of 8
# positions, which the prompt and the 24 tokens pass) answer a prompt
# written to prompts/ with what llmfs-run prints for it, and stats/engine
# names the architecture.
. "$(dirname "$0")/lib.sh"
VOCAB=$LLMFS_SHARED/vocab/ggml-vocab-gpt-2.gguf
for a in qwen2 qwen3 llama3 phi3 gemma2 gemma3; do
    m=$T/$a.gguf
    extra=(); [ "$a" = qwen3 ] && extra=(--head-dim 32)
    vocab=$VOCAB; [ "$a" = phi3 ] && vocab=$LLMFS_SHARED/vocab/ggml-vocab-phi-3.gguf
    case $a in gemma*)
        vocab=$LLMFS_SHARED/vocab/ggml-vocab-llama-spm.gguf
        extra=(--sliding-window 8 --sliding-window-pattern 2)
    esac
    if ! "$BIN/llmfs-mkmodel" -o "$m" --arch "$a" --dim 64 --hidden 128 --layers 2 --heads 4 \
            --kv-heads 2 "${extra[@]}" --vocab-file "$vocab" --ctx 128 --type q8_0 --seed 3 \
            --std 0.15 >/dev/null 2>&1; then
        notok "$a: llmfs-mkmodel"
        continue
    fi
    M=$T/mnt-$a
    if ! mount_llmfs "$M" --model "$m" -o "$NOCACHE"; then notok "$a: mount"; continue; fi
    ok "$a: mount"
    "$BIN/llmfs-run" --model "$m" -p "Once upon a time" --temp 0 -n 24 > "$T/$a.run"
    printf -- '---\nmax_tokens: 24\n---\nOnce upon a time\n' > "$M/prompts/p"
    cat "$M/completions/p" > "$T/$a.fs"
    check "$a: the completion equals llmfs-run's" cmp -s "$T/$a.run" "$T/$a.fs"
    check "$a: it is not empty" [ -s "$T/$a.fs" ]
    want=$a; [ "$a" = llama3 ] && want=llama     # llama with Llama 3 RoPE factors
    check "$a: stats/engine names the architecture" grep -qx "arch $want" "$M/stats/engine"
    check "$a: clean unmount" umount_llmfs "$M"
done
finish
