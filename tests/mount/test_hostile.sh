#!/usr/bin/env bash
# Trials of a hostile or careless client through the mount: a deeply
# nested front matter is refused at once and does not hold up another
# client's write; sampling parameters outside the limits are refused and
# a nucleus smaller than one token still answers; a reader's close does
# not submit another writer's half-written prompt; a refused prompt
# leaves no completion that reads as an empty success; a prompt refused
# over many writes counts as one rejection; editors' side files and empty
# files are not submitted; an open completion keeps its text; sed -i,
# vim's :w and mv save by rename; ownership and modes are enforced.
. "$(dirname "$0")/lib.sh"
M=$T/mnt
if ! mount_llmfs "$M" --model "$MODEL" -o "$NOCACHE,limits.max_prompt_bytes=1048576"; then
    notok "mount"; finish
fi

# --- a 100,000-deep front matter
(printf -- '---\nstop: '; head -c 100000 /dev/zero | tr '\0' '['; printf '\n---\nhi\n') > "$T/deep"
( cat "$T/deep" > "$M/prompts/deep" ) 2>/dev/null &
deep_pid=$!
sleep 0.5                  # unbounded, libyaml would be seconds into it
t0=$(now_ms)
echo "Once upon a time" > "$M/prompts/victim"
victim_ms=$(( $(now_ms) - t0 ))
echo "# the other client's write took $victim_ms ms"
check "another client's write completes while a deep front matter is refused" [ "$victim_ms" -lt 3000 ]
wait "$deep_pid"; deep_rc=$?
check "the deep front matter's write fails" [ "$deep_rc" -ne 0 ]
check "... saying why" eval '[[ "$(xattr_get "$M/prompts/deep" user.llmfs.error)" == *"nested deeper than 32 levels"* ]]'
check "the other client's prompt is answered" [ -s "$M/completions/victim" ]

# --- sampling limits
err=$( (printf -- '---\ntemperature: 1e6\ntop_p: 0.001\nmax_tokens: 30\n---\nOnce upon a time\n' > "$M/prompts/hot") 2>&1 ); rc=$?
check "temperature 1e6 is refused as llmfs-run refuses it" eval '[ $rc -ne 0 ] && [[ "$(xattr_get "$M/prompts/hot" user.llmfs.error)" == *"from 0 to 100"* ]]'
printf -- '---\ntemperature: 100\ntop_p: 0.001\nseed: 3\nmax_tokens: 30\n---\nOnce upon a time\n' > "$M/prompts/flat"
check "the hottest temperature with a nucleus under one token answers" eval '[ -n "$(cat "$M/completions/flat")" ]'
check "... with the tokens llmfs-run samples" eval '[ "$(cat "$M/completions/flat")" = "$("$BIN/llmfs-run" --model "$MODEL" --temp 100 --top-p 0.001 --seed 3 -n 30 -p "Once upon a time")" ]'


# --- a reader's close does not submit a half-written prompt (python
# holds the writer's descriptor: a shell's redirected builtin closes a copy)
python3 - "$M/prompts/half" "$M/completions/half" > "$T/half.out" <<'EOF'
import os, subprocess, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
os.write(fd, b"Once upon")
subprocess.run(["cat", sys.argv[1]], stdout=subprocess.DEVNULL, check=True)
time.sleep(0.3)
print("submitted" if os.path.exists(sys.argv[2]) else "not submitted")
os.write(fd, b" a time\n")
os.close(fd)
EOF
check "reading a half-written prompt does not submit it" grep -qx "not submitted" "$T/half.out"
run_text=$("$BIN/llmfs-run" --model "$MODEL" --temp 0 -n 256 -p "Once upon a time")
check "the writer's close submits the whole prompt" [ "$(cat "$M/completions/half")" = "$run_text" ]
check "... once" [ "$(grep -c '^half,' "$M/stats/requests")" -eq 1 ]

