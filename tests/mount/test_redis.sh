#!/usr/bin/env bash
# The shared L2 in Redis: two mounts on one redis-server (started here on
# 127.0.0.1, stopped by the trap) share answers; the password never shows;
# with an HMAC key, a value written without it (planted) is never served;
# a killed Redis leaves both mounts answering at once, and they reconnect
# when it is back.
. "$(dirname "$0")/lib.sh"
if ! command -v redis-server > /dev/null || ! command -v redis-cli > /dev/null; then
    skip "the Redis L2" "redis-server not installed (apt-get install redis-server)"
    finish
fi
RPID=
trap '[ -n "$RPID" ] && { kill -9 "$RPID"; wait "$RPID"; } 2>/dev/null; cleanup' EXIT
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
PW=pw-$$-$RANDOM
start_redis() {
    redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --requirepass "$PW" \
        --dir "$T" > "$T/redis.log" 2>&1 &
    RPID=$!
    wait_for 10 eval 'redis-cli -p "$PORT" -a "$PW" --no-auth-warning ping 2>/dev/null | grep -q PONG'
}
rcli() { redis-cli -p "$PORT" -a "$PW" --no-auth-warning -n 1 "$@"; }
cstat() { metric "$1/stats/cache" "$2"; }
start_redis || { notok "redis-server starts"; finish; }
head -c 32 /dev/urandom > "$T/hkey"
cat > "$T/shared.yaml" <<EOF
cache: {l2_redis: "redis://:$PW@127.0.0.1:$PORT/1", l2_hmac_key_file: "$T/hkey"}
EOF
A=$T/a B=$T/b
mount_llmfs "$A" --config "$T/shared.yaml" --model "$MODEL" && mount_llmfs "$B" --config "$T/shared.yaml" --model "$MODEL" ||
    { notok "two mounts on one Redis"; finish; }
ok "two mounts on one Redis"

prompt=$(cat "$LLMFS_SHARED/models/reference/s1.prompt")
"$BIN/llmfs-run" --model "$MODEL" -p "$prompt" --temp 0 -n 256 > "$T/s1.run"
echo "$prompt" > "$A/prompts/x"
cat "$A/completions/x" > "$T/a.x"
wait_for 5 eval '[ "$(cstat "$A" l2_writes)" -ge 1 ]'
echo "$prompt" > "$B/prompts/x"
cat "$B/completions/x" > "$T/b.x"
check "a prompt answered through the first mount is an L2 hit in the second" \
    eval '[ "$(row_cache "$A" x)/$(row_cache "$B" x)" = miss/l2 ]'
check "... with the same bytes as llmfs-run" eval 'cmp -s "$T/s1.run" "$T/a.x" && cmp -s "$T/s1.run" "$T/b.x"'
check "the record is in Redis under llmfs:rec:" eval '[ "$(rcli keys "llmfs:rec:*" | wc -l)" -ge 1 ]'
check "stats/cache says the L2 is Redis, connected" \
    eval '[ "$(cstat "$B" l2_tier)/$(cstat "$B" l2_redis_up)" = redis/1 ]'
check "the Redis password is in no stats file nor config; config shows ***" \
    eval '! grep -rqF "$PW" "$A/stats/" "$A/config" && grep -qF "redis://:***@127.0.0.1:$PORT/1" "$A/config"'

# A record written without the HMAC key (as anyone who can write to Redis
# could) is never served by a mount that has the key.
cat > "$T/nokey.yaml" <<EOF
cache: {l2_redis: "redis://:$PW@127.0.0.1:$PORT/1"}
EOF
C=$T/c
mount_llmfs "$C" --config "$T/nokey.yaml" --model "$MODEL" || notok "a mount without the HMAC key"
echo "Lily and Ben" > "$C/prompts/y"
cat "$C/completions/y" > /dev/null
wait_for 5 eval '[ "$(cstat "$C" l2_writes)" -ge 1 ]'
echo "Lily and Ben" > "$A/prompts/y"
cat "$A/completions/y" > /dev/null
check "a planted record (no HMAC) is not served: generated, and counted as forged" \
    eval '[ "$(row_cache "$A" y)" = miss ] && [ "$(cstat "$A" l2_forged_dropped)" -ge 1 ]'
umount_llmfs "$C"

# Kill Redis: both mounts go on answering (L1, then generation) at once.
{ kill -9 "$RPID"; wait "$RPID"; } 2>/dev/null; RPID=
for m in "$A" "$B"; do
    t0=$(now_ms)
    echo "$prompt" > "$m/prompts/x2"
    cat "$m/completions/x2" > "$T/x2"
    echo "Tom went home" > "$m/prompts/z"
    cat "$m/completions/z" > /dev/null
    t1=$(now_ms)
    check "Redis killed: $(basename "$m") answers a cached and a new prompt ($((t1 - t0)) ms)" \
        eval 'cmp -s "$T/s1.run" "$T/x2" && [ "$(row_cache "$m" x2)" = l1 ] && [ "$(row_cache "$m" z)" = miss ] && [ $((t1 - t0)) -lt 2000 ]'
    check "... and counts the Redis errors, down" \
        eval '[ "$(cstat "$m" l2_redis_up)" = 0 ] && [ "$(cstat "$m" l2_redis_errors)" -ge 1 ]'
done
start_redis || notok "redis-server starts again"
check "Redis back: the mounts reconnect" \
    wait_for 5 eval '[ "$(cstat "$A" l2_redis_up)/$(cstat "$B" l2_redis_up)" = 1/1 ]'
finish
