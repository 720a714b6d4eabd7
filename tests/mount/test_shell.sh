#!/usr/bin/env bash
# Shell use on the fast model: redirection to a file equals a
# pipe, head -c, front matter and xattr parameters, >> and truncation,
# rewriting restarts, errors (EINVAL with a readable reason, EFBIG), the
# stats files (promtool, snapshot readers), config, and how mounting
# fails (unknown config key, bad model) and ends (SIGTERM).
. "$(dirname "$0")/lib.sh"
M=$T/mnt
if ! mount_llmfs "$M" --model "$MODEL" -o limits.max_prompt_bytes=4096; then
    notok "mount"; finish
fi
run() { "$BIN/llmfs-run" --model "$MODEL" --temp 0 "$@"; }
# same COMPLETION FILE: cat first (cmp trusts st_size, the bytes so far).
same() { cat "$1" > "$T/same.tmp" && cmp -s "$T/same.tmp" "$2"; }

# --- redirection, pipes, head
echo "Once upon a time" > "$M/prompts/x"
cat "$M/completions/x" > "$T/x.file"
cat "$M/completions/x" | cat > "$T/x.pipe"
check "cat completions/x > file equals a pipe" cmp -s "$T/x.file" "$T/x.pipe"
run -p "Once upon a time" -n 256 > "$T/x.run"
check "... and equals llmfs-run" cmp -s "$T/x.file" "$T/x.run"
check "head -c 10" [ "$(head -c 10 "$M/completions/x")" = "$(head -c 10 "$T/x.run")" ]
check "cp completions/x" eval 'cp "$M/completions/x" "$T/x.cp" && cmp -s "$T/x.cp" "$T/x.run"'
check "dd at an offset" eval '[ "$(dd if="$M/completions/x" bs=1 skip=5 count=7 2>/dev/null)" = "$(dd if="$T/x.run" bs=1 skip=5 count=7 2>/dev/null)" ]'
check "wc -c completions/x" [ "$(wc -c < "$M/completions/x")" -eq "$(wc -c < "$T/x.run")" ]
check "cat prompts/x gives the prompt file" [ "$(cat "$M/prompts/x")" = "Once upon a time" ]

# --- parameters: front matter, xattrs
printf -- '---\nmax_tokens: 5\n---\nOnce upon a time\n' > "$M/prompts/fm"
run -p "Once upon a time" -n 5 > "$T/fm.run"
check "front matter max_tokens" same "$M/completions/fm" "$T/fm.run"
printf -- '---\nrepeat_penalty: 1.3\n---\nOnce upon a time\n' > "$M/prompts/pen"
run -p "Once upon a time" -n 256 --repeat-penalty 1.3 > "$T/pen.run"
check "front matter repeat_penalty equals llmfs-run --repeat-penalty" same "$M/completions/pen" "$T/pen.run"
check "... and is not answered from the cache of the same prompt without it" [ "$(row_cache "$M" pen)" = miss ]
printf -- '---\ntemperature: 0.9\nmin_p: 0.1\nseed: 4\n---\nOnce upon a time\n' > "$M/prompts/minp"
run -p "Once upon a time" -n 256 --temp 0.9 --min-p 0.1 -s 4 > "$T/minp.run"
check "front matter min_p equals llmfs-run --min-p" same "$M/completions/minp" "$T/minp.run"
: > "$M/prompts/xa"
python3 -c 'import os,sys; os.setxattr(sys.argv[1], "user.llmfs.max_tokens", b"7\n")' "$M/prompts/xa"
check "getxattr user.llmfs.max_tokens" [ "$(xattr_get "$M/prompts/xa" user.llmfs.max_tokens)" = 7 ]
echo "Once upon a time" > "$M/prompts/xa"
run -p "Once upon a time" -n 7 > "$T/xa.run"
check "user.llmfs.max_tokens xattr sets max_tokens" same "$M/completions/xa" "$T/xa.run"
check "stats/requests shows the generated tokens" grep -q '^xa,done,[0-9]*,[0-9]*,7,' "$M/stats/requests"
check "a bad xattr value is refused" eval '! python3 -c "import os,sys; os.setxattr(sys.argv[1], \"user.llmfs.top_p\", b\"2\")" "$M/prompts/xa" 2>/dev/null'

# --- >> appends, truncate, rewriting restarts
echo "Once upon" > "$M/prompts/ap"
echo "a time" >> "$M/prompts/ap"
check ">> appends to the prompt" [ "$(cat "$M/prompts/ap")" = "$(printf 'Once upon\na time')" ]
run -p "$(printf 'Once upon\na time')" -n 256 > "$T/ap.run"
check ">> resubmits the whole prompt" same "$M/completions/ap" "$T/ap.run"
truncate -s 0 "$M/prompts/ap"
check "truncate empties the prompt" [ "$(stat -c %s "$M/prompts/ap")" -eq 0 ]
echo "Lily" > "$M/prompts/rw"
echo "The cat" > "$M/prompts/rw"
run -p "The cat" -n 256 > "$T/rw.run"
check "rewriting a prompt restarts its completion" same "$M/completions/rw" "$T/rw.run"