# --- a refused prompt leaves no completion
long=$(for i in $(seq 1500); do printf 'Once upon a time '; done)
echo "Lily" > "$M/prompts/long"
cat "$M/completions/long" > /dev/null
python3 - "$M/prompts/long" "$long" <<'EOF'
import errno, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_TRUNC)
os.write(fd, sys.argv[2].encode() + b"\n")
try:
    os.close(fd)
    print("# close succeeded")
except OSError as e:
    print("# close:", errno.errorcode[e.errno])
EOF
check "a prompt longer than the context is refused" eval '[[ "$(xattr_get "$M/prompts/long" user.llmfs.error)" == *"longer than the context"* ]]'
check "... and leaves no completions/NAME (not an empty success)" eval '! [ -e "$M/completions/long" ] && ! cat "$M/completions/long" 2>/dev/null'

# --- one refused prompt, one rejection, however many writes
before=$(metric "$M/stats/metrics" requests_rejected)
python3 - "$M/prompts/big" <<'EOF'
import errno, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
refused = 0
for i in range(300):    # 1.2 MB against a 1 MB limit
    try:
        os.write(fd, b"x" * 4000)
    except OSError as e:
        assert e.errno == errno.EFBIG, e
        refused += 1
try:
    os.close(fd)
except OSError:
    pass
print("# %d of 300 writes refused" % refused)
EOF
after=$(metric "$M/stats/metrics" requests_rejected)
check "a prompt refused over hundreds of writes is one rejection" [ "$((after - before))" -eq 1 ]
check "... and one row of stats/requests" [ "$(grep -c '^big,' "$M/stats/requests")" -eq 1 ]

# --- an open completion keeps its generation's text and attributes
echo "Once upon a time" > "$M/prompts/fs"
cat "$M/completions/fs" > "$T/fs.full"
python3 - "$M" > "$T/fstat.out" <<'EOF'
import os, sys
m = sys.argv[1]
fd = os.open(m + "/completions/fs", os.O_RDONLY)
size = os.fstat(fd).st_size
with open(m + "/prompts/fs", "w") as f:
    f.write("Lily\n")
after_rewrite = os.fstat(fd).st_size
os.unlink(m + "/prompts/fs")
after_rm = os.fstat(fd).st_size
data = b""
while True:
    b = os.read(fd, 65536)
    if not b: break
    data += b
print(size, after_rewrite, after_rm, len(data))
EOF
n=$(wc -c < "$T/fs.full")
check "fstat and read of an open completion keep its text after a rewrite and rm" grep -qx "$n $n $n $n" "$T/fstat.out"

# --- rename within prompts/: sed -i and vim's :w save by rename
run256() { "$BIN/llmfs-run" --model "$MODEL" --temp 0 -n 256 -p "$1"; }
echo "Once upon a time" > "$M/prompts/ed"
cat "$M/completions/ed" > /dev/null
sed -i 's/Once upon a time/The cat/' "$M/prompts/ed"; rc=$?
check "sed -i on a prompt succeeds" [ "$rc" -eq 0 ]
check "... the prompt has the new text" [ "$(cat "$M/prompts/ed")" = "The cat" ]
check "... and its completion answers it" [ "$(cat "$M/completions/ed")" = "$(run256 "The cat")" ]
check "... and sed's temporary file is gone from prompts/ and completions/" \
    eval '[ "$(ls -A "$M/prompts" | grep -c "^sed")" -eq 0 ] && [ "$(ls -A "$M/completions" | grep -c "^sed")" -eq 0 ]'
if command -v vim > /dev/null; then
    HOME=$T/home vim -u NONE -N -n -es -c 'set backupcopy=no' -c 's/cat/dog/' -c 'wq' "$M/prompts/ed"; rc=$?
    check "vim :w (backupcopy=no) on a prompt succeeds" [ "$rc" -eq 0 ]
    check "... its completion answers the new text" [ "$(cat "$M/completions/ed")" = "$(run256 "The dog")" ]
    check "... and no backup or probe file is left" eval '[ "$(ls -A "$M/prompts" | grep -cE "~$|^4913$|\.swp$")" -eq 0 ]'
