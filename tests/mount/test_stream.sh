#!/usr/bin/env bash
# Streaming, on a slow model (110M shape, F32): cat gets
# its first bytes long before generation ends; tail -f follows a
# completion to its end; ls -l shows the size (and mtime) growing; poll()
# wakes up when tokens arrive; a signal interrupts a waiting read (EINTR)
# but not the generation.
. "$(dirname "$0")/lib.sh"
SM=$(slow_model) || { skip "streaming" "no $BIN/llmfs-mkmodel"; finish; }
M=$T/mnt
# One request at a time, so that a second prompt waits in the queue.
if ! mount_llmfs "$M" --model "$SM" -o generation.max_tokens=64,scheduler.max_batch=1,$NOCACHE; then
    notok "mount the slow model"; finish
fi

# --- streaming: first byte vs end, tail -f and sizes, all on one completion
t0=$(now_ms)
echo "Once upon a time" > "$M/prompts/s"
cat "$M/completions/s" | { IFS= read -r -n1 _; now_ms > "$T/first"; cat > /dev/null; now_ms > "$T/end"; } &
catpid=$!
timeout 60 tail -f -c +1 "$M/completions/s" > "$T/tail.out" 2>/dev/null &
tailpid=$!
: > "$T/sizes"
while kill -0 $catpid 2>/dev/null; do
    ls -l "$M/completions/s" | awk '{print $5}' >> "$T/sizes"
    stat -c %.9Y "$M/completions/s" >> "$T/mtimes"
    sleep 0.2
done
wait $catpid
cat "$M/completions/s" > "$T/s.full"
first=$(( $(cat "$T/first") - t0 )); end=$(( $(cat "$T/end") - t0 ))
echo "# first byte after ${first} ms, end after ${end} ms ($(wc -c < "$T/s.full") bytes)"
check "cat receives the first bytes well before generation ends" \
    [ "$first" -lt $(( end / 3 )) ]
check "generation took a while (slow model)" [ "$end" -gt 500 ]
wait_for 5 cmp -s "$T/tail.out" "$T/s.full"
check "tail -f follows the completion to its end" cmp -s "$T/tail.out" "$T/s.full"
kill $tailpid 2>/dev/null; wait $tailpid 2>/dev/null
check "ls -l sizes never shrink" sort -n -c "$T/sizes"
check "ls -l sizes grow while generating" [ "$(sort -u "$T/sizes" | wc -l)" -ge 3 ]
check "final size is the exact byte count" \
    [ "$(stat -c %s "$M/completions/s")" -eq "$(wc -c < "$T/s.full")" ]
check "mtime grows as tokens arrive" [ "$(sort -u "$T/mtimes" | wc -l)" -ge 3 ]

# --- a read waiting in the queue is interrupted by a signal; generation goes on
echo "The sun" > "$M/prompts/a"
echo "A dog" > "$M/prompts/b"          # waits behind a (max_batch 1)
python3 - "$M/completions/b" > "$T/intr" <<'PY'
import os, signal, sys, time
class Alarm(Exception): pass
def on_alarm(sig, frame): raise Alarm()
signal.signal(signal.SIGALRM, on_alarm)
fd = os.open(sys.argv[1], os.O_RDONLY)
t = time.monotonic()
signal.setitimer(signal.ITIMER_REAL, 0.3)
try:
    data = os.read(fd, 4096)
    print("read", len(data), "bytes")
except Alarm:
    print("interrupted after %.0f ms" % ((time.monotonic() - t) * 1000))
PY
cat "$T/intr" | sed 's/^/# /'
check "a signal interrupts a waiting read" grep -q '^interrupted after' "$T/intr"
wait_ms=$(awk '/^interrupted/ {print $3}' "$T/intr")
check "the interrupted read returned promptly" [ "${wait_ms:-9999}" -lt 1500 ]

# --- poll(): sleeps until tokens arrive, then reads to EOF
python3 - "$M/completions/b" > "$T/poll" <<'PY'
import os, select, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
p = select.poll(); p.register(fd, select.POLLIN)
out = b""; wakes = 0
while True:
    ev = p.poll(30000)
    if not ev: print("timeout"); break
    wakes += 1
    d = os.read(fd, 65536)
    if not d: break
    out += d
sys.stdout.buffer.write(out)
sys.stderr.write("wakes %d\n" % wakes)
PY
cat "$M/completions/b" > "$T/b.full"
check "poll() then read gives the whole completion" cmp -s "$T/poll" "$T/b.full"
check "the interrupted request still generated its text" [ -s "$T/b.full" ]
check "clean unmount" umount_llmfs "$M"
finish
