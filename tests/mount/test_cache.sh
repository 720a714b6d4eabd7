#!/usr/bin/env bash
# The response cache through the mount: a repeated prompt is served from
# memory (L1) with the same bytes as llmfs-run and no engine tokens; after
# a remount from disk (L2); records survive kill -9 whole or not at all;
# damaged and foreign files in the directory are never served; a full
# disk leaves generation working; identical prompts at once generate once;
# a rebuilt model file never gets an old answer.
. "$(dirname "$0")/lib.sh"
M=$T/mnt
L2=$HOME/.cache/llmfs
gen_tokens() { metric "$M/stats/metrics" generated_tokens; }
cache_stat() { metric "$M/stats/cache" "$1"; }

if ! mount_llmfs "$M" --model "$MODEL"; then notok "mount"; finish; fi
ok "mount"

# --- hits are identical and free (greedy references and seeded samples)
i=0
for p in "$LLMFS_SHARED"/models/reference/s*.prompt; do
    c=$(basename "$p" .prompt)
    prompt=$(cat "$p")
    "$BIN/llmfs-run" --model "$MODEL" -p "$prompt" --temp 0 -n 256 > "$T/$c.run"
    echo "$prompt" > "$M/prompts/a$c"
    cat "$M/completions/a$c" > "$T/a$c"
    g0=$(gen_tokens)
    echo "$prompt" > "$M/prompts/b$c"
    cat "$M/completions/b$c" > "$T/b$c"
    check "$c: the first answer equals llmfs-run" cmp -s "$T/$c.run" "$T/a$c"
    check "$c: the repeated answer equals llmfs-run" cmp -s "$T/$c.run" "$T/b$c"
    check "$c: the repeat generates no token" [ "$(gen_tokens)" = "$g0" ]
    check "$c: its row says l1, the first one's miss" \
        [ "$(row_cache "$M" "b$c")/$(row_cache "$M" "a$c")" = l1/miss ]
    i=$((i + 1))
done
for seed in 7 8; do
    "$BIN/llmfs-run" --model "$MODEL" -p "Once upon a time" --temp 0.9 --top-p 0.9 --seed $seed \
        -n 100 > "$T/seed$seed.run"
    for k in 1 2; do
        printf -- '---\ntemperature: 0.9\ntop_p: 0.9\nseed: %s\nmax_tokens: 100\n---\nOnce upon a time\n' \
            $seed > "$M/prompts/seed$seed-$k"
        cat "$M/completions/seed$seed-$k" > "$T/seed$seed-$k"
    done
    check "seed $seed: both answers equal llmfs-run" \
        eval 'cmp -s "$T/seed$seed.run" "$T/seed$seed-1" && cmp -s "$T/seed$seed.run" "$T/seed$seed-2"'
    check "seed $seed: the second is an l1 hit" [ "$(row_cache "$M" "seed$seed-2")" = l1 ]
done
check "different seeds give different answers" eval '! cmp -s "$T/seed7.run" "$T/seed8.run"' 

# A shorter max_tokens is served by cutting the record at that token.
prompt=$(cat "$LLMFS_SHARED/models/reference/s1.prompt")
for nt in 1 5 17 40; do
    "$BIN/llmfs-run" --model "$MODEL" -p "$prompt" --temp 0 -n $nt > "$T/cut$nt.run"
    printf -- '---\nmax_tokens: %s\n---\n%s\n' $nt "$prompt" > "$M/prompts/cut$nt"
    cat "$M/completions/cut$nt" > "$T/cut$nt"
    check "max_tokens $nt: cut from the record, equal to llmfs-run -n $nt" \
        eval 'cmp -s "$T/cut$nt.run" "$T/cut$nt" && [ "$(row_cache "$M" cut$nt)" = l1 ]'
done
# cache: off neither reads nor writes; cache: refresh generates and replaces.
g0=$(gen_tokens)
printf -- '---\ncache: off\n---\n%s\n' "$prompt" > "$M/prompts/off"
cat "$M/completions/off" > "$T/off"
check "cache: off generates again, the same bytes" \
    eval 'cmp -s "$T/s1.run" "$T/off" && [ "$(gen_tokens)" -gt "$g0" ] && [ "$(row_cache "$M" off)" = off ]'
