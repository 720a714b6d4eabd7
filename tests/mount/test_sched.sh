#!/usr/bin/env bash
# Issue 4 through the mount: byte-identical output alone and among 15
# others (greedy and seeded sampling), KV prefix reuse shown by the stats,
# priorities under load, and rm of a running prompt freeing its KV blocks.
. "$(dirname "$0")/lib.sh"
SM=$MODEL

# ---- determinism whatever the batch
# crowd MOUNT TOKENS: a greedy and a seeded prompt alone, then again among
# 14 companions; checks the bytes are the same.
crowd() {
    local M=$1 n=$2 i
    greedy=$'---\nmax_tokens: '$n$'\n---\nOnce upon a time'
    sampled=$'---\nmax_tokens: '$n$'\ntemperature: 0.9\ntop_p: 0.9\nseed: 1234\n---\nOnce upon a time'
    printf '%s\n' "$greedy" > "$M/prompts/g-alone"; cat "$M/completions/g-alone" > "$T/g-alone"
    printf '%s\n' "$sampled" > "$M/prompts/s-alone"; cat "$M/completions/s-alone" > "$T/s-alone"
    for i in $(seq 1 7); do
        printf -- '---\nmax_tokens: %d\ntemperature: 0.8\nseed: %d\n---\nThe dog %d\n' $((2 * n)) "$i" "$i" > "$M/prompts/o$i"
        printf -- '---\nmax_tokens: %d\n---\nLily and Tom %d\n' $((2 * n)) "$i" > "$M/prompts/p$i"
    done
    printf '%s\n' "$greedy" > "$M/prompts/g-crowd"
    printf '%s\n' "$sampled" > "$M/prompts/s-crowd"
    cat "$M/completions/g-crowd" > "$T/g-crowd"
    cat "$M/completions/s-crowd" > "$T/s-crowd"
    for i in $(seq 1 7); do cat "$M/completions/o$i" "$M/completions/p$i" >/dev/null; done
    check "$3 greedy: same bytes alone and among 15 others" cmp -s "$T/g-alone" "$T/g-crowd"
    check "$3 seeded sampling: same bytes alone and among 15 others" cmp -s "$T/s-alone" "$T/s-crowd"
}
M=$T/m1
if ! mount_llmfs "$M" --model "$SM" -o scheduler.max_batch=16,scheduler.adaptive=false,$NOCACHE; then
    notok "mount"; finish
fi
crowd "$M" 120 "stories260K:"

# ---- stop strings from the front matter
full=$("$BIN/llmfs-run" --model "$SM" -p "Once upon a time" -n 120 --temp 0)
printf -- '---\nmax_tokens: 120\nstop: ["girl named", "zebra"]\n---\nOnce upon a time\n' > "$M/prompts/stop"
got=$(cat "$M/completions/stop")
check "a front-matter stop string ends the completion before it" \
    eval '[ -n "$got" ] && [ "$got" = "${full%%girl named*}" ] && [ "$got" != "$full" ]'
expect=$("$BIN/llmfs-run" --model "$SM" -p "Once upon a time" -n 120 --temp 0.9 --top-p 0.9 --seed 1234)
check "seeded sampling through the mount equals llmfs-run" eval '[ "$expect" = "$(cat "$T/s-crowd")" ]'

# ---- prefix reuse
prefix=""
for i in $(seq 1 6); do
    prefix+="Tom and Lily went to the park to play with a big red ball. "
    prefix+="The sun was warm and the birds sang in the tall green trees. "
    prefix+="Their mom gave them a cookie and they said thank you. "
done
printf -- '---\nmax_tokens: 20\n---\n%sWhat did Tom do?\n' "$prefix" > "$M/prompts/first"
cat "$M/completions/first" >/dev/null
hits0=$(metric "$M/stats/cache" kv_prefix_hits)
printf -- '---\nmax_tokens: 20\n---\n%sWhy was Lily happy?\n' "$prefix" > "$M/prompts/second"
cat "$M/completions/second" > "$T/second"
hits1=$(metric "$M/stats/cache" kv_prefix_hits)
cached=$(awk -F, '$1=="second" {print $4}' "$M/stats/requests")
check "a shared 400-token prefix is reused (stats/cache hits +$((hits1 - hits0)), requests: $cached)" \
    eval '[ $((hits1 - hits0)) -ge 384 ] && [ "$cached" -ge 384 ]'
grep -q '^llmfs_prefix_cache_hits_total [1-9]' "$M/stats/prometheus"
check "llmfs_prefix_cache_hits_total counts them" [ $? -eq 0 ]
check "finished prompts leave their blocks cached, not in use" \
    eval '[ "$(metric "$M/stats/cache" kv_blocks_cached)" -gt 24 ] && [ "$(metric "$M/stats/cache" kv_blocks_used)" -eq 0 ]'
