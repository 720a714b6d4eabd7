#!/usr/bin/env bash
# llmfs-bench smoke test: 8 requests at concurrency 4 against a real mount
# of the small model all complete, none fails, the summary adds up and the
# bench removes its prompts; usage errors are one line and a non-zero exit.
. "$(dirname "$0")/lib.sh"
[ -x "$BIN/llmfs-bench" ] || { skip "llmfs-bench" "no $BIN/llmfs-bench"; finish; }
M=$T/mnt
if ! mount_llmfs "$M" --model "$MODEL" -o cache.l2_mb=0; then
    notok "mount the small model"; finish
fi

timeout 60 "$BIN/llmfs-bench" -m "$M" -c 4 -n 8 --max-tokens 32 --prompt "Once upon a time" \
    > "$T/out" 2> "$T/err"
rc=$?
sed "s/^/# /" "$T/err"; grep -E "^(wall_s|tokens_per_s|generated_tokens) " "$T/out" | sed "s/^/# /"
val() { awk -v k="$1" '$1 == k { print $2 }' "$T/out"; }
check "llmfs-bench exits 0" [ "$rc" -eq 0 ]
check "8 requests completed" [ "$(val completed)" = 8 ]
check "0 errors" [ "$(val errors)" = 0 ]
check "generated tokens counted from stats/requests" [ "$(val generated_tokens)" -gt 0 ] 2>/dev/null
check "TTFT and e2e percentiles reported" \
    awk '$1 == "ttft_ms_p50" && $2 > 0 { a = 1 } $1 == "e2e_ms_p99" && $2 > 0 { b = 1 } END { exit !(a && b) }' "$T/out"
check "prompts removed after the run" [ -z "$(ls "$M/prompts")" ]

timeout 60 "$BIN/llmfs-bench" -m "$M" -c 2 -n 4 --max-tokens 8 --csv > "$T/csv" 2>/dev/null
check "--csv: a header and one row per request" [ "$(wc -l < "$T/csv")" -eq 5 ]

"$BIN/llmfs-bench" -m "$M" -c 0 > /dev/null 2> "$T/bad"
rc=$?
check "a bad option is a one-line error and exit 2" \
    [ "$rc" -eq 2 ] && [ "$(wc -l < "$T/bad")" -eq 1 ]
check "clean unmount" umount_llmfs "$M"
finish
