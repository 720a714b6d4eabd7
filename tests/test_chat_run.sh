#!/usr/bin/env bash
# llmfs-run --chat: a conversation from stdin in the model's chat
# template.  The second turn reuses the first turn's KV (its cached
# tokens are every whole block of the first turn's prompt and reply),
# replies are the same run after run and do not depend on turns that
# come later, --system changes them, and a model whose template is
# missing or not recognised fails with one line.
set -u
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
LLMFS_SHARED=${LLMFS_SHARED:-../shared}
RUN=$BIN/llmfs-run
tmp=$(mktemp -d "${TMPDIR:-/tmp}/llmfs-chat-run.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
ok()     { echo "ok - chat run: $1"; }
not_ok() { echo "not ok - chat run: $1"; shift; for l in "$@"; do echo "#   $l"; done; }
check()  { local n=$1; shift; if "$@"; then ok "$n"; else not_ok "$n"; fi; }

m=$tmp/phi3.gguf
if ! err=$("$BIN/llmfs-mkmodel" -o "$m" --dim 64 --hidden 128 --layers 2 --heads 4 --kv-heads 2 \
        --vocab-file "$LLMFS_SHARED/vocab/ggml-vocab-phi-3.gguf" --ctx 256 --type q8_0 \
        --seed 3 --std 0.15 --chat-template phi3 2>&1); then
    not_ok "llmfs-mkmodel --chat-template phi3" "$err"; exit 1
fi
printf 'What is the capital of France?\nAnd of Italy?\n' > "$tmp/turns"
"$RUN" --model "$m" --chat -n 24 --stats < "$tmp/turns" > "$tmp/out" 2> "$tmp/err"
check "exits 0" [ $? -eq 0 ]
check "one reply line per turn" [ "$(wc -l < "$tmp/out")" -eq 2 ]
read -r _ _ _ p1 _ c1 _ g1 <<<"$(grep '^turn 1 ' "$tmp/err")"
read -r _ _ _ p2 _ c2 _ g2 <<<"$(grep '^turn 2 ' "$tmp/err")"
if [ -n "${p1:-}" ] && [ -n "${p2:-}" ]; then
    # the whole blocks (16 positions) of the first turn's prompt and reply
    # whose KV was computed: all but the last token sampled
    want=$(( (p1 + g1 - 1) / 16 * 16 ))
    if [ "$c1" -eq 0 ] && [ "$c2" -eq "$want" ] && [ "$c2" -gt "$p1" ] && [ "$p2" -gt $((p1 + g1)) ]; then
        ok "the second turn's cached tokens cover the first turn, reply included ($c2 of $p2)"
    else
        not_ok "the second turn's cached tokens cover the first turn, reply included" "$(cat "$tmp/err")"
    fi
else
    not_ok "--stats reports each turn" "$(cat "$tmp/err")"
fi
"$RUN" --model "$m" --chat -n 24 < "$tmp/turns" > "$tmp/out2" 2>/dev/null
check "the same conversation gives the same replies" cmp -s "$tmp/out" "$tmp/out2"
head -1 "$tmp/turns" | "$RUN" --model "$m" --chat -n 24 > "$tmp/one" 2>/dev/null
check "a reply does not depend on later turns" cmp -s "$tmp/one" <(head -1 "$tmp/out")
"$RUN" --model "$m" --chat -n 24 --temp 0.9 --seed 7 < "$tmp/turns" > "$tmp/s1" 2>/dev/null
"$RUN" --model "$m" --chat -n 24 --temp 0.9 --seed 7 < "$tmp/turns" > "$tmp/s2" 2>/dev/null
check "sampled replies are the same for the same seed" cmp -s "$tmp/s1" "$tmp/s2"
"$RUN" --model "$m" --chat -n 24 --system "Answer in French." < "$tmp/turns" > "$tmp/sys" 2>/dev/null
differ() { ! cmp -s "$1" "$2"; }
check "--system changes the replies" differ "$tmp/out" "$tmp/sys"

# refused in one line: no template, and one that is not recognised
echo hi | "$RUN" --model "$LLMFS_SHARED/models/stories260K.gguf" --chat > /dev/null 2> "$tmp/e1"
rc=$?
if [ $rc -eq 1 ] && [ "$(wc -l < "$tmp/e1")" -eq 1 ] && grep -q "no tokenizer.chat_template" "$tmp/e1"; then
    ok "a model without a template: status 1, one line"
else
    not_ok "a model without a template: status 1, one line" "status $rc" "$(cat "$tmp/e1")"
fi
printf '{%% for m in messages %%}{{ m.content }}{%% endfor %%}' > "$tmp/odd.jinja"
"$BIN/llmfs-mkmodel" -o "$tmp/odd.gguf" --dim 64 --hidden 128 --layers 2 --heads 4 --vocab 300 \
    --ctx 64 --type f32 --chat-template "$tmp/odd.jinja" 2>/dev/null
echo hi | "$RUN" --model "$tmp/odd.gguf" --chat > /dev/null 2> "$tmp/e2"
rc=$?
if [ $rc -eq 1 ] && [ "$(wc -l < "$tmp/e2")" -eq 1 ] && grep -q "not recognised" "$tmp/e2"; then
    ok "an unrecognised template: status 1, one line ($(cat "$tmp/e2"))"
else
    not_ok "an unrecognised template: status 1, one line" "status $rc" "$(cat "$tmp/e2")"
fi
"$RUN" --model "$m" --chat -p hi < /dev/null > /dev/null 2>&1
check "--chat with -p is refused" [ $? -eq 2 ]
