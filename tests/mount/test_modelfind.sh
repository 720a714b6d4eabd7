#!/usr/bin/env bash
# --model NAME finds models already downloaded, in real directory layouts
# built here (HOME is the test's own): an Ollama manifest and blob, a file
# of llama.cpp's cache, a Hugging Face hub snapshot (refs/main chooses the
# revision), and $LLMFS_MODEL; the variables that move each place
# ($OLLAMA_MODELS, $LLAMA_CACHE, $HF_HUB_CACHE, $HF_HOME) are followed.
# llmfs --list-models prints them; llmfs-run and a mount run by name and
# answer as with the path; a missing or ambiguous name, and a damaged
# manifest, give one clear line.
. "$(dirname "$0")/lib.sh"
M=$LLMFS_SHARED/models
STORIES=$M/stories260K.gguf
run() { "$BIN/llmfs-run" -p "Once upon a time" -n 16 --temp 0 "$@"; }

# an Ollama model: manifests/registry.ollama.ai/library/stories/{latest,small}
O=$HOME/.ollama/models
mkdir -p "$O/manifests/registry.ollama.ai/library/stories" "$O/blobs"
dig=$(sha256sum "$STORIES" | cut -c1-64)
cp "$STORIES" "$O/blobs/sha256-$dig"
printf '{"schemaVersion":2,"config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:%s"},"layers":[{"mediaType":"application/vnd.ollama.image.license","digest":"sha256:%s","size":1},{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:%s","size":%d}]}\n' \
    "$(printf x | sha256sum | cut -c1-64)" "$(printf y | sha256sum | cut -c1-64)" "$dig" "$(stat -c %s "$STORIES")" \
    > "$O/manifests/registry.ollama.ai/library/stories/latest"
cp "$O/manifests/registry.ollama.ai/library/stories/latest" "$O/manifests/registry.ollama.ai/library/stories/small"
# damaged manifests: truncated, and a digest that is not 64 hex digits
mkdir -p "$O/manifests/registry.ollama.ai/library/broken"
head -c 60 "$O/manifests/registry.ollama.ai/library/stories/latest" > "$O/manifests/registry.ollama.ai/library/broken/latest"
printf '{"layers":[{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:../../../etc/passwd"}]}' \
    > "$O/manifests/registry.ollama.ai/library/broken/evil"

# llama.cpp's cache: a Q5_K model
mkdir -p "$HOME/.cache/llama.cpp"
"$BIN/llmfs-mkmodel" -o "$HOME/.cache/llama.cpp/acme_tiny-GGUF_tiny-q5_k.gguf" --dim 256 --hidden 256 \
    --layers 1 --heads 4 --vocab 512 --ctx 64 --type q5_k --seed 4 >/dev/null 2>&1
# Hugging Face: models--acme--tiny-GGUF, two revisions, refs/main = the second
HF=$HOME/.cache/huggingface/hub/models--acme--tiny-GGUF
mkdir -p "$HF/blobs" "$HF/refs" "$HF/snapshots/0ld" "$HF/snapshots/c0ffee"
"$BIN/llmfs-mkmodel" -o "$HF/blobs/b1" --dim 256 --hidden 256 --layers 1 --heads 4 --vocab 512 \
    --ctx 64 --type q3_k --seed 5 >/dev/null 2>&1
ln -s ../../blobs/b1 "$HF/snapshots/c0ffee/tiny-q3_k.gguf"
ln -s ../../blobs/b1 "$HF/snapshots/0ld/tiny-old.gguf"
echo c0ffee > "$HF/refs/main"
# $LLMFS_MODEL: a directory and a file
mkdir -p "$T/mine"
cp "$M/llamacpp/tiny-q4_k.gguf" "$T/mine/"
export LLMFS_MODEL=$T/mine:$M/llamacpp/tiny-f16.gguf

list=$("$BIN/llmfs" --list-models 2>&1)
printf '%s\n' "$list" | sed 's/^/#   /'
has() { printf '%s\n' "$list" | grep -Eq "$1"; }
check "list: the Ollama model, by tag" has "^stories:latest +ollama +1\.1 MiB +$O/blobs/sha256-$dig\$"
check "list: its second tag" has "^stories:small +ollama "
check "list: llama.cpp's cache" has "^acme_tiny-GGUF_tiny-q5_k +llama\.cpp +[0-9.]+ MiB +$HOME/\.cache/llama\.cpp/acme_tiny-GGUF_tiny-q5_k\.gguf\$"
check "list: Hugging Face's snapshot of refs/main" has "^acme/tiny-GGUF/tiny-q3_k +huggingface "
check "list: not the other revision" bash -c '! grep -q tiny-old <<<"$1"' _ "$list"
check "list: \$LLMFS_MODEL's directory and file" has "^tiny-q4_k +LLMFS_MODEL .*/mine/tiny-q4_k\.gguf\$"
check "list: \$LLMFS_MODEL's file" has "^tiny-f16 +LLMFS_MODEL "
check "list: damaged manifests are left out" bash -c '! grep -q broken <<<"$1"' _ "$list"
check "list: one line a model" [ "$(printf '%s\n' "$list" | wc -l)" -eq 6 ]

# by name, the same tokens as by path
run --model "$STORIES" > "$T/path.out"
for name in stories stories:latest stories:small; do
    if run --model "$name" > "$T/name.out" 2>"$T/name.err"; then
        check "llmfs-run --model $name: as the path" cmp -s "$T/path.out" "$T/name.out"
    else
        notok "llmfs-run --model $name" "$(cat "$T/name.err")"
    fi
