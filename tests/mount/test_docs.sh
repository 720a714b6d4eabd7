#!/usr/bin/env bash
# Tested documentation: runs the EXAMPLES of every
# man page, the README quickstart and every script of examples/ against
# real mounts of the small model, and checks what they print.
#
# Man pages (man/*.1, man/*.5): in the EXAMPLES section, every line between
# .EX and .EE that starts with "$ " is a command (a command ending in
# <<'EOF' takes the lines up to EOF as its input); lines without "$ " are
# illustrations and are not run.  The lines under a command, up to the
# next command, an empty line or .EE, are its shown output.  The commands
# of one page run in order, each with `bash -o pipefail -c`, in a scratch
# directory that is also $HOME (so ~/llm is a temporary mount point), with
# bin/ first in PATH and model.gguf, model.bin and tokenizer.bin linked to
# the test model (stories260K) in that directory, and ggml-vocab-gpt-2.gguf
# to llama.cpp's GPT-2 vocabulary: the pages need no textual substitution.  A command passes when it exits 0 and the text of
# each shown output line (up to a "...", if the line has one) appears in
# what it printed (stdout and stderr); a command whose first shown line is
# an error message ("llmfs: ...", "printf: ...", "tr: ...") must exit
# non-zero instead.  getfattr/setfattr (package attr) are replaced by
# small python3 equivalents when not installed.
#
# README.md: the ```sh blocks of "## Quickstart" and "## Chats", without the apt-get
# and npm lines (installs), `make` and `make test` (which CI runs anyway), with bin/ ->
# $BIN/, ../shared -> $LLMFS_SHARED and /tmp/llm -> a temporary directory,
# run from the top of the tree with HOME in the scratch directory.
. "$(dirname "$0")/lib.sh"

BIN_ABS=$(cd "$BIN" && pwd)
SHARED_ABS=$(cd "$LLMFS_SHARED" && pwd)
MODEL_ABS=$SHARED_ABS/models/stories260K.gguf
H=$T/home
mkdir -p "$H" "$T/shim"
ln -s "$MODEL_ABS" "$H/model.gguf"
ln -s "$SHARED_ABS/models/stories260K.bin" "$H/model.bin"
ln -s "$SHARED_ABS/models/tok512.bin" "$H/tokenizer.bin"
ln -s "$SHARED_ABS/vocab/ggml-vocab-gpt-2.gguf" "$H/ggml-vocab-gpt-2.gguf"
MOUNTS+=("$H/llm")

if ! command -v getfattr > /dev/null; then
    cat > "$T/shim/getfattr" <<'PY'
#!/usr/bin/env python3
# getfattr [--only-values] -n NAME FILE... (the forms the man pages use)
import os, sys
args, only, name = sys.argv[1:], False, None
files = []
while args:
    a = args.pop(0)
    if a == "--only-values": only = True
    elif a == "-n": name = args.pop(0)
    else: files.append(a)
rc = 0
for f in files:
    try:
        v = os.getxattr(f, name)
    except OSError as e:
        print(f"{f}: {name}: {e.strerror}", file=sys.stderr); rc = 1; continue
    if only: sys.stdout.buffer.write(v)
    else: print(f"# file: {f}\n{name}=\"{v.decode()}\"\n")
sys.exit(rc)
PY
    chmod +x "$T/shim/getfattr"
fi
if ! command -v setfattr > /dev/null; then
    cat > "$T/shim/setfattr" <<'PY'
#!/usr/bin/env python3
# setfattr -n NAME -v VALUE FILE... (the forms the man pages use)
import os, sys
args, name, value, files = sys.argv[1:], None, b"", []
while args:
    a = args.pop(0)
    if a == "-n": name = args.pop(0)
    elif a == "-v": value = args.pop(0).encode()
    else: files.append(a)
rc = 0
for f in files:
    try:
        os.setxattr(f, name, value)
    except OSError as e:
        print(f"setfattr: {f}: {e.strerror}", file=sys.stderr); rc = 1
