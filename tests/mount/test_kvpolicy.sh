#!/usr/bin/env bash
# The KV prefix cache's policy through the mount: a fixed sequence of
# prompts, written one after another, in which a shared system prompt
# comes back between long one-off prompts that fill the KV cache.  LRU
# lets each scan push the system prompt out; the adaptive policy keeps it
# (seen again: into its main area, where scans in probation cannot reach
# it), so more prompt tokens come from the prefix cache at the same
# cache.kv_mb.
. "$(dirname "$0")/lib.sh"
M=$T/mnt
words=(the cat sat on a mat and a dog ran to the park with a red ball while
       the sun was warm and the sky was blue so they played all day long)
text() {   # text SEED N: N words, a different order for every seed
    local s=$1 n=$2 i out=""
    for ((i = 0; i < n; i++)); do out+="${words[(s * 7 + i * (s % 5 + 3)) % ${#words[@]}]} "; done
    printf '%s' "$out"
}
SYS="$(text 1 80)"
reused() {   # reused POLICY: prompt tokens taken from the prefix cache
    local pol=$1 r k
    mount_llmfs "$M" --model "$MODEL" -o "cache.policy=$pol,cache.kv_mb=1,$NOCACHE,generation.max_tokens=4" ||
        return 1
    for r in 1 2 3 4 5 6; do
        printf '%s Question %d?\n' "$SYS" "$r" > "$M/prompts/sys$r"
        cat "$M/completions/sys$r" > /dev/null
        for k in 1 2; do
            printf '%s\n' "$(text $((r * 10 + k)) 250)" > "$M/prompts/scan$r$k"
            cat "$M/completions/scan$r$k" > /dev/null
        done
    done
    metric "$M/stats/metrics" prefix_cached_tokens
    cat "$M/stats/cache" > "$T/cache.$pol"
    umount_llmfs "$M"
}
lru=$(reused lru) || { notok "mount with cache.policy=lru"; finish; }
ad=$(reused adaptive) || { notok "mount with cache.policy=adaptive"; finish; }
check "more prompt tokens from the prefix cache with adaptive ($ad) than lru ($lru) at the same kv_mb" \
    [ "${ad:-0}" -gt "${lru:-0}" ]
# stats/cache: the KV policy's state and how its decisions turned out,
# since the start and recently (ratios between 0 and 1)
kv() { awk -v k="kv_policy${1:+_$1}" '$1 == k { print $2 }' "$T/cache.adaptive"; }
check "stats/cache names the KV policy ($(kv))" [ "$(kv)" = adaptive ]
check "stats/cache counts the KV policy's evictions ($(kv evicted))" [ "$(kv evicted)" -gt 0 ]
for r in kept_used_ratio evicted_returned_ratio recent_kept_used_ratio recent_evicted_returned_ratio; do
    v=$(kv $r)
    check "stats/cache kv_policy_$r is a ratio ($v)" awk -v v="$v" 'BEGIN { exit !(v != "" && v >= 0 && v <= 1) }'
done
finish
