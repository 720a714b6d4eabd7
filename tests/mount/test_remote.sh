#!/usr/bin/env bash
# Remote backends through the mount, against real OpenAI-compatible
# servers: tests/node/oai_server.mjs, llama.cpp itself through
# node-llama-cpp, serving stories260K on 127.0.0.1 (started here, stopped
# by the trap).  Greedy answers equal llama.cpp's and llmfs-run's and
# stream; an API key never shows; with two servers, requests follow their
# prompt's prefix, fail over when one dies, the breaker opens, probes and
# closes, a stream cut after bytes ends with EIO and a reason, a silent
# server trips the timeout.
. "$(dirname "$0")/lib.sh"
if [ ! -f tests/node/node_modules/node-llama-cpp/package.json ]; then
    skip "remote backends" "node-llama-cpp not installed (npm ci in tests/node)"
    finish
fi
SERVERS=()
stop_servers() {
    local p
    for p in "${SERVERS[@]}"; do kill "$p" 2>/dev/null; done
}
trap 'stop_servers; cleanup' EXIT

# start_server NAME [PORT] [server args...]: starts a server; its port in $T/NAME.port.
start_server() {
    local name=$1 port=${2:-0}; shift; [ $# -gt 0 ] && shift
    node tests/node/oai_server.mjs --model "$MODEL" --port "$port" "$@" > "$T/$name.out" 2> "$T/$name.err" &
    SERVERS+=($!)
    echo $! > "$T/$name.pid"
    wait_for 30 grep -qs '^listening ' "$T/$name.out" || return 1
    awk '/^listening/ { print $2 }' "$T/$name.out" > "$T/$name.port"
}
port() { cat "$T/$1.port"; }
control() { curl -sf -X POST "http://127.0.0.1:$(port "$1")/control" -d "$2" > /dev/null; }
served() { curl -sf "http://127.0.0.1:$(port "$1")/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])'; }
backend_stat() { awk -v k="$2" -v n="$3" '$1 == "endpoint" && $2 == k && $3 == n { print $4 }' "$1/stats/backends"; }
xerr() { xattr_get "$1/prompts/$2" user.llmfs.error 2>/dev/null; }
# put PATH TEXT: writes a prompt as echo does; prints the errno name that
# write() or close() gave, or nothing.
put() {
    python3 -c '
import errno, os, sys
try:
    fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, sys.argv[2].encode())
    os.close(fd)
except OSError as e:
    print(errno.errorcode[e.errno])' "$1" "$2"
}

start_server a & start_server b & wait
if [ ! -s "$T/a.port" ] || [ ! -s "$T/b.port" ]; then
    notok "the test servers start" "$(head -c 300 "$T/a.err" "$T/b.err" | tr '\n' ' ')"
    finish
fi
ok "two OpenAI-compatible servers on llama.cpp start"
PA=$(port a) PB=$(port b)

# ---------------------------------------------------------------- one endpoint
KEY=sk-test-$$-$RANDOM
printf '%s\n' "$KEY" > "$T/key"
# one sequence at a time: llama.cpp batching sequences together is not
# batch-invariant, and the answers below must equal llmfs-run's exactly
start_server k 0 --api-key "$KEY" --sequences 1 || notok "the server with an API key starts"
M=$T/one
cat > "$T/one.yaml" <<EOF
backend:
  - {url: "http://127.0.0.1:$(port k)", model: stories260K, kind: llama-server, api_key_file: "$T/key"}
cache: {l2_mb: 0}
EOF
if ! mount_llmfs "$M" --config "$T/one.yaml"; then notok "mount with a remote backend and no model"; finish; fi
ok "mount with a remote backend and no model"

# every reference prompt at once: each answer equals llmfs-run's
refs=("$LLMFS_SHARED"/models/reference/s*.prompt)
for p in "${refs[@]}"; do
    "$BIN/llmfs-run" --model "$MODEL" -p "$(cat "$p")" --temp 0 -n 256 > "$T/$(basename "$p" .prompt).run"
done
for p in "${refs[@]}"; do echo "$(cat "$p")" > "$M/prompts/$(basename "$p" .prompt)"; done
for p in "${refs[@]}"; do
    c=$(basename "$p" .prompt)
    cat "$M/completions/$c" > "$T/$c.remote"   # (cmp -s would stop at a growing file's size)
    check "$c: the greedy answer through the server (llama.cpp) equals llmfs-run's" \
        cmp -s "$T/$c.run" "$T/$c.remote"
done
n0=$(served k)
"$BIN/llmfs-run" --model "$MODEL" -p "Once upon a time" --temp 0 -n 256 > "$T/once.run"
echo "$(cat "$LLMFS_SHARED/models/reference/s1.prompt")" > "$M/prompts/again"
check "a prompt asked again is an l1 hit, equal, and never reaches the server" \
    eval '[ "$(row_cache "$M" again)" = l1 ] && cmp -s "$T/s1.run" "$M/completions/again" && [ "$(served k)" = "$n0" ]'

# streams: the first bytes arrive long before the end
control k '{"token_delay_ms": 40}'
printf -- '---\nmax_tokens: 30\n---\nThe dog\n' > "$M/prompts/slow"
t0=$(now_ms)
head -c 1 "$M/completions/slow" > /dev/null
t1=$(now_ms)
cat "$M/completions/slow" > /dev/null
t2=$(now_ms)
control k '{"token_delay_ms": 0}'
check "completions stream: the first byte after $((t1 - t0)) ms, the end after $((t2 - t0)) ms" \
    [ $((t1 - t0)) -lt $(( (t2 - t0) / 3 )) ]
# many streams at once: one HTTP thread drives them all
control k '{"token_delay_ms": 20}'
for i in $(seq 1 16); do printf -- '---\nmax_tokens: 20\n---\nThread %s\n' "$i" > "$M/prompts/t$i"; done
dpid=$(awk '$1 == "pid" { print $2 }' "$M/stats/engine")
sleep 0.2
n_http=$(cat /proc/"$dpid"/task/*/comm | grep -c '^llmfs-http$')
n_threads=$(ls /proc/"$dpid"/task | wc -l)
streaming=$(awk '$1 == "endpoint" && $3 == "inflight" { print $4 }' "$M/stats/backends")
for i in $(seq 1 16); do cat "$M/completions/t$i" > /dev/null; done
control k '{"token_delay_ms": 0}'
check "16 streams at once ($streaming in flight): one HTTP thread ($n_http), $n_threads threads in all" \
    eval '[ "$n_http" = 1 ] && [ "$n_threads" -lt 16 ] && [ "$streaming" -ge 8 ]'
check "stats/backends shows the endpoint, closed, with its requests" \
    eval '[ "$(backend_stat "$M" 0 state)" = closed ] && [ "$(backend_stat "$M" 0 ok)" -ge 4 ]'
check "stats/prometheus has the per-endpoint families and passes promtool" \
    eval 'grep -q "^llmfs_backend_requests_total{endpoint=\"http://127.0.0.1:$(port k)\"}" "$M/stats/prometheus" &&
          { ! command -v promtool >/dev/null || promtool check metrics < "$M/stats/prometheus" >/dev/null 2>&1; }'
printf -- '---\ntemperature: 0.8\ntop_k: 40\nseed: 3\nmax_tokens: 8\n---\nhi\n' > "$M/prompts/topk"
check "a parameter the server's kind takes (top_k on llama-server) is accepted and answered" \
    eval 'cat "$M/completions/topk" | grep -q .'
# chats/NAME on a remote backend: the conversation's messages go to the
# server's /v1/chat/completions, which renders them in its own template
# (node-llama-cpp's chat wrapper); each reply equals the server's answer
# to the same messages asked directly, the second turn's messages holding
# the system prompt, the first turn and its reply.
# chat_ref MAX_TOKENS MESSAGES_JSON: the server's greedy reply, asked directly.
chat_ref() {
    python3 - "http://127.0.0.1:$(port k)" "$KEY" "$1" "$2" <<'PY'
import http.client, json, sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
body = json.dumps({"model": "stories260K", "messages": json.loads(sys.argv[4]),
                   "max_tokens": int(sys.argv[3]), "stream": True, "temperature": 0})
c = http.client.HTTPConnection(u.hostname, u.port)
c.request("POST", "/v1/chat/completions", body,
          {"Content-Type": "application/json", "Authorization": "Bearer " + sys.argv[2]})
out = ""
for line in c.getresponse().read().decode().split("\n"):
    if line.startswith("data: {"):
        out += json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
sys.stdout.write(out)
PY
}
msgs() {   # msgs ROLE TEXT ...: a JSON message list
    python3 -c 'import json, sys; a = sys.argv[1:]; print(json.dumps([{"role": a[i], "content": a[i + 1]} for i in range(0, len(a), 2)]))' "$@"
}
control k '{"token_delay_ms": 20}'
printf -- '---\nmax_tokens: 24\nsystem: Be brief.\n---\nOnce upon a time\n' > "$M/chats/c"
echo "The dog" >> "$M/chats/c"      # while the first reply streams: it waits for it
cat "$M/chats/c" > "$T/chat.c"
control k '{"token_delay_ms": 0}'
r1=$(chat_ref 24 "$(msgs system "Be brief." user "Once upon a time")")
r2=$(chat_ref 24 "$(msgs system "Be brief." user "Once upon a time" assistant "$r1" user "The dog")")
printf 'system: Be brief.\n\nuser: Once upon a time\n\nassistant: %s\n\nuser: The dog\n\nassistant: %s\n\n' "$r1" "$r2" > "$T/chat.ref"
check "a remote chat: >> appends a turn, the transcript's replies equal the server's to the same messages (system prompt and earlier turns included)" \
    eval '[ -n "$r1" ] && [ -n "$r2" ] && [ "$r1" != "$r2" ] && cmp -s "$T/chat.c" "$T/chat.ref"'
cmp -s "$T/chat.c" "$T/chat.ref" || { echo "# got: $(head -c 400 "$T/chat.c" | tr '\n' '|')"; echo "# ref: $(head -c 400 "$T/chat.ref" | tr '\n' '|')"; }
echo "The dog" > "$M/chats/c"
r3=$(chat_ref 256 "$(msgs user "The dog")")   # > resets the parameters too
cat "$M/chats/c" > "$T/chat.c2"
printf 'user: The dog\n\nassistant: %s\n\n' "$r3" > "$T/chat.ref2"
check "> starts a new conversation on the server too" cmp -s "$T/chat.c2" "$T/chat.ref2"
cmp -s "$T/chat.c2" "$T/chat.ref2" || { echo "# got: $(tr '\n' '|' < "$T/chat.c2")"; echo "# ref: $(tr '\n' '|' < "$T/chat.ref2")"; }
# the cache key holds every message: the same messages are a hit in
# another file, another system prompt before the same turn is not
printf -- '---\nmax_tokens: 24\nsystem: Be brief.\n---\nOnce upon a time\n' > "$M/chats/d"
cat "$M/chats/d" > /dev/null
printf -- '---\nmax_tokens: 24\nsystem: Be long.\n---\nOnce upon a time\n' > "$M/chats/e"
cat "$M/chats/e" > /dev/null
check "a remote chat's reply is cached on all its messages: the same conversation is an l1 hit ($(row_cache "$M" chats/d)), another system prompt a miss ($(row_cache "$M" chats/e))" \
    eval '[ "$(row_cache "$M" chats/d)" = l1 ] && [ "$(row_cache "$M" chats/e)" = miss ] &&
          grep -q "^assistant: $r1\$" "$M/chats/d"'
check "the API key is in no stats file and not in config" \
    eval '! grep -rqF "$KEY" "$M/stats/" "$M/config"'
check "config names the key file, not the key" grep -qF "api_key_file: \"$T/key\"" "$M/config"
umount_llmfs "$M"

# A wrong key: the server's refusal reaches the reader as EIO with its reason;
# a key from the environment; the foreground log never holds a key.
printf 'wrong-%s\n' "$KEY" > "$T/badkey"
sed "s|$T/key|$T/badkey|" "$T/one.yaml" > "$T/bad.yaml"
M=$T/bad
mount_llmfs "$M" --config "$T/bad.yaml" || notok "mount with a wrong key"
echo "Once upon a time" > "$M/prompts/x"
cat "$M/completions/x" > /dev/null 2> "$T/x.err"; rc=$?
check "a refused key: the read fails (EIO) and user.llmfs.error has the server's answer" \
    eval '[ $rc -ne 0 ] && grep -q "Input/output error" "$T/x.err" && xerr "$M" x | grep -q "HTTP 401: invalid api key"' ||
    { echo "# rc $rc: $(cat "$T/x.err") / $(xerr "$M" x)"; }
check "... and the wrong key shows nowhere" eval '! grep -rqF "wrong-$KEY" "$M/stats/" "$M/config" && ! xerr "$M" x | grep -qF "$KEY"'
umount_llmfs "$M"
cat > "$T/env.yaml" <<EOF
backend:
  - {url: "http://127.0.0.1:$(port k)", kind: ollama, api_key_env: LLMFS_TEST_KEY}
cache: {l2_mb: 0}
EOF
M=$T/env
mkdir -p "$M"; MOUNTS+=("$M")
LLMFS_TEST_KEY=$KEY "$BIN/llmfs" -f --config "$T/env.yaml" "$M" > "$T/fg.log" 2>&1 &
wait_for 10 mountpoint -q "$M"
echo "Once upon a time" > "$M/prompts/x"
cat "$M/completions/x" > "$T/env.x" 2>&1; check "a key from the environment is sent" cmp -s "$T/env.x" "$T/once.run" || { head -c 300 "$T/env.x"; cat "$T/fg.log"; xerr "$M" x; }
e=$(put "$M/prompts/inval" $'---\ntemperature: 0.8\ntop_k: 40\n---\nhi\n')
check "a parameter the server's kind cannot honour: EINVAL at close, with the reason" \
    eval '[ "$e" = EINVAL ] && xerr "$M" inval | grep -q "top_k: a ollama server does not take it"'
e=$(put "$M/chats/inval" $'---\ntemperature: 0.8\ntop_k: 40\n---\nhi\n')
check "... and in a chat turn" \
    eval '[ "$e" = EINVAL ] && xattr_get "$M/chats/inval" user.llmfs.error | grep -q "top_k: a ollama server does not take it"'
umount_llmfs "$M"
sleep 0.3
check "the foreground log never holds the key" eval '! grep -qF "$KEY" "$T/fg.log"'

# ---------------------------------------------------------------- two endpoints
# Per-endpoint latency percentiles: a server that waits 400 ms before it
# answers shows it in its endpoint's TTFT and end-to-end percentiles, the
# other does not, in stats/backends and in stats/prometheus's histograms.
M=$T/lat
cat > "$T/lat.yaml" <<EOF
backend:
  - {url: "http://127.0.0.1:$PA", model: stories260K, kind: llama-server}
  - {url: "http://127.0.0.1:$PB", model: stories260K, kind: llama-server}
cache: {l1_mb: 0, l2_mb: 0}
EOF
if mount_llmfs "$M" --config "$T/lat.yaml"; then
    control a '{"delay_ms": 400}'
    # one at a time: no request waits behind another, on a loaded machine either
    for i in $(seq 1 16); do
        printf -- '---\nmax_tokens: 2\n---\n%s late %s\n' "$i" "$i" > "$M/prompts/l$i"
        cat "$M/completions/l$i" > /dev/null
    done
    control a '{"delay_ms": 0}'
    r0=$(backend_stat "$M" 0 requests) r1=$(backend_stat "$M" 1 requests)
    a50=$(backend_stat "$M" 0 ttft_p50) a99=$(backend_stat "$M" 0 ttft_p99) ae50=$(backend_stat "$M" 0 e2e_p50)
    b50=$(backend_stat "$M" 1 ttft_p50) b90=$(backend_stat "$M" 1 ttft_p90)
    check "per-endpoint percentiles: the delayed endpoint's TTFT p50 $a50 ms, p99 $a99, e2e p50 $ae50 (>= 400); the other's p50 $b50, p90 $b90 ($r0 and $r1 requests)" \
        python3 -c 'import sys; a50, a99, ae50, b50, b90 = map(float, sys.argv[1:6]); r0, r1 = map(int, sys.argv[6:])
sys.exit(not (r0 >= 2 and r1 >= 2 and 400 <= a50 <= a99 and ae50 >= a50 and b50 <= b90 and b50 < a50))' \
        "$a50" "$a99" "$ae50" "$b50" "$b90" "$r0" "$r1"
    # in Prometheus, each endpoint's own histogram: none of the delayed
    # one's first texts came within 0.1 s
    P=$M/stats/prometheus
    hval() { awk -v k="llmfs_backend_ttft_seconds_$1{endpoint=\"http://127.0.0.1:$2\"${3-}}" '$1 == k { print $2 }' "$P"; }
    check "stats/prometheus: per-endpoint TTFT histograms (delayed: $(hval bucket "$PA" ',le="0.1"') of $(hval count "$PA") within 0.1 s; other: $(hval bucket "$PB" ',le="0.1"') of $(hval count "$PB"))" \
        eval '[ "$(hval count "$PA")" = "$r0" ] && [ "$(hval bucket "$PA" ",le=\"0.1\"")" = 0 ] &&
              [ "$(hval bucket "$PA" ",le=\"+Inf\"")" = "$r0" ] && [ "$(hval count "$PB")" = "$r1" ] &&
              grep -q "^llmfs_backend_e2e_seconds_bucket{endpoint=\"http://127.0.0.1:$PB\",le=\"+Inf\"} $r1\$" "$P" &&
              { ! command -v promtool >/dev/null || promtool check metrics < "$P" >/dev/null 2>&1; }'
    umount_llmfs "$M"
else
    notok "mount with two endpoints for the latency percentiles"
fi

M=$T/two
cat > "$T/two.yaml" <<EOF
backend:
  - {url: "http://127.0.0.1:$PA", model: stories260K, kind: llama-server, max_inflight: 2}
  - {url: "http://127.0.0.1:$PB", model: stories260K, kind: llama-server, max_inflight: 2}
remote: {timeout_ms: 1000, breaker_failures: 2, breaker_cooldown_ms: 300, backoff_ms: 10, retries: 2}
cache: {l1_mb: 0, l2_mb: 0}
EOF
if ! mount_llmfs "$M" --config "$T/two.yaml"; then notok "mount with two endpoints"; finish; fi
# the same first 64 bytes go to one endpoint; other prefixes spread
pre="Once upon a time, in a land far away, there lived a little girl who loved to"
for i in 1 2 3 4 5 6; do printf -- '---\nmax_tokens: 4\n---\n%s %s\n' "$pre" "$i" > "$M/prompts/p$i"; cat "$M/completions/p$i" > /dev/null; done
r0=$(backend_stat "$M" 0 requests) r1=$(backend_stat "$M" 1 requests)
check "prompts sharing a prefix all go to one endpoint ($r0 and $r1 requests)" eval '[ $((r0 * r1)) = 0 ] && [ $((r0 + r1)) = 6 ]'
for i in $(seq 1 24); do printf -- '---\nmax_tokens: 2\n---\n%s story %s\n' "$i" "$i" > "$M/prompts/q$i"; cat "$M/completions/q$i" > /dev/null; done
r0=$(backend_stat "$M" 0 requests) r1=$(backend_stat "$M" 1 requests)
check "other prefixes spread over both endpoints ($r0 and $r1 requests)" eval '[ "$r0" -gt 3 ] && [ "$r1" -gt 3 ]'

# A silent server trips the timeout; the request is answered by the other.
control a '{"hang": true}'; control b '{"hang": true}'
echo "Lily went" > "$M/prompts/silent"
cat "$M/completions/silent" > /dev/null 2> "$T/silent.err"; rc=$?
check "two silent servers: the read ends with EIO, user.llmfs.error says the timeout" \
    eval '[ $rc -ne 0 ] && xerr "$M" silent | grep -q "sent nothing for 1000 ms"'
control a '{"hang": false}'; control b '{"hang": false}'
t0=$(backend_stat "$M" 0 timeouts) t1=$(backend_stat "$M" 1 timeouts)
check "the timeouts are counted per endpoint ($t0, $t1)" [ $((t0 + t1)) -ge 2 ]
sleep 0.4      # the breakers' cool-down: both half-open for the next request
# prompts of 32 prefixes, so that each endpoint has its probe (the ring
# places the endpoints by their URLs, whose ports change per run, so a few
# prompts may all go to one of them) and its successes outweigh the
# timeouts in its failure-rate window before the faults below
for i in $(seq 1 32); do
    echo "Tom and Sue $i" > "$M/prompts/h$i"; cat "$M/completions/h$i" > /dev/null 2>&1 || echo "# h$i: $(xerr "$M" "h$i")"
done
check "after the cool-down the breakers probe and close again" \
    eval '[ "$(backend_stat "$M" 0 state)/$(backend_stat "$M" 1 state)" = closed/closed ]'

# A stream cut after bytes reached the reader: EIO with the reason, no retry.
control a '{"cut_after": 3}'; control b '{"cut_after": 3}'
echo "Once upon a time" > "$M/prompts/cut"
cat "$M/completions/cut" > "$T/cut.out" 2> "$T/cut.err"; rc=$?
control a '{"cut_after": 0}'; control b '{"cut_after": 0}'
check "a stream cut mid-way: the reader gets the bytes so far, then EIO" \
    eval '[ $rc -ne 0 ] && grep -q "Input/output error" "$T/cut.err" && [ -s "$T/cut.out" ] && cmp -s "$T/cut.out" <(head -c "$(stat -c %s "$T/cut.out")" "$T/s1.run")'
check "... and user.llmfs.error says it was cut, and by whom" \
    eval 'xerr "$M" cut | grep -q "answer cut after [0-9]* bytes: http://127.0.0.1:[0-9]*"'
check "stats/requests has the reason too" grep -q '^cut,.*answer cut after' "$M/stats/requests"

# Kill one server mid-run: what had streamed ends with EIO, nothing else is lost.
# Both servers healthy first: answers on each clear the failure the cut
# left in one breaker's count of consecutive failures.
for i in $(seq 1 32); do
    echo "Healthy again $i" > "$M/prompts/g$i"; cat "$M/completions/g$i" > /dev/null 2>&1 || echo "# g$i: $(xerr "$M" "g$i")"
done
control a '{"token_delay_ms": 30}'; control b '{"token_delay_ms": 30}'
for i in $(seq 1 8); do printf -- '---\nmax_tokens: 40\n---\nKill %s: Once upon a time\n' "$i" > "$M/prompts/k$i"; done
sleep 0.3
kill -9 "$(cat "$T/a.pid")"
good=0 cut=0 other=0
for i in $(seq 1 8); do
    printf -- '---\nmax_tokens: 40\n---\nKill %s: Once upon a time\n' "$i" > /dev/null
    if cat "$M/completions/k$i" > "$T/k$i" 2>/dev/null; then good=$((good + 1))
    elif xerr "$M" "k$i" | grep -q "answer cut"; then cut=$((cut + 1))
    else other=$((other + 1)); echo "# k$i: $(xerr "$M" "k$i")"; fi
done
check "killing a server mid-run: $good whole, $cut cut after streaming (at most its 2 in flight), $other lost" \
    eval '[ $other = 0 ] && [ $cut -le 2 ] && [ $good -ge 6 ]'
control b '{"token_delay_ms": 0}'
for i in 1 2 3 4; do echo "After $i" > "$M/prompts/f$i"; done
all=1
for i in 1 2 3 4; do cat "$M/completions/f$i" > /dev/null 2>&1 || { all=0; echo "# f$i: $(xerr "$M" "f$i")"; }; done
check "new requests fail over to the live server" [ $all = 1 ]
check "... and the dead server's breaker is open" [ "$(backend_stat "$M" 0 state)" = open ]
check "... and failovers are counted" [ "$(awk '$1 == "failovers" { print $2 }' "$M/stats/backends")" -gt 0 ]
start_server a "$PA" || notok "the killed server starts again on its port"
sleep 0.4
for i in $(seq 1 12); do printf -- '---\nmax_tokens: 2\n---\n%s back %s\n' "$i" "$i" > "$M/prompts/b$i"; cat "$M/completions/b$i" > /dev/null 2>&1 || echo "# b$i: $(xerr "$M" "b$i")"; done
check "the server back: its breaker half-opened, closed, and it serves again" \
    eval '[ "$(backend_stat "$M" 0 state)" = closed ] && [ "$(backend_stat "$M" 0 breaker_half_opened)" -ge 1 ] &&
          [ "$(backend_stat "$M" 0 breaker_closed)" -ge 1 ]'
umount_llmfs "$M"

# A server that queues: one sequence, 100 ms a chunk, three answers of
# twelve chunks asked at once.  The second and third wait over a second
# for their first byte, longer than timeout_ms, while the server streams
# the first: busy, not silent, so none of them times out.
start_server q 0 --sequences 1 --token-delay-ms 100 || notok "the queueing server starts"
M=$T/queue
cat > "$T/queue.yaml" <<EOF
backend:
  - {url: "http://127.0.0.1:$(port q)", model: stories260K, kind: llama-server}
cache: {l1_mb: 0, l2_mb: 0}
remote: {timeout_ms: 800, retries: 0}
EOF
if mount_llmfs "$M" --config "$T/queue.yaml"; then
    for i in 1 2 3; do printf -- '---\nmax_tokens: 12\n---\nQueued %s: Once upon a time\n' "$i" > "$M/prompts/q$i"; done
    whole=0
    for i in 1 2 3; do cat "$M/completions/q$i" > /dev/null 2>&1 && whole=$((whole + 1)) || echo "# q$i: $(xerr "$M" "q$i")"; done
    check "answers queued at a busy server wait past timeout_ms for their first byte ($whole of 3 whole, $(backend_stat "$M" 0 timeouts) timeouts)" \
        eval '[ $whole = 3 ] && [ "$(backend_stat "$M" 0 timeouts)" = 0 ]'
    umount_llmfs "$M"
else
    notok "mount with the queueing server"
fi
finish
