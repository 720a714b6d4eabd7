#!/usr/bin/env bash
# Starvation, cancellation and backpressure, on a slow
# model: with 64 readers blocked on unfinished completions, a new prompt,
# stats/metrics and ls all answer within a second; rm prompts/x cancels
# (stats count it) and removes completions/x; rewriting a prompt cancels
# its generation; a full queue gives EBUSY with a readable reason.
. "$(dirname "$0")/lib.sh"
SM=$(slow_model) || { skip "starvation" "no $BIN/llmfs-mkmodel"; finish; }
M=$T/mnt
if ! mount_llmfs "$M" --model "$SM" -o generation.max_tokens=500,$NOCACHE; then
    notok "mount the slow model"; finish
fi
pids=()
for i in $(seq 1 64); do
    echo "Prompt number $i" > "$M/prompts/q$i"
    cat "$M/completions/q$i" > /dev/null &
    pids+=($!)
done
sleep 1
alive=0
for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
echo "# $alive readers blocked"
check "64 readers are blocked on unfinished completions" [ "$alive" -eq 64 ]
t=$(now_ms); echo "Once upon a time" > "$M/prompts/new"; rc=$?; dt=$(( $(now_ms) - t ))
check "a new prompt is accepted within 1 s (${dt} ms)" [ $rc -eq 0 -a "$dt" -lt 1000 ]
t=$(now_ms); timeout 5 cat "$M/stats/metrics" > "$T/metrics"; dt=$(( $(now_ms) - t ))
check "cat stats/metrics answers within 1 s (${dt} ms)" [ -s "$T/metrics" -a "$dt" -lt 1000 ]
t=$(now_ms); n=$(timeout 5 ls "$M/completions" | wc -l); dt=$(( $(now_ms) - t ))
check "ls answers within 1 s (${dt} ms)" [ "$n" -eq 65 -a "$dt" -lt 1000 ]
check "stats show requests waiting" [ "$(metric "$T/metrics" requests_waiting)" -gt 0 ]

# rewrite: cancels the old generation
c0=$(metric "$M/stats/metrics" requests_cancelled)
echo "Another prompt" > "$M/prompts/q1"
c1=$(metric "$M/stats/metrics" requests_cancelled)
check "rewriting a prompt cancels its generation" [ "$c1" -eq $((c0 + 1)) ]
check "the old reader of a rewritten prompt gets EOF" wait_for 5 eval "! kill -0 ${pids[0]} 2>/dev/null"

# rm cancels and removes the completion
rm "$M"/prompts/q*
c2=$(metric "$M/stats/metrics" requests_cancelled)
check "rm prompts/x cancels (cancelled count $c1 -> $c2)" [ "$c2" -ge $((c1 + 64)) ]
check "rm prompts/x removes completions/x" [ ! -e "$M/completions/q5" ]
check "ls completions/ after rm" [ "$(ls "$M/completions")" = new ]
gone=1
for p in "${pids[@]}"; do
    wait_for 5 eval "! kill -0 $p 2>/dev/null" || gone=0
done
check "readers of cancelled completions end (EOF)" [ $gone -eq 1 ]
check "stats/requests shows cancelled rows" grep -q '^q7,cancelled,' "$M/stats/requests"
rm "$M/prompts/new"
check "clean unmount" umount_llmfs "$M"

# a full queue: EBUSY on close, with the reason
M2=$T/mnt2
if mount_llmfs "$M2" --model "$SM" -o scheduler.queue=1,scheduler.max_batch=1,$NOCACHE; then
    echo "one" > "$M2/prompts/a"; sleep 0.3
    echo "two" > "$M2/prompts/b"
    err=$( (/bin/echo "three" > "$M2/prompts/c") 2>&1 ); rc=$?   # checks close()
    echo "# $err"
    check "a full queue fails the writer's close with EBUSY" \
        eval '[ $rc -ne 0 ] && [[ "$err" == *"busy"* ]]'
    check "user.llmfs.error tells why" eval '[[ "$(xattr_get "$M2/prompts/c" user.llmfs.error)" == *queue* ]]'
    check "stats/metrics counts the rejection" \
        [ "$(metric "$M2/stats/metrics" requests_rejected_busy)" -eq 1 ]
    rm "$M2"/prompts/*
    check "clean unmount (queue test)" umount_llmfs "$M2"
else
    notok "mount for the queue test"
fi
finish
