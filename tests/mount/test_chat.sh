#!/usr/bin/env bash
# chats/NAME through the mount, on a model with Phi-3's vocabulary and a
# phi3 chat template: ">>" appends turns and the transcript holds each
# with the reply llmfs-run --chat gives; the second turn's cached tokens
# (stats/requests) cover the first turn; ">" starts a new conversation; a
# front matter's system: sets the system prompt (only at the start);
# sampled replies are the same for the same seed; on a slower model the
# reply streams into a cat and a turn written during a reply waits for it;
# a model whose template is not recognised refuses turns in one line.
. "$(dirname "$0")/lib.sh"
VOCAB=$LLMFS_SHARED/vocab/ggml-vocab-phi-3.gguf
mk() {   # mk FILE TEMPLATE [mkmodel args...]
    local f=$1 t=$2; shift 2
    "$BIN/llmfs-mkmodel" -o "$f" --heads 4 --kv-heads 4 --vocab-file "$VOCAB" --ctx 512 \
        --seed 3 --std 0.15 --chat-template "$t" "$@" >/dev/null 2>&1
}
# expect OUT REPLIES TURN...: the transcript of TURNs whose replies are the
# lines of REPLIES (llmfs-run --chat's output), with an optional system
# prompt in $SYS.
expect() {
    python3 - "$@" <<'PY'
import os, sys
out, replies, turns = sys.argv[1], open(sys.argv[2]).read().split("\n"), sys.argv[3:]
s = "system: %s\n\n" % os.environ["SYS"] if os.environ.get("SYS") else ""
for q, r in zip(turns, replies):
    s += "user: %s\n\nassistant: %s\n\n" % (q, r)
open(out, "w").write(s)
PY
}
# row MOUNT N FIELD: FIELD of the Nth stats/requests row of chats/NAME ($NAME).
row() {
    python3 -c '
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["name"] == sys.argv[2]]
n = int(sys.argv[3])
print(rows[n - 1][sys.argv[4]] if len(rows) >= n else "")' "$1/stats/requests" "chats/$NAME" "$2" "$3"
}

m=$T/chat.gguf
mk "$m" phi3 --dim 64 --hidden 128 --layers 2 --type q8_0 || { notok "llmfs-mkmodel"; finish; }
M=$T/mnt
mount_llmfs "$M" --model "$m" -o generation.max_tokens=24 || { notok "mount"; finish; }
check "chats/ is in the mount's root" [ -d "$M/chats" ]
check "stats/engine names the chat format" grep -qx "chat_format phi3" "$M/stats/engine"
Q1="What is the capital of France?" Q2="And of Italy?"
printf '%s\n%s\n' "$Q1" "$Q2" | "$BIN/llmfs-run" --model "$m" --chat -n 24 > "$T/run" 2>/dev/null

# --- two turns with ">>"
NAME=x
echo "$Q1" >> "$M/chats/x"
cat "$M/chats/x" > "$T/x1"
echo "$Q2" >> "$M/chats/x"
cat "$M/chats/x" > "$T/x2"
expect "$T/want1" "$T/run" "$Q1"
expect "$T/want2" "$T/run" "$Q1" "$Q2"
check "the first turn's transcript: the question and llmfs-run --chat's reply" cmp -s "$T/x1" "$T/want1"
check "the second turn continues the conversation as llmfs-run --chat does" cmp -s "$T/x2" "$T/want2"
check "st_size is the transcript's length" [ "$(stat -c %s "$M/chats/x")" -eq "$(wc -c < "$T/x2")" ]
p1=$(row "$M" 1 prompt_tokens) g1=$(row "$M" 1 generated_tokens)
p2=$(row "$M" 2 prompt_tokens) c2=$(row "$M" 2 cached_tokens)
if [ -n "$p1" ] && [ -n "$p2" ]; then
    # the whole blocks (16 positions) of the first turn's prompt and reply
    # whose KV was computed: all but the last token sampled
    want=$(( (p1 + g1 - 1) / 16 * 16 ))
    echo "# turn 1: $p1 prompt + $g1 generated tokens; turn 2: $p2 prompt, $c2 from the prefix cache"
    check "stats/requests: the second turn's cached tokens cover the first turn, reply included" \
        [ "$c2" -eq "$want" -a "$c2" -gt "$p1" ]
    check "stats/requests: the second turn's prompt is the whole conversation" \
        [ "$p2" -gt $((p1 + g1)) ]