# --- errors
bad=$'---\ntemperature: hot\n---\nOnce'
err=$( (echo "$bad" > "$M/prompts/bad") 2>&1 ); rc=$?
echo "# $err"
check "malformed front matter fails echo (EINVAL)" eval '[ $rc -ne 0 ] && [[ "$err" == *"Invalid argument"* ]]'
reason=$(xattr_get "$M/prompts/bad" user.llmfs.error)
echo "# user.llmfs.error: $reason"
check "user.llmfs.error gives the reason" eval '[[ "$reason" == *temperature* ]]'
check "listxattr shows user.llmfs.error" eval 'python3 -c "import os,sys; sys.exit(\"user.llmfs.error\" not in os.listxattr(sys.argv[1]))" "$M/prompts/bad"'
check "stats/requests has the reason" grep -q '^bad,rejected,.*temperature' "$M/stats/requests"
check "a rejected prompt has no completion" [ ! -e "$M/completions/bad" ]
python3 - "$M/prompts/bad2" > "$T/close.out" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
os.write(fd, b"---\nmax_tokens: -3\n---")      # closed only at EOF: checked at close
try:
    os.close(fd); print("closed")
except OSError as e:
    print(e.strerror)
PY
check "malformed front matter fails close() with EINVAL" grep -q "Invalid argument" "$T/close.out"
check "... with the reason in user.llmfs.error" eval '[[ "$(xattr_get "$M/prompts/bad2" user.llmfs.error)" == *max_tokens* ]]'
echo "Once upon a time" > "$M/prompts/bad"
check "a fixed prompt is accepted again" eval '[ -n "$(cat "$M/completions/bad")" ]'
err=$( (head -c 5000 /dev/zero | tr '\0' a > "$M/prompts/big") 2>&1 ); rc=$?
echo "# $err"
check "an oversized prompt fails with EFBIG" eval '[ $rc -ne 0 ] && [[ "$err" == *"File too large"* ]]'
check "user.llmfs.error says why (EFBIG)" eval '[[ "$(xattr_get "$M/prompts/big" user.llmfs.error)" == *max_prompt_bytes* ]]'
check "stats count rejections" [ "$(metric "$M/stats/metrics" requests_rejected)" -ge 2 ]
check "completions/ is read-only" eval '! (echo x > "$M/completions/x") 2>/dev/null'

# --- stats files and config
if command -v promtool > /dev/null; then
    promtool check metrics < "$M/stats/prometheus" > "$T/promtool" 2>&1
    check "promtool check metrics < stats/prometheus" [ $? -eq 0 ]
    sed 's/^/# /' "$T/promtool"
else
    skip "promtool check metrics" "promtool not installed"
fi
for f in metrics latency cache engine requests prometheus; do
    cat "$M/stats/$f" > "$T/$f"
    check "stats/$f: cat, wc -c and head agree" eval \
        '[ -s "$T/$f" ] && [ "$(wc -c < "$M/stats/$f")" -gt 0 ] && [ "$(head -n 1 "$M/stats/$f")" = "$(head -n 1 "$T/$f")" ]'
done
check "grep stats/metrics" grep -q '^requests_finished [1-9]' "$M/stats/metrics"
check "stats/latency has the percentiles" eval 'grep -q "^ttft p99.9 " "$M/stats/latency" && grep -q "^fuse_op count " "$M/stats/latency" && grep -q "^e2e bucket " "$M/stats/latency"'
check "stats/requests has its header" [ "$(head -n 1 "$M/stats/requests")" = "name,state,prompt_tokens,cached_tokens,generated_tokens,queue_ms,ttft_ms,e2e_ms,cache,error,id,submit_time,finish,temperature,seed" ]
check "stats/engine names the model shape" grep -q '^layers 5$' "$M/stats/engine"
check "stats/requests rows carry id, submit time, finish, temperature and seed" python3 - "$M/stats/requests" <<'EOF'
import csv, sys, time
rows = list(csv.DictReader(open(sys.argv[1])))
r = [r for r in rows if r["name"] == "xa"][-1]
ok = (int(r["id"]) > 0 and abs(float(r["submit_time"]) - time.time()) < 600 and
      r["finish"] == "max_tokens" and float(r["temperature"]) == 0 and r["seed"] == "0")