printf -- '---\ncache: refresh\n---\n%s\n' "$prompt" > "$M/prompts/refresh"
cat "$M/completions/refresh" > "$T/refresh"
check "cache: refresh generates again (row miss), the same bytes" \
    eval 'cmp -s "$T/s1.run" "$T/refresh" && [ "$(row_cache "$M" refresh)" = miss ]'

# --- identical prompts written at once generate once
g0=$(gen_tokens)
for k in 1 2 3 4 5 6 7 8; do
    echo "Lily and Ben went to the park with a red ball" > "$M/prompts/same$k" &
done
wait
for k in 1 2 3 4 5 6 7 8; do cat "$M/completions/same$k" > "$T/same$k"; done
rows=$(for k in 1 2 3 4 5 6 7 8; do row_cache "$M" same$k; done | sort | uniq -c | tr -s ' ' | tr '\n' ' ')
check "eight identical prompts at once: one miss, the others joined or l1 ($rows)" \
    eval '[ "$(for k in 1 2 3 4 5 6 7 8; do row_cache "$M" same$k; done | grep -c miss)" = 1 ] &&
          ! for k in 1 2 3 4 5 6 7 8; do row_cache "$M" same$k; done | grep -qvE "^(miss|joined|l1)$"'
check "and identical bytes" eval 'for k in 2 3 4 5 6 7 8; do cmp -s "$T/same1" "$T/same$k" || exit 1; done'
"$BIN/llmfs-run" --model "$MODEL" -p "Lily and Ben went to the park with a red ball" --temp 0 -n 256 > "$T/same.run"
check "which are llmfs-run's" cmp -s "$T/same.run" "$T/same1"

# --- rewrites are never answered with stale bytes: each generation is its
# own inode, so the page cache of a finished completion never shows
# through the next one
for j in 0 1 2; do
    "$BIN/llmfs-run" --model "$MODEL" -p "Tom had a kite number $j" --temp 0 -n 48 > "$T/rw$j.run"
done
bad=0
for i in $(seq 0 29); do
    j=$((i * 7 % 3))
    printf -- '---\nmax_tokens: 48\n---\nTom had a kite number %s\n' $j > "$M/prompts/rw"
    cat "$M/completions/rw" > "$T/rw.fs"
    cat "$M/completions/rw" > "$T/rw.fs2"
    cmp -s "$T/rw$j.run" "$T/rw.fs" && cmp -s "$T/rw$j.run" "$T/rw.fs2" || bad=$((bad + 1))
done
check "30 rewrites and re-reads of one name: never a stale byte" [ "$bad" = 0 ]
exec 7< "$M/completions/rw"
printf -- '---\nmax_tokens: 48\n---\nTom had a kite number %s\n' 1 > "$M/prompts/rw"
check "a descriptor opened before a rewrite keeps reading the old text" \
    eval 'cat <&7 > "$T/rw.old"; cmp -s "$T/rw$j.run" "$T/rw.old"'
exec 7<&-
check "... and a new open reads the new one" \
    eval 'cat "$M/completions/rw" > "$T/rw.new"; cmp -s "$T/rw1.run" "$T/rw.new"'

# --- stats (cmp is never given a completion still growing: it compares
# sizes first, and a growing file's size is what has been generated so far)
check "stats/cache counts L1 hits" [ "$(cache_stat l1_hits)" -ge 10 ]
check "stats/cache counts tokens saved" [ "$(cache_stat tokens_saved)" -gt 0 ]
check "prometheus carries llmfs_response_cache_*" \
    grep -q '^llmfs_response_cache_hits_total{tier="l1"} [1-9]' "$M/stats/prometheus"
if command -v promtool >/dev/null; then
    check "promtool accepts stats/prometheus" eval 'promtool check metrics < "$M/stats/prometheus" >/dev/null 2>&1'
fi
check "clean unmount" umount_llmfs "$M"