sys.exit(rc)
PY
    chmod +x "$T/shim/setfattr"
fi
DOC_PATH=$BIN_ABS:$T/shim:$PATH

# extract_examples PAGE: the commands of PAGE's EXAMPLES, as records
# "LINE\0COMMAND\0SHOWN OUTPUT\0" (roff escapes decoded).
extract_examples() {
    python3 - "$1" <<'PY'
import re, sys
esc = [("\\-", "-"), ("\\(aq", "'"), ("\\(dq", '"'), ("\\(ti", "~"), ("\\(rs", "\\"),
       ("\\&", ""), ("\\e", "\\")]
def unroff(s):
    out, i = [], 0
    while i < len(s):
        for a, b in esc:
            if s.startswith(a, i):
                out.append(b); i += len(a); break
        else:
            out.append(s[i]); i += 1
    return "".join(out)
lines = open(sys.argv[1], encoding="utf-8").read().split("\n")
sec, inex, recs, cur, heredoc = None, False, [], None, None
for no, raw in enumerate(lines, 1):
    if raw.startswith(".SH"):
        sec = raw[3:].strip().strip('"')
        continue
    if sec != "EXAMPLES":
        continue
    if raw.startswith(".EX"):
        inex = True; continue
    if raw.startswith(".EE"):
        inex = False; cur = None; continue
    if not inex or raw.startswith(".") or raw.startswith("'"):
        continue
    t = unroff(raw)
    if heredoc is not None:
        cur[1] += "\n" + t
        if t == heredoc:
            heredoc = None
        continue
    if t.startswith("$ "):
        cur = [no, t[2:], []]
        recs.append(cur)
        m = re.search(r"<<-?\s*'?(\w+)'?\s*$", t)
        if m:
            heredoc = m.group(1)
    elif t == "":
        cur = None
    elif cur is not None:
        cur[2].append(t)
for no, cmd, out in recs:
    sys.stdout.write(f"{no}\0{cmd}\0" + "\n".join(out) + "\0")
PY
}

ERRPROG='^(llmfs|llmfs-run|llmfs-mkmodel|bash|sh|printf|echo|/bin/echo|tr|cat|head|cp|rm|ls|mkdir): '

# shown_ok OUTFILE SHOWN: every shown line (up to "...") appears in OUTFILE.
shown_ok() {
    local line key
    while IFS= read -r line; do
        key=${line%%...*}
        [ -z "${key// /}" ] && continue
        grep -qF -e "$key" "$1" || { echo "# missing: $key"; return 1; }
    done <<< "$2"
}

# run_page PAGE: runs PAGE's examples in order.
run_page() {
    local page=$1 pname n=0 no cmd shown rc
    pname=$(basename "$page")
    local recs=$T/$pname.recs
    extract_examples "$page" > "$recs" || { notok "$pname: EXAMPLES can be extracted"; return; }
    while IFS= read -r -d '' no && IFS= read -r -d '' cmd && IFS= read -r -d '' shown; do
        n=$((n + 1))
        (cd "$H" && HOME=$H PATH=$DOC_PATH timeout 60 bash -o pipefail -c "$cmd") \
            > "$T/out" 2>&1 < /dev/null
        rc=$?
        local label="$pname:$no: \$ ${cmd%%$'\n'*}"
        if [ -n "$shown" ] && [[ "$(head -n 1 <<< "$shown")" =~ $ERRPROG ]]; then
            if [ $rc -ne 0 ] && shown_ok "$T/out" "$shown"; then ok "$label (fails as shown)"; else
                awk '{ print "#   " $0 }' "$T/out" | head -n 5
                notok "$label" "expected a failure as shown, got status $rc"
            fi
        elif [ $rc -eq 0 ] && { [ -z "$shown" ] || { [ -s "$T/out" ] && shown_ok "$T/out" "$shown"; }; }; then
            ok "$label"
        else
            awk '{ print "#   " $0 }' "$T/out" | head -n 5
            notok "$label" "status $rc, or not the output shown"
        fi
    done < "$recs"
    check "$pname has runnable EXAMPLES ($n commands)" [ "$n" -gt 0 ]
    # a page that mounts must also unmount
    if mountpoint -q "$H/llm"; then
        notok "$pname: its examples leave ~/llm unmounted"
        fusermount3 -u "$H/llm"
    fi
}

