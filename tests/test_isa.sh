#!/usr/bin/env bash
# The same logits, bit for bit, on every instruction-set path: the
# forward pass run with LLMFS_ISA=avx2 and =portable gives the checksums
# of the default (best) path, for models of every weight type and a
# Q4_K_M mixture.  Each run
# reports the path that ran (test_batch prints "# isa NAME"), so a path
# the CPU lacks is a skip, never a silent pass on the default path.
set -u
TESTBIN=${TESTBIN:-build/tests}
run() { LLMFS_ISA=$1 "$TESTBIN/test_batch" > "$out"; }
sums() { awk '/^# logits fnv1a/ {print $4, $5}' "$out"; }
ran() { awk '/^# isa / {print $3}' "$out" | sort -u; }
out=$(mktemp); trap 'rm -f "$out"' EXIT
run ""
best=$(sums); best_isa=$(ran)
[ "$(wc -l <<<"$best")" -ge 3 ] && echo "ok - test_batch reports logits checksums (default path: $best_isa)" ||
    echo "not ok - test_batch reports logits checksums"
for isa in avx2 portable; do
    run "$isa"
    got=$(sums); got_isa=$(ran)
    if [ "$got_isa" != "$isa" ]; then
        if [ "$isa" = avx2 ] && ! grep -qw avx2 /proc/cpuinfo; then
            echo "ok - logits on the $isa path # SKIP the CPU has no AVX2"
        else
            echo "not ok - LLMFS_ISA=$isa ran the '$got_isa' path"
        fi
        continue
    fi
    if [ "$got" = "$best" ]; then echo "ok - logits on the $isa path (it ran) equal the $best_isa path's"
    else echo "not ok - logits on the $isa path differ"; diff <(echo "$best") <(echo "$got") | sed 's/^/#   /'; fi
done
