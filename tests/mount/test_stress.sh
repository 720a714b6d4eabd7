#!/usr/bin/env bash
# A shell crowd: for a few seconds, eight workers write, rewrite, remove,
# read, tail and inspect the same few names at random, with good and bad
# front matter and xattrs.  Afterwards the daemon must be alive and
# answering, every completion must read to its end, the counters must
# add up, and a clean unmount must follow.  (Under the sanitizer build the
# daemon's reports fail the test through lib.sh.)
. "$(dirname "$0")/lib.sh"
DURATION=${STRESS_SECONDS:-6}
# two rounds: plenty of KV cache, then one so small (1 MB: about 50 blocks
# of 16 positions) that sequences wait, share prefixes and are preempted
for round in roomy tight; do
M=$T/m-$round
opts=generation.max_tokens=60,scheduler.queue=64
[ $round = tight ] && opts=generation.max_tokens=250,scheduler.queue=64,cache.kv_mb=1
if ! mount_llmfs "$M" --model "$MODEL" -o "$opts"; then
    notok "mount ($round)"; finish
fi
worker() {
    local w=$1 end=$(( $(date +%s) + DURATION )) i=0 n
    RANDOM=$((w * 7919))
    while [ "$(date +%s)" -lt "$end" ]; do
        n=x$((RANDOM % 6)); i=$((i + 1))
        case $((RANDOM % 12)) in
        0|1) printf 'Once upon a time %d\n' "$i" > "$M/prompts/$n" 2>/dev/null ;;
        2) printf 'Once upon a time there was a little girl named Lily who loved the park. %d\n' "$i" > "$M/prompts/$n" 2>/dev/null ;;
        3) printf -- '---\nmax_tokens: %d\ntemperature: 0.7\nseed: %d\n---\nLily %d\n' \
               $((RANDOM % 40 + 1)) "$i" "$i" > "$M/prompts/$n" 2>/dev/null ;;
        4) printf -- '---\nmax_tokens: [oops\n---\nbad\n' > "$M/prompts/$n" 2>/dev/null ;;
        5) rm -f "$M/prompts/$n" 2>/dev/null ;;
        6|7) timeout 5 cat "$M/completions/$n" > /dev/null 2>&1 ;;
        8) timeout 5 head -c 7 "$M/completions/$n" > /dev/null 2>&1 ;;
        9) ls -l "$M/prompts" "$M/completions" > /dev/null 2>&1 ;;
        10) cat "$M/stats/metrics" "$M/stats/requests" "$M/stats/prometheus" > /dev/null 2>&1 ;;
        11) printf 'and then %d' "$i" >> "$M/prompts/$n" 2>/dev/null ;;
        esac
    done
}
for w in 1 2 3 4 5 6 7 8; do worker "$w" & done
wait
check "$round: the daemon is still mounted after the crowd" mountpoint -q "$M"
check "$round: it still answers a new prompt" eval 'echo "Once upon a time" > "$M/prompts/final" && [ -s "$M/completions/final" ] || { cat "$M/completions/final" > /dev/null; [ -s "$M/completions/final" ]; }'
all_read=1
for f in "$M"/completions/*; do
    timeout 20 cat "$f" > /dev/null || all_read=0
done
check "$round: every completion reads to its end" [ $all_read -eq 1 ]
wait_for 10 eval '[ "$(metric "$M/stats/metrics" requests_running)" -eq 0 ] && [ "$(metric "$M/stats/metrics" requests_waiting)" -eq 0 ]'
sub=$(metric "$M/stats/metrics" requests_submitted)
fin=$(metric "$M/stats/metrics" requests_finished)
can=$(metric "$M/stats/metrics" requests_cancelled)
fal=$(metric "$M/stats/metrics" requests_failed)
check "$round: every accepted request finished or was cancelled ($sub = $fin + $can + $fal)" \
    eval '[ "$sub" -gt 20 ] && [ "$sub" -eq $((fin + can + fal)) ]'
check "$round: no KV blocks are left in use" eval '[ "$(metric "$M/stats/engine" kv_blocks_used)" -eq 0 ]'
check "$round: promtool still accepts stats/prometheus" eval 'promtool check metrics < "$M/stats/prometheus" > /dev/null 2>&1'
[ $round = tight ] && echo "# tight round: $(metric "$M/stats/metrics" preemptions) preemptions, $(metric "$M/stats/cache" kv_prefix_hits) prefix-cache hits"
check "$round: clean unmount after the crowd" umount_llmfs "$M"
done
finish
