#!/usr/bin/env bash
# More writers than the daemon has FUSE threads rewrite prompts while
# readers look completions up: every rewrite makes the kernel forget the
# old completions/NAME, which waits for the completions/ directory's lock
# that a reader's lookup holds while it waits for a FUSE thread.  The
# daemon must never make a FUSE thread wait for that (it did: the mount
# hung); afterwards it still answers.
. "$(dirname "$0")/lib.sh"
M=$T/mnt
mount_llmfs "$M" --model "$MODEL" -o generation.max_tokens=4 || { notok "mount"; finish; }
for i in $(seq 1 16); do echo "x $i" > "$M/prompts/p$i"; done
end=$(( $(date +%s) + ${REWRITE_SECONDS:-6} ))
pids=()
for i in $(seq 1 16); do
    ( while [ "$(date +%s)" -lt "$end" ]; do echo "Once $RANDOM" > "$M/prompts/p$i" 2>/dev/null; done ) &
    pids+=($!)
done
for j in $(seq 1 6); do
    ( while [ "$(date +%s)" -lt "$end" ]; do cat "$M/completions/p$((RANDOM % 16 + 1))" > /dev/null 2>&1; done ) &
    pids+=($!)
done
sleep $(( ${REWRITE_SECONDS:-6} + 2 ))
check "the mount still answers after 16 writers and 6 readers" \
    timeout 10 sh -c "echo final > '$M/prompts/final' && cat '$M/completions/final' > /dev/null"
for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
wait 2>/dev/null

# A prompt removed while others create it again: the kernel keeps prompt
# names for a second, so an open of a name it still holds must make it
# look again (ESTALE), never fail an O_CREAT with ENOENT.
end=$(( $(date +%s) + 3 ))
( while [ "$(date +%s)" -lt "$end" ]; do rm -f "$M/prompts/q"; done ) &
pids=($!)
for i in 1 2 3; do
    ( while [ "$(date +%s)" -lt "$end" ]; do { echo "hi $i" > "$M/prompts/q"; } 2>> "$T/err.$i"; done ) &
    pids+=($!)
done
wait "${pids[@]}" 2>/dev/null
check "creating a prompt while it is being removed never fails with ENOENT" \
    eval '! cat "$T"/err.* 2>/dev/null | grep -q "No such file"'
check "clean unmount" timeout 10 fusermount3 -u "$M"
finish