else
    notok "stats/requests has a row per turn" "$(cat "$M/stats/requests")"
fi
# llama.cpp (node-llama-cpp) renders the model's own template with Jinja
# and tokenizes it: as many tokens as the first turn's prompt
if [ -e tests/node/node_modules/node-llama-cpp/package.json ] && command -v node >/dev/null; then
    ref=$(python3 -c 'import json, sys; print(json.dumps({"bos_token": "<s>", "tokenize": sys.argv[1],
        "messages": [{"role": "user", "content": sys.argv[2]}]}))' "$m" "$Q1" |
          node tests/node/chat_ref.mjs 2>/dev/null | wc -w)
    check "the first turn's prompt is as many tokens as llama.cpp makes of the template ($ref)" \
        [ "$ref" -gt 0 -a "$ref" = "${p1:-}" ]
else
    skip "the first turn's prompt against llama.cpp's" "tests/node is not installed"
fi
check "ls chats/ lists the conversation" [ "$(ls "$M/chats")" = x ]

# --- ">" starts a new conversation
echo "$Q1" > "$M/chats/x"
cat "$M/chats/x" > "$T/x3"
check "> starts a new conversation" cmp -s "$T/x3" "$T/want1"
: > "$M/chats/x"
check "> with nothing empties the transcript" [ ! -s "$M/chats/x" ]

# --- system prompt in a front matter
printf 'Hello there\n' | "$BIN/llmfs-run" --model "$m" --chat -n 24 --system "Be brief." > "$T/runs" 2>/dev/null
printf -- '---\nsystem: Be brief.\n---\nHello there\n' > "$M/chats/s"
SYS="Be brief." expect "$T/wants" "$T/runs" "Hello there"
check "front matter system: sets the system prompt" cmp -s <(cat "$M/chats/s") "$T/wants"
if /usr/bin/printf -- '---\nsystem: Later.\n---\nHi\n' >> "$M/chats/s" 2>/dev/null; then
    notok "system: after the first turn is refused"
else
    check "system: after the first turn is refused (EINVAL, with the reason)" \
        grep -q "only at the start" <(xattr_get "$M/chats/s" user.llmfs.error)
fi
check "the refused turn leaves the transcript as it was" cmp -s <(cat "$M/chats/s") "$T/wants"

# --- sampled replies are the same for the same seed
for c in a b; do
    printf -- '---\ntemperature: 0.9\nseed: 7\n---\n%s\n' "$Q1" > "$M/chats/$c"
    echo "$Q2" >> "$M/chats/$c"
done
cat "$M/chats/a" > "$T/a"; cat "$M/chats/b" > "$T/b"
check "the same seed gives the same conversation" cmp -s "$T/a" "$T/b"
cp "$M/chats/a" "$T/a"; cp "$M/chats/b" "$T/b"
differ() { ! cmp -s "$1" "$2"; }
check "sampling gives another conversation than greedy decoding" differ "$T/a" "$T/want2"
rm "$M/chats/a"
check "rm chats/a removes it" [ ! -e "$M/chats/a" ]
check "clean unmount" umount_llmfs "$M"