else
    skip "vim :w on a prompt" "vim is not installed"
fi
echo "Lily" > "$M/prompts/mv1"
cat "$M/completions/mv1" > "$T/mv1.full"
mv "$M/prompts/mv1" "$M/prompts/mv2"
check "mv within prompts/ moves the completion" eval '! [ -e "$M/completions/mv1" ] && cmp -s "$M/completions/mv2" "$T/mv1.full"'
check "mv into completions/ is refused" eval '! mv "$M/prompts/mv2" "$M/completions/mv3" 2>/dev/null && [ -e "$M/prompts/mv2" ]'

# --- editors' side files and empty files are not prompts
echo "Once upon a time" > "$M/prompts/.story.swp"
echo "Once upon a time" > "$M/prompts/story~"
: > "$M/prompts/4913"
printf '' > "$M/prompts/empty"
check "a dot file, a ~ backup and empty files are kept as plain files" \
    eval '[ "$(cat "$M/prompts/.story.swp")" = "Once upon a time" ] && [ -e "$M/prompts/4913" ]'
check "... and never submitted" eval '! ls "$M/completions" | grep -qE "swp|~|4913|empty" && ! grep -qE "^(\.story\.swp|story~|4913|empty)," "$M/stats/requests"'

# --- ownership and modes are real (default_permissions), on a mount shared
# with -o allow_other: another user (nobody) cannot read a 0600 prompt or
# its completion, overwrite a 0644 one or remove it (prompts/ is sticky);
# chmod changes what they may do; their own prompt is theirs
M3=$T/shared
if ! command -v setpriv > /dev/null; then
    skip "ownership and modes" "setpriv is not installed"
elif [ "$(id -u)" -ne 0 ]; then
    skip "ownership and modes" "needs root, to act as another user"
elif ! mount_llmfs "$M3" --model "$MODEL" -o "allow_other,$NOCACHE"; then
    notok "mount with allow_other"
else
    other() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@" 2>/dev/null; }
    chmod 711 "$T"             # the other user must reach the mount point
    check "another user reaches the shared mount" other ls "$M3/prompts"
    ( umask 022; echo "Once upon a time" > "$M3/prompts/mine" )
    cat "$M3/completions/mine" > "$T/mine.full"
    chmod 600 "$M3/prompts/mine"
    check "chmod 600 on a prompt shows in its mode and its completion's" \
        eval '[ "$(stat -c %a "$M3/prompts/mine")" = 600 ] && [ "$(stat -c %a "$M3/completions/mine")" = 400 ]'
    check "another user cannot read a 0600 prompt" eval '! other cat "$M3/prompts/mine" > /dev/null'
    check "... nor its completion" eval '! other cat "$M3/completions/mine" > /dev/null'
    chmod 644 "$M3/prompts/mine"
    check "after chmod 644 they can read the completion" eval '[ "$(other cat "$M3/completions/mine")" = "$(cat "$T/mine.full")" ]'
    check "... but not overwrite the prompt" eval '! other sh -c "echo evil > \"$M3/prompts/mine\"" && [ "$(cat "$M3/prompts/mine")" = "Once upon a time" ]'
    check "... nor remove it (prompts/ is sticky)" eval '! other rm -f "$M3/prompts/mine" && [ -e "$M3/prompts/mine" ]'
    check "... nor chown it" eval '! other chown 65534 "$M3/prompts/mine"'
    other sh -c "echo 'The cat' > \"$M3/prompts/theirs\""
    check "a prompt belongs to its creator" [ "$(stat -c %u "$M3/prompts/theirs")" = 65534 ]
    check "prompts/ of a shared mount is writable by all and sticky" [ "$(stat -c %a "$M3/prompts")" = 1777 ]
fi

finish
