#!/usr/bin/env bash
# Reference outputs: for every reference case, `echo "$(cat sN.prompt)" >
# prompts/x; cat completions/x` prints what llmfs-run prints with the
# same (default) parameters, and so the reference completion.
. "$(dirname "$0")/lib.sh"
M=$T/mnt
if ! mount_llmfs "$M" --model "$MODEL"; then notok "mount"; finish; fi
ok "mount"
for p in "$LLMFS_SHARED"/models/reference/s*.prompt; do
    c=$(basename "$p" .prompt)
    prompt=$(cat "$p")
    "$BIN/llmfs-run" --model "$MODEL" -p "$prompt" --temp 0 -n 256 > "$T/$c.run"
    echo "$prompt" > "$M/prompts/$c"
    cat "$M/completions/$c" > "$T/$c.fs"
    check "$c: completion equals llmfs-run" cmp -s "$T/$c.run" "$T/$c.fs"
    # The reference ran 256 positions in all (BOS and prompt included):
    # ask for what it left for generation, through the xattr.
    P=$("$BIN/llmfs-run" --model "$MODEL" -p "$prompt" -n 1 --stats 2>&1 >/dev/null |
        awk '$1 == "prompt_tokens" { print $2 }')
    : > "$M/prompts/r$c"
    python3 -c 'import os, sys; os.setxattr(sys.argv[1], "user.llmfs.max_tokens", sys.argv[2].encode())' \
        "$M/prompts/r$c" "$((257 - P))"
    echo "$prompt" > "$M/prompts/r$c"
    cat "$M/completions/r$c" > "$T/r$c.fs"
    check "$c: completion equals the reference (max_tokens $((257 - P)))" \
        cmp -s "${p%.prompt}.completion" "$T/r$c.fs"
done
# Every submitted prompt is listed.
want=$(cd "$LLMFS_SHARED/models/reference" && ls s*.prompt | sed 's/\.prompt$//' |
       sed 'p; s/^/r/' | sort)
check "ls completions/ lists every submitted prompt" [ "$(ls "$M/completions" | sort)" = "$want" ]
check "clean unmount" umount_llmfs "$M"
finish