# --- L2 across remounts, permissions
check "the disk directory is 0700" [ "$(stat -c %a "$L2")" = 700 ]
check "records are 0600" eval '[ -z "$(find "$L2" -name "*.rec" ! -perm 600)" ] && [ -n "$(find "$L2" -name "*.rec")" ]'
if ! mount_llmfs "$M" --model "$MODEL"; then notok "mount again"; finish; fi
for c in s1 s2 s3 s4; do
    echo "$(cat "$LLMFS_SHARED/models/reference/$c.prompt")" > "$M/prompts/c$c"
    cat "$M/completions/c$c" > "$T/c$c"
    check "$c after a remount: from L2, equal to llmfs-run" \
        eval 'cmp -s "$T/$c.run" "$T/c$c" && [ "$(row_cache "$M" c$c)" = l2 ]'
done
check "no engine tokens for L2 hits" [ "$(gen_tokens)" = 0 ]
echo "$(cat "$LLMFS_SHARED/models/reference/s1.prompt")" > "$M/prompts/d"
check "an L2 hit is promoted to L1" eval 'cat "$M/completions/d" >/dev/null; [ "$(row_cache "$M" d)" = l1 ]'
check "clean unmount" umount_llmfs "$M"

# --- crash safety: kill -9 while 50 distinct prompts generate and store
if ! mount_llmfs "$M" --model "$MODEL"; then notok "mount for the crash"; finish; fi
pid=$(pgrep -n -f "llmfs --model $MODEL $M")
for k in $(seq 1 50); do
    printf -- '---\nmax_tokens: 200\n---\nThe cat number %s sat\n' $k > "$M/prompts/k$k" &
done
sleep 0.3
kill -9 "$pid"
wait 2>/dev/null
fusermount3 -uz "$M" 2>/dev/null
n_rec=$(find "$L2" -name '*.rec' | wc -l)
if ! mount_llmfs "$M" --model "$MODEL"; then notok "mount after kill -9"; finish; fi
bad=0 from_l2=0
for k in $(seq 1 50); do
    "$BIN/llmfs-run" --model "$MODEL" -p "The cat number $k sat" --temp 0 -n 200 > "$T/k$k.run"
    printf -- '---\nmax_tokens: 200\n---\nThe cat number %s sat\n' $k > "$M/prompts/k$k"
    cat "$M/completions/k$k" > "$T/k$k.fs"
    cmp -s "$T/k$k.run" "$T/k$k.fs" || bad=$((bad + 1))
    [ "$(row_cache "$M" k$k)" = l2 ] && from_l2=$((from_l2 + 1))
done
check "after kill -9 ($n_rec records on disk, $from_l2 served from them): all 50 answers equal llmfs-run" [ "$bad" = 0 ]
# after the unmount, which finishes the records being written: the scan at
# the remount removed the crash's leftovers, and nothing new is left
check "clean unmount" umount_llmfs "$M"
check "no temporary file is left behind" [ -z "$(find "$L2" -name '.tmp-*')" ]