cold=$("$BIN/llmfs-run" --model "$SM" -p "${prefix}Why was Lily happy?" -n 20)
check "its output equals a cold run" eval '[ "$cold" = "$(cat "$T/second")" ]'
check "clean unmount" umount_llmfs "$M"

SLOW=$(slow_model) || { skip "slow-model tests" "no slow model"; finish; }
# ---- a crowd on the slow model, where the companions surely overlap
M=$T/m3
if ! mount_llmfs "$M" --model "$SLOW" -o scheduler.max_batch=16,scheduler.adaptive=false,cache.kv_prefix=false,$NOCACHE; then
    notok "mount (slow model, crowd)"; finish
fi
crowd "$M" 16 "110M F32:"
check "the crowd really ran as a batch (steps of more than 8 sequences)" \
    eval '[ "$(awk '\''$1=="batch_size_steps" && $2=="8" {print $3}'\'' "$M/stats/engine")" -lt \
            "$(awk '\''$1=="batch_size_steps" && $2=="inf" {print $3}'\'' "$M/stats/engine")" ]'
check "clean unmount (slow model, crowd)" umount_llmfs "$M"

# ---- priorities, under load, on the slow model, two at a time
M=$T/m2
if ! mount_llmfs "$M" --model "$SLOW" -o scheduler.max_batch=2,scheduler.adaptive=false,cache.kv_prefix=false,$NOCACHE; then
    notok "mount (slow model)"; finish
fi
for i in $(seq -w 1 30); do
    printf -- '---\nmax_tokens: 6\n---\nnormal %s\n' "$i" > "$M/prompts/n$i"
done
for i in 1 2; do printf -- '---\nmax_tokens: 6\npriority: high\n---\nurgent %s\n' "$i" > "$M/prompts/h$i"; done
for f in "$M"/completions/*; do cat "$f" >/dev/null; done
hq=$(awk -F, '$1 ~ /^h/ {print $6}' "$M/stats/requests" | sort -n | tail -1)
nq=$(awk -F, '$1 ~ /^n(2[1-9]|30)$/ {print $6}' "$M/stats/requests" | sort -n | head -1)
check "high priority submitted last starts before queued normal ones (high waited ${hq} ms, late normals >= ${nq} ms)" \
    eval '[ -n "$hq" ] && [ -n "$nq" ] && awk -v a="$hq" -v b="$nq" "BEGIN{exit !(a < b)}"'

# ---- rm of a running prompt frees its KV blocks
printf -- '---\nmax_tokens: 600\n---\nA long story\n' > "$M/prompts/long"
wait_for 10 eval '[ "$(stat -c %s "$M/completions/long")" -gt 40 ]'
used=$(metric "$M/stats/engine" kv_blocks_used)
rm "$M/prompts/long"
wait_for 5 eval '[ "$(metric "$M/stats/engine" kv_blocks_used)" -eq 0 ]'
check "rm of a running prompt frees its KV blocks ($used -> $(metric "$M/stats/engine" kv_blocks_used))" \
    eval '[ "$used" -gt 0 ] && [ "$(metric "$M/stats/engine" kv_blocks_used)" -eq 0 ]'
check "... and counts as cancelled" eval '[ "$(metric "$M/stats/metrics" requests_cancelled)" -ge 1 ]'
check "clean unmount (slow model)" umount_llmfs "$M"

# ---- the adaptive concurrency limit: AIMD against scheduler.tpot_target_ms
aimd() {   # target_ms -> prints the limit after a burst of 16 requests
    local d=$T/aimd$1
    mount_llmfs "$d" --model "$SLOW" -o scheduler.max_batch=8,scheduler.tpot_target_ms=$1,$NOCACHE || return 1
    for i in $(seq 1 16); do printf -- '---\nmax_tokens: 32\n---\nstory %d\n' "$i" > "$d/prompts/r$i"; done
    for i in $(seq 1 16); do cat "$d/completions/r$i" >/dev/null; done
    metric "$d/stats/metrics" concurrency_limit
    umount_llmfs "$d"
}
lo=$(aimd 1); hi=$(aimd 100000)
check "the limit falls multiplicatively when time per token misses its target (limit $lo)" \
    eval '[ -n "$lo" ] && [ "$lo" -le 2 ]'
check "... and rises additively while it meets it (limit $hi)" eval '[ -n "$hi" ] && [ "$hi" -ge 6 ]'
finish