for page in man/llmfs.1 man/llmfs-run.1 man/llmfs-mkmodel.1 man/llmfs-bench.1 man/llmfs-cachesim.1 \
            man/llmfs.yaml.5; do
    if [ -f "$page" ]; then run_page "$page"; else notok "$page exists"; fi
done

# --- the README quickstart
RM=$T/readme-llm
MOUNTS+=("$RM")
python3 - README.md > "$T/quick" <<'PY'
import sys
text = open(sys.argv[1], encoding="utf-8").read()
sect = ""
for head in ("\n## Quickstart", "\n## Chats"):
    start = text.index(head)
    end = text.find("\n## ", start + 1)
    sect += text[start:end if end >= 0 else len(text)]
inblock, cmd = False, ""
for line in sect.split("\n"):
    if line.startswith("```"):
        inblock = not inblock
        continue
    if not inblock:
        continue
    cmd += line
    if cmd.endswith("\\"):
        cmd = cmd[:-1] + " "
        continue
    c, cmd = cmd.strip(), ""
    if not c or c.startswith("#"):
        continue
    word = c.split("#")[0].split()
    if "apt-get" in word or word[:1] in (["make"], ["sudo"], ["npm"]):
        continue
    sys.stdout.write(c + "\0")
PY
nq=0
while IFS= read -r -d '' cmd; do
    nq=$((nq + 1))
    c=${cmd//\/tmp\/llm/$RM}
    c=${c//..\/shared/$SHARED_ABS}
    [[ "$c" == bin/* ]] && c=$BIN_ABS/${c#bin/}
    HOME=$H timeout 60 bash -o pipefail -c "$c" > "$T/out" 2>&1 < /dev/null
    rc=$?
    label="README: \$ $cmd"
    case $cmd in
    *llmfs-run*|cat*) [ $rc -eq 0 ] && [ -s "$T/out" ] && sensible=1 || sensible=0 ;;
    *) [ $rc -eq 0 ] && sensible=1 || sensible=0 ;;
    esac
    case $cmd in
    *stats/latency*) grep -q '^ttft p50 ' "$T/out" || sensible=0 ;;
    esac
    if [ "$sensible" -eq 1 ]; then ok "$label"; else
        awk '{ print "#   " $0 }' "$T/out" | head -n 5
        notok "$label" "status $rc, or not the output shown"
    fi
done < "$T/quick"
check "README quickstart has commands to run ($nq)" [ "$nq" -ge 6 ]
check "README quickstart unmounts" eval '! mountpoint -q "$RM"'

# `make mount`, the quickstart's one command to an answering mount
MM=$T/make-mount
MOUNTS+=("$MM")
out=$(make --no-print-directory mount MNT="$MM" MODEL="$MODEL" BIN="$BIN" 2>&1); rc=$?
check "make mount mounts and answers" eval \
    '[ $rc -eq 0 ] && mountpoint -q "$MM" && [ -s "$MM/completions/hello" ] && [[ "$out" == *"$(cat "$MM/completions/hello" | head -c 40)"* ]]'
fusermount3 -u "$MM" 2>/dev/null

# --- examples/
M=$T/mnt
if ! mount_llmfs "$M" --model "$MODEL"; then
    notok "mount for examples/"; finish
fi
run() { "$BIN/llmfs-run" --model "$MODEL" --temp 0 -n 256 "$@"; }

for s in ask watch-stats batch node-exporter.sh; do
    check "examples/$s is executable and set -eu" eval \
        '[ -x "examples/$s" ] && grep -q "^set -eu" "examples/$s"'
done
check "examples/README.md describes every script" eval \
    'for s in ask watch-stats batch node-exporter.sh; do grep -q "$s" examples/README.md || exit 1; done'
if command -v shellcheck > /dev/null; then
    check "shellcheck examples/*" shellcheck examples/ask examples/watch-stats examples/batch \
        examples/node-exporter.sh
else
    skip "shellcheck examples/*" "shellcheck not installed"
fi

out=$(examples/ask "$M" "Once upon a time"); rc=$?
check "examples/ask returns the completion" eval \
    '[ $rc -eq 0 ] && [ -n "$out" ] && [ "$out" = "$(run -p "Once upon a time")" ]'
check "examples/ask removes its prompt" eval '[ -z "$(ls "$M/prompts")" ]'
out=$(echo "Lily and Ben" | examples/ask -n 5 "$M"); rc=$?
check "examples/ask -n 5 reads stdin" eval \
    '[ $rc -eq 0 ] && [ "$out" = "$("$BIN/llmfs-run" --model "$MODEL" -p "Lily and Ben" -n 5)" ]'

out=$(examples/watch-stats -n 1 "$M"); rc=$?
printf '%s\n' "$out" | sed 's/^/# /'
check "examples/watch-stats -n 1 prints a header and one sample" eval \
    '[ $rc -eq 0 ] && [ "$(printf "%s\n" "$out" | wc -l)" -eq 2 ] &&
     [[ "$(head -n 1 <<< "$out")" == *finished* ]] &&
     [ "$(tail -n 1 <<< "$out" | awk "{print \$4}")" -ge 2 ]'

mkdir -p "$T/in"
echo "Once upon a time" > "$T/in/one"
echo "Lily and Ben" > "$T/in/two"
printf -- '---\nmax_tokens: 20\n---\nThe cat\n' > "$T/in/three"
examples/batch -P 3 "$M" "$T/in" "$T/out.d"; rc=$?
check "examples/batch exits 0" [ $rc -eq 0 ]
check "examples/batch writes 3 non-empty outputs" eval \
    '[ "$(find "$T/out.d" -type f -size +0 | wc -l)" -eq 3 ] && [ -z "$(find "$T/out.d" -name ".*")" ]'
run -p "Once upon a time" > "$T/one.run"
run -p "Lily and Ben" > "$T/two.run"
"$BIN/llmfs-run" --model "$MODEL" --temp 0 -n 20 -p "The cat" > "$T/three.run"
for f in one two three; do
    check "examples/batch output $f equals llmfs-run" cmp -s "$T/out.d/$f" "$T/$f.run"
done
check "examples/batch removes its prompts" eval '[ -z "$(ls "$M/prompts")" ]'

mkdir -p "$T/prom"
examples/node-exporter.sh "$M" "$T/prom"; rc=$?
check "examples/node-exporter.sh writes llmfs.prom and nothing else" eval \
    '[ $rc -eq 0 ] && [ -s "$T/prom/llmfs.prom" ] && [ "$(ls -A "$T/prom")" = llmfs.prom ]'
if command -v promtool > /dev/null; then
    check "promtool check metrics < llmfs.prom" eval 'promtool check metrics < "$T/prom/llmfs.prom" > "$T/promtool.out" 2>&1'
    sed 's/^/# /' "$T/promtool.out"
else
    skip "promtool check metrics < llmfs.prom" "promtool not installed"
fi
check "clean unmount" umount_llmfs "$M"
check "examples/node-exporter.sh without DIR prints its usage and writes nothing" eval \
    '! examples/node-exporter.sh "$M" 2>/dev/null && [ "$(examples/node-exporter.sh "$M" 2>&1 | grep -c usage)" -eq 1 ]'
check "examples/node-exporter.sh removes the file when the mount is gone" eval \
    '! examples/node-exporter.sh "$M" "$T/prom" 2>/dev/null && [ ! -e "$T/prom/llmfs.prom" ]'
finish
