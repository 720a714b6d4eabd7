# Shared by the benchmark scripts (sourced): where the programs and the
# cached random-weight models are, the 110M LLaMA shape, and plain English
# sentences the synthetic vocabulary tokenizes well.
BIN=${BIN:-bin}
DIR=${LLMFS_BENCH_DIR:-${TMPDIR:-/tmp}/llmfs-bench}
SHAPE_110M=(--dim 768 --hidden 2048 --layers 12 --heads 12 --vocab 32000 --ctx 1024 --seed 1)

# bench_require WHO PROGRAM...: exits unless every program is built.
bench_require() {
    local who=$1 p; shift
    for p; do
        [ -x "$BIN/$p" ] || { echo "$who: $BIN/$p is not built (run make)" >&2; exit 1; }
    done
}

# bench_model TYPE: prints the path of the 110M model of TYPE, made once.
bench_model() {
    local m=$DIR/llama-110m-$1-s1.gguf
    mkdir -p "$DIR"
    if [ ! -s "$m" ]; then
        echo "# making $m" >&2
        "$BIN/llmfs-mkmodel" -o "$m" "${SHAPE_110M[@]}" --type "$1" >&2 || exit 1
    fi
    echo "$m"
}

# bench_arch_model ARCH TYPE: the same for an architecture of
# llmfs-mkmodel --arch (llama is bench_model's file).
bench_arch_model() {
    [ "$1" = llama ] && { bench_model "$2"; return; }
    local m=$DIR/$1-110m-$2-s1.gguf
    mkdir -p "$DIR"
    if [ ! -s "$m" ]; then
        echo "# making $m" >&2
        "$BIN/llmfs-mkmodel" -o "$m" "${SHAPE_110M[@]}" --arch "$1" --type "$2" >&2 || exit 1
    fi
    echo "$m"
}

BENCH_SENTENCES=(
    "Once upon a time there was a little girl named Lily."
    "She loved to play in the park with her friends and her big dog."
    "One day the sun was warm and the sky was blue, so they went to the river."
    "Tom found a shiny red ball under a tree and gave it to his sister."
    "They laughed and ran together until the night came and the light was gone."
    "Mom made food for the family and everyone was happy at home."
)
