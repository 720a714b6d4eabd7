#!/usr/bin/env bash
# Streaming, on a slow model (110M shape, F32): cat gets
# its first bytes long before generation ends; tail -f follows a
# completion to its end; ls -l shows the size (and mtime) growing; poll()
# wakes up when tokens arrive; tail -f started at once streams; a signal
# interrupts a waiting open (EINTR) but not the generation; SIGTERM stops
# in order.
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

# --- tail -f started right after the write streams (GNU tail reads an
# empty regular file to EOF like a pipe: the open waits for a first byte)
printf -- '---\nmax_tokens: 200\n---\nOnce upon a time\n' > "$M/prompts/tf"
t0=$(now_ms)
tail -f "$M/completions/tf" > "$T/tf.out" 2>/dev/null &
tfpid=$!
wait_for 30 test -s "$T/tf.out"; tf_first=$(( $(now_ms) - t0 ))
cat "$M/completions/tf" > /dev/null; tf_end=$(( $(now_ms) - t0 ))
kill $tfpid 2>/dev/null; wait $tfpid 2>/dev/null
echo "# tail -f printed after ${tf_first} ms, generation ended after ${tf_end} ms"
check "tail -f started right after the write prints before generation ends" \
    [ "$tf_first" -lt $(( tf_end * 2 / 3 )) ]

# --- a generation cut by a rewrite keeps its token counts in stats/requests
printf -- '---\nmax_tokens: 200\n---\nOnce upon a time\n' > "$M/prompts/rc"
head -c 20 "$M/completions/rc" > /dev/null
echo "The end" > "$M/prompts/rc"
cut_gen=$(python3 -c 'import csv,sys; r=[r for r in csv.DictReader(open(sys.argv[1])) if r["name"]=="rc" and r["state"]=="cancelled"]; print(r[-1]["generated_tokens"] + " " + r[-1]["finish"] if r else "")' "$M/stats/requests")
echo "# cancelled row: $cut_gen"
check "a cancelled row keeps the tokens it generated" eval '[ "${cut_gen% *}" -gt 0 ] && [ "${cut_gen#* }" = cancelled ]'
cat "$M/completions/rc" > /dev/null

# --- an open waiting in the queue is interrupted by a signal; generation goes on
echo "The sun" > "$M/prompts/a"
echo "A dog" > "$M/prompts/b"          # waits behind a (max_batch 1)
python3 - "$M/completions/b" > "$T/intr" <<'PY'
import os, signal, sys, time
class Alarm(Exception): pass
def on_alarm(sig, frame): raise Alarm()
signal.signal(signal.SIGALRM, on_alarm)
t = time.monotonic()
signal.setitimer(signal.ITIMER_REAL, 0.3)
try:   # the open waits for the first byte, then the read would not
    fd = os.open(sys.argv[1], os.O_RDONLY)
    data = os.read(fd, 4096)
    print("read", len(data), "bytes")
except Alarm:
    print("interrupted after %.0f ms" % ((time.monotonic() - t) * 1000))
PY
cat "$T/intr" | sed 's/^/# /'
check "a signal interrupts a waiting open" grep -q '^interrupted after' "$T/intr"
wait_ms=$(awk '/^interrupted/ {print $3}' "$T/intr")
check "the interrupted open returned promptly" [ "${wait_ms:-9999}" -lt 1500 ]

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

# --- SIGTERM stops in order: a finished completion reads to EOF, an
# unfinished one gives its bytes so far and then EIO with the reason, and
# close() succeeds for both; tail -f (never closing) only delays the end
M2=$T/mnt2
if ! mount_llmfs "$M2" --model "$SM" -o "$NOCACHE"; then notok "mount for SIGTERM"; finish; fi
pid=$(pgrep -f -- "llmfs .*$M2\$" | head -1)
printf -- '---\nmax_tokens: 20\n---\nOnce upon a time\n' > "$M2/prompts/done"
cat "$M2/completions/done" > "$T/done.full"
printf -- '---\nmax_tokens: 1000\n---\nOnce upon a time\n' > "$M2/prompts/cut"
tail -f "$M2/completions/done" > /dev/null 2>&1 &
t0=$(now_ms)
python3 - "$M2" "$pid" > "$T/term.out" <<'PY'
import errno, os, signal, sys, time
m, pid = sys.argv[1], int(sys.argv[2])
fd_done = os.open(m + "/completions/done", os.O_RDONLY)
fd_cut = os.open(m + "/completions/cut", os.O_RDONLY)
first = os.read(fd_cut, 1)
os.kill(pid, signal.SIGTERM)
time.sleep(0.2)
done = b""
while True:
    b = os.read(fd_done, 65536)
    if not b: break
    done += b
print("done_bytes", len(done))
cut, err = first, "EOF"
try:
    while True:
        b = os.read(fd_cut, 65536)
        if not b: break
        cut += b
except OSError as e:
    err = errno.errorcode[e.errno]
    print("reason", os.getxattr(fd_cut, "user.llmfs.error").decode())
print("cut_bytes", len(cut), "then", err)
for name, fd in (("done", fd_done), ("cut", fd_cut)):
    try:
        os.close(fd); print("close", name, "ok")
    except OSError as e:
        print("close", name, errno.errorcode[e.errno])
PY
sed 's/^/# /' "$T/term.out"
check "after SIGTERM a finished completion reads whole" grep -qx "done_bytes $(wc -c < "$T/done.full")" "$T/term.out"
check "... an unfinished one gives its bytes, then EIO" grep -q "^cut_bytes [1-9][0-9]* then EIO" "$T/term.out"
check "... with the reason in user.llmfs.error" grep -q "^reason .*daemon was stopped" "$T/term.out"
check "... and close() succeeds on both" eval '[ "$(grep -c "^close .* ok" "$T/term.out")" -eq 2 ]'
wait_for 10 eval '! kill -0 '"$pid"' 2>/dev/null'
end_ms=$(( $(now_ms) - t0 ))
echo "# the daemon exited ${end_ms} ms after SIGTERM with tail -f still open"
check "tail -f delays the end by at most the deadline" eval '! kill -0 '"$pid"' 2>/dev/null && [ "$end_ms" -lt 6000 ] && ! mountpoint -q "$M2"'

finish