# --- corruption: flipped bytes, truncations and a foreign file
i=0
for f in "$L2"/*.rec; do
    i=$((i + 1))
    size=$(stat -c %s "$f")
    if [ $((i % 3)) = 0 ]; then
        truncate -s $((size / 2)) "$f"
    else
        off=$(( (i * 7919) % size ))
        python3 -c 'import sys; f = open(sys.argv[1], "r+b"); f.seek(int(sys.argv[2])); b = f.read(1); f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 0x20])); f.close()' "$f" $off
    fi
done
echo "my notes, not a record" > "$L2/notes.txt"
head -c 300 /dev/urandom > "$L2/0123456789abcdef0123456789abcdef.rec"
if ! mount_llmfs "$M" --model "$MODEL"; then notok "mount with damaged records"; finish; fi
bad=0 served=0
for c in s1 s2 s3 s4; do
    echo "$(cat "$LLMFS_SHARED/models/reference/$c.prompt")" > "$M/prompts/e$c"
    cat "$M/completions/e$c" > "$T/e$c"
    cmp -s "$T/$c.run" "$T/e$c" || bad=$((bad + 1))
    [ "$(row_cache "$M" e$c)" = l2 ] && served=$((served + 1))
done
check "damaged records are never served ($served served from L2)" [ "$served" = 0 ]
check "the answers are regenerated correctly" [ "$bad" = 0 ]
check "stats/cache counts the drops (corrupt $(cache_stat l2_corrupt_dropped), foreign $(cache_stat l2_foreign_skipped))" \
    eval '[ "$(cache_stat l2_corrupt_dropped)" -ge 4 ] && [ "$(cache_stat l2_foreign_skipped)" -ge 2 ]'
check "foreign files are left alone" \
    eval '[ -f "$L2/notes.txt" ] && [ -f "$L2/0123456789abcdef0123456789abcdef.rec" ]'
check "clean unmount" umount_llmfs "$M"

# --- a second daemon on the same directory runs without L2 and says so
M2=$T/mnt2
mount_llmfs "$M" --model "$MODEL" >/dev/null 2>&1
msg=$(mount_llmfs "$M2" --model "$MODEL" 2>&1)
check "a second daemon on the same directory says it runs without the disk cache" \
    eval 'printf "%s" "$msg" | grep -q "in use by another llmfs"'
echo hi > "$M2/prompts/x"
check "and answers" [ -n "$(cat "$M2/completions/x")" ]
umount_llmfs "$M2"; umount_llmfs "$M"

# --- the generation belongs to the cache: removing the first of two
# identical prompts does not cut the second one short
SM=$(slow_model)
if [ -n "$SM" ]; then
    mount_llmfs "$M" --model "$SM" -o generation.max_tokens=48
    echo "Once upon a time" > "$M/prompts/first"
    echo "Once upon a time" > "$M/prompts/second"
    sleep 0.2
    rm "$M/prompts/first"
    cat "$M/completions/second" > "$T/second"
    "$BIN/llmfs-run" --model "$SM" -p "Once upon a time" --temp 0 -n 48 > "$T/second.run"
    check "rm of the first prompt: the joined second one is whole ($(row_cache "$M" second))" \
        eval '[ "$(row_cache "$M" second)" = joined ] && cmp -s "$T/second.run" "$T/second"'
    check "generated once" [ "$(gen_tokens)" = 48 ]
    umount_llmfs "$M"
else
    skip "rm of a joined request's first" "no slow model"
fi

# --- a rebuilt model file (same path, new content) gets no stale hit
cp "$MODEL" "$T/model.gguf"
mount_llmfs "$M" --model "$T/model.gguf" -o generation.max_tokens=32
echo "Once upon a time" > "$M/prompts/m1"; cat "$M/completions/m1" > /dev/null
umount_llmfs "$M"
cp "$LLMFS_SHARED/models/llamacpp/tiny-f32.gguf" "$T/model.gguf"
mount_llmfs "$M" --model "$T/model.gguf" -o generation.max_tokens=32
echo "Once upon a time" > "$M/prompts/m2"
cat "$M/completions/m2" > "$T/m2"
"$BIN/llmfs-run" --model "$T/model.gguf" -p "Once upon a time" --temp 0 -n 32 > "$T/m2.run"
check "a changed model file: no stale hit, the new model's answer" \
    eval '[ "$(row_cache "$M" m2)" = miss ] && cmp -s "$T/m2.run" "$T/m2"'
umount_llmfs "$M"

# --- a full disk leaves generation working and counts the write errors
if mkdir -p "$T/small" && mount -t tmpfs -o size=96k tmpfs "$T/small" 2>/dev/null; then
    mount_llmfs "$M" --model "$MODEL" -o cache.l2_dir="$T/small/l2",cache.l1_mb=1 
    head -c 80000 /dev/zero > "$T/small/filler"
    bad=0
    for k in $(seq 1 30); do
        "$BIN/llmfs-run" --model "$MODEL" -p "A dog called $k" --temp 0 -n 256 > "$T/f.run"
        echo "A dog called $k" > "$M/prompts/f$k"
        cat "$M/completions/f$k" > "$T/f.fs"
        cmp -s "$T/f.run" "$T/f.fs" || bad=$((bad + 1))
    done
    sleep 0.5
    check "full disk: every answer still right" [ "$bad" = 0 ]
    check "full disk: write errors counted ($(cache_stat l2_write_errors))" [ "$(cache_stat l2_write_errors)" -gt 0 ]
    umount_llmfs "$M"
    umount "$T/small"
else
    skip "full disk" "cannot mount a tmpfs here"
fi
finish