ids = [int(r["id"]) for r in rows if r["id"]]
sys.exit(0 if ok and len(ids) == len(set(ids)) else 1)
EOF
check "stats/latency has the last minute's percentiles" eval 'grep -q "^ttft p95_60s " "$M/stats/latency" && [ "$(awk "\$1 == \"e2e\" && \$2 == \"count_60s\" {print \$3}" "$M/stats/latency")" -gt 0 ]'
check "stats/engine shows the version, pid and start time" eval 'grep -q "^version $("$BIN/llmfs" --version | cut -d" " -f2)$" "$M/stats/engine" && kill -0 "$(metric "$M/stats/engine" pid)" && [ "$(metric "$M/stats/engine" start_time)" -gt 1000000000 ]'
check "stats/metrics shows the daemon's CPU seconds, memory and CPU per 1K tokens" eval '[ -n "$(metric "$M/stats/metrics" cpu_s)" ] && [ "$(metric "$M/stats/metrics" rss_kb)" -gt 0 ] && python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) > 0 else 1)" "$(metric "$M/stats/metrics" cpu_s_per_1k_tokens)"'
check "stats/prometheus has llmfs_build_info" grep -q '^llmfs_build_info{version="' "$M/stats/prometheus"
check "stats/cache shows both tiers of the response cache" eval 'grep -q "^l1_hits [0-9]" "$M/stats/cache" && grep -q "^l2_enabled true" "$M/stats/cache"'
check "config shows the effective configuration" grep -q 'max_prompt_bytes: 4096' "$M/config"
check "rm prompts/x removes completions/x" eval 'rm "$M/prompts/x" && [ ! -e "$M/completions/x" ]'
check "clean unmount" umount_llmfs "$M"

# --- how mounting fails
printf 'threads: 2\nscheduler:\n  bogus: 1\n' > "$T/bad.yaml"
M3=$T/mnt3
err=$(mount_llmfs "$M3" --config "$T/bad.yaml" --model "$MODEL" 2>&1); rc=$?
echo "# $err"
check "an unknown config key fails the mount" [ $rc -ne 0 ]
check "... with file:line:column" eval '[[ "$err" == *"bad.yaml:3:3:"* ]]'
check "... and nothing is mounted" eval '! mountpoint -q "$M3"'
err=$(mount_llmfs "$M3" --model "$T/bad.yaml" 2>&1); rc=$?
echo "# $err"
check "a model that cannot be loaded fails the mount with one line" \
    eval '[ $rc -ne 0 ] && [ "$(printf "%s\n" "$err" | wc -l)" -eq 1 ] && ! mountpoint -q "$M3"'
err=$(mount_llmfs "$M3" --model "$MODEL" -o max_tokens=64 2>&1); rc=$?
echo "# $err"
check "-o max_tokens=64 names the full key" \
    eval '[ $rc -ne 0 ] && [[ "$err" == *"did you mean -o generation.max_tokens=64"* ]] && ! mountpoint -q "$M3"'

# --- -o model=..., foreground, SIGTERM
M4=$T/mnt4
mkdir -p "$M4"; MOUNTS+=("$M4")
"$BIN/llmfs" -f -o "model=$MODEL,generation.max_tokens=3" "$M4" 2> "$T/fg.err" &
fgpid=$!
wait_for 10 mountpoint -q "$M4"
echo "Once upon a time" > "$M4/prompts/a"
run -p "Once upon a time" -n 3 > "$T/o.run"
check "-o model=...,generation.max_tokens=3" same "$M4/completions/a" "$T/o.run"
printf -- '---\ntemperature: hot\n---\nhi\n' > "$M4/prompts/bad" 2>/dev/null
kill -TERM $fgpid
wait $fgpid; rc=$?
check "SIGTERM unmounts cleanly (exit $rc)" eval '[ $rc -eq 0 ] && ! mountpoint -q "$M4"'
sed 's/^/# /' "$T/fg.err"
check "-f logs the start: model, shape, threads, mount point" \
    eval 'grep -q "^llmfs: llmfs .* mounted on $M4: model .*stories260K.gguf (F32, dim 64, 5 layers" "$T/fg.err"'
check "... a refused prompt" grep -q "^llmfs: prompts/bad refused: front matter line 2: temperature" "$T/fg.err"
check "... and the exit" grep -q "^llmfs: unmounted $M4" "$T/fg.err"

# --- a relative model path is resolved at mount, so a saved config works elsewhere
M5=$T/mnt5
rel=$(realpath --relative-to=. "$MODEL")
mount_llmfs "$M5" --model "$rel" -o "$NOCACHE" || notok "mount with a relative model path"
check "config shows the model's absolute path" grep -q "^model: \"/.*stories260K.gguf\"$" "$M5/config"
check "clean unmount" umount_llmfs "$M5"
finish