done
for pair in "acme_tiny-GGUF_tiny-q5_k:$HOME/.cache/llama.cpp/acme_tiny-GGUF_tiny-q5_k.gguf" \
            "acme/tiny-GGUF/tiny-q3_k:$HF/blobs/b1" "acme/tiny-GGUF:$HF/blobs/b1" \
            "tiny-q3_k:$HF/blobs/b1" "tiny-q4_k:$T/mine/tiny-q4_k.gguf" \
            "TINY-F16:$M/llamacpp/tiny-f16.gguf"; do
    name=${pair%%:*} file=${pair#*:}
    run --model "$file" > "$T/p.out" 2>&1
    run --model "$name" > "$T/n.out" 2>&1
    check "llmfs-run --model $name: as $(basename "$file")" cmp -s "$T/p.out" "$T/n.out"
done

# the places moved by their variables
mkdir -p "$T/elsewhere"
mv "$O" "$T/elsewhere/ollama"
check "OLLAMA_MODELS moves Ollama's place" bash -c \
    'OLLAMA_MODELS=$1 "$2/llmfs" --list-models | grep -q "^stories:latest "' _ "$T/elsewhere/ollama" "$BIN"
check "without it the model is gone" bash -c '! "$1/llmfs" --list-models | grep -q "^stories:latest "' _ "$BIN"
mv "$T/elsewhere/ollama" "$O"
mv "$HOME/.cache/llama.cpp" "$T/elsewhere/lc"
check "LLAMA_CACHE moves llama.cpp's cache" bash -c \
    'LLAMA_CACHE=$1 "$2/llmfs" --list-models | grep -q "^acme_tiny-GGUF_tiny-q5_k "' _ "$T/elsewhere/lc" "$BIN"
mv "$T/elsewhere/lc" "$HOME/.cache/llama.cpp"
mkdir -p "$T/elsewhere/hfhome"
mv "$HOME/.cache/huggingface/hub" "$T/elsewhere/hfhome/hub"
check "HF_HOME moves Hugging Face's cache" bash -c \
    'HF_HOME=$1 "$2/llmfs" --list-models | grep -q "^acme/tiny-GGUF/tiny-q3_k "' _ "$T/elsewhere/hfhome" "$BIN"
check "HF_HUB_CACHE too" bash -c \
    'HF_HUB_CACHE=$1/hub "$2/llmfs" --list-models | grep -q "^acme/tiny-GGUF/tiny-q3_k "' _ "$T/elsewhere/hfhome" "$BIN"
mv "$T/elsewhere/hfhome/hub" "$HOME/.cache/huggingface/hub"

# missing and ambiguous names: one line, the candidates, a failure status
if run --model nosuchmodel > /dev/null 2> "$T/miss.err"; then
    notok "a missing name fails"
else
    check "a missing name: one line" [ "$(wc -l < "$T/miss.err")" -eq 1 ]
    check "it says so and lists what there is" grep -q "model 'nosuchmodel' not found.*found: .*stories:latest (ollama)" "$T/miss.err"
fi
run --model stor > /dev/null 2> "$T/near.err"
check "a near name lists the close ones first" grep -q "model 'stor' not found.*found: stories:latest (ollama), stories:small (ollama)" "$T/near.err"
mkdir -p "$T/mine2" && cp "$M/llamacpp/tiny-q8_0.gguf" "$T/mine2/dup.gguf" && cp "$M/llamacpp/tiny-q6_k.gguf" "$T/mine/dup.gguf"
if LLMFS_MODEL=$T/mine:$T/mine2 run --model dup > /dev/null 2> "$T/amb.err"; then
    notok "an ambiguous name fails"
else
    check "an ambiguous name: one line" [ "$(wc -l < "$T/amb.err")" -eq 1 ]
    check "it lists both" grep -q "model 'dup' is ambiguous; give one of: dup (LLMFS_MODEL), dup (LLMFS_MODEL)" "$T/amb.err"
fi
cp "$M/llamacpp/tiny-q6_k.gguf" "$T/mine/tiny-q3_k.gguf"   # exactly a name that ends Hugging Face's
run --model tiny-q3_k > "$T/n.out" 2>&1
run --model "$T/mine/tiny-q3_k.gguf" > "$T/p.out" 2>&1
check "an exact name beats a longer match" cmp -s "$T/p.out" "$T/n.out"
check "llmfs: a missing name fails in one line before mounting" bash -c \
    'mkdir -p "$2" && ! "$1/llmfs" --model nosuchmodel "$2" 2>"$3" && [ "$(wc -l <"$3")" -eq 1 ] && grep -q "^llmfs: model .nosuchmodel. not found" "$3"' \
    _ "$BIN" "$T/mnt-miss" "$T/mnt-miss.err"

# a mount by name answers as llmfs-run
MNT=$T/mnt
if mount_llmfs "$MNT" --model stories -o "$NOCACHE"; then
    ok "mount --model stories"
    printf -- '---\nmax_tokens: 16\n---\nOnce upon a time\n' > "$MNT/prompts/p"
    cat "$MNT/completions/p" > "$T/fs.out"
    check "the mount's completion equals llmfs-run's" cmp -s "$T/path.out" "$T/fs.out"
    check "clean unmount" umount_llmfs "$MNT"
else
    notok "mount --model stories"
fi
finish