# --- a conversation past the context: the turn is refused, and says why;
# a turn over limits.max_prompt_bytes is refused at its write
C=$T/ctx
if mount_llmfs "$C" --model "$m" -o context=48,generation.max_tokens=24,limits.max_prompt_bytes=4096; then
    echo "$Q1" >> "$C/chats/c"
    cat "$C/chats/c" > /dev/null
    if /bin/echo "$Q2" >> "$C/chats/c" 2>/dev/null; then
        notok "a turn past the context is refused (EFBIG)"
    else
        check "a turn past the context is refused (EFBIG), and says why" \
            grep -q "no longer fits the context" <(xattr_get "$C/chats/c" user.llmfs.error)
    fi
    : > "$C/chats/c"
    echo "$Q1" >> "$C/chats/c"
    check "> makes room again" grep -q "^assistant: " "$C/chats/c"
    if head -c 5000 /dev/zero | tr '\0' x > "$C/chats/big" 2>/dev/null; then
        notok "a turn over limits.max_prompt_bytes is refused (EFBIG)"
    else
        ok "a turn over limits.max_prompt_bytes is refused (EFBIG)"
    fi
    check "clean unmount (context)" umount_llmfs "$C"
else
    notok "mount with a small context"
fi

# --- streaming and a turn written during a reply, on a slower model
sm=$T/slow.gguf
if mk "$sm" phi3 --dim 512 --hidden 2048 --layers 8 --heads 8 --kv-heads 8 --type f32; then
    S=$T/slow
    mount_llmfs "$S" --model "$sm" -o generation.max_tokens=64,generation.ignore_eos=true 2>/dev/null ||
        mount_llmfs "$S" --model "$sm" -o generation.max_tokens=64
    printf '%s\n%s\n' "$Q1" "$Q2" | "$BIN/llmfs-run" --model "$sm" --chat -n 64 > "$T/srun" 2>/dev/null
    NAME=q
    t0=$(now_ms)
    echo "$Q1" >> "$S/chats/q"
    cat "$S/chats/q" | { IFS= read -r -n1 _; now_ms > "$T/first"; cat > /dev/null; now_ms > "$T/end"; } &
    catpid=$!
    echo "$Q2" >> "$S/chats/q"       # while the first reply streams
    t_q2=$(now_ms)
    wait $catpid
    cat "$S/chats/q" > "$T/q"
    first=$(( $(cat "$T/first") - t0 )) end=$(( $(cat "$T/end") - t0 ))
    echo "# first byte after $first ms, both replies after $end ms"
    check "the transcript streams: cat has its first bytes well before the end" [ "$first" -lt $((end / 3)) ]
    check "the second turn was written during the first reply" [ $((t_q2 - t0)) -lt "$end" ]
    expect "$T/wantq" "$T/srun" "$Q1" "$Q2"
    check "a turn written during a reply waits for it and continues the conversation" \
        cmp -s "$T/q" "$T/wantq"
    check "cat ran to the end of both replies" [ "$(row "$S" 2 state)" = done ]
    check "clean unmount of the slower model" umount_llmfs "$S"
else
    notok "llmfs-mkmodel (slower model)"
fi

# --- a template llmfs does not recognise: turns are refused in one line
printf '{%% for m in messages %%}<<{{ m.content }}>>{%% endfor %%}' > "$T/odd.jinja"
om=$T/odd.gguf
mk "$om" "$T/odd.jinja" --dim 64 --hidden 128 --layers 2 --type q8_0
O=$T/odd
if mount_llmfs "$O" --model "$om"; then
    if /bin/echo hi >> "$O/chats/x" 2>/dev/null; then
        notok "a turn with an unrecognised template fails (EINVAL)"
    else
        ok "a turn with an unrecognised template fails (EINVAL)"
    fi
    err=$(xattr_get "$O/chats/x" user.llmfs.error)
    echo "# $err"
    check "its reason is one line naming the formats llmfs renders" \
        [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 -a -n "$(grep 'chat template not recognised; llmfs renders chatml' <<<"$err")" ]
    check "prompts/ still work on that model" sh -c "echo hi > '$O/prompts/p' && cat '$O/completions/p' >/dev/null"
    umount_llmfs "$O"
else
    notok "mount a model with an unrecognised template"
fi
finish
