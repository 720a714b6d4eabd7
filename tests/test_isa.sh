#!/usr/bin/env bash
# The same logits, bit for bit, on every instruction-set path: the
# forward pass run with LLMFS_ISA=avx2 and =portable gives the checksums
# of the default (best) path, for F32, Q8_0 and Q4_K_M models.
set -u
TESTBIN=${TESTBIN:-build/tests}
sums() { LLMFS_ISA=$1 "$TESTBIN/test_batch" | awk '/^# logits fnv1a/ {print $4, $5}'; }
best=$(sums "")
[ "$(wc -l <<<"$best")" -ge 3 ] && echo "ok - test_batch reports logits checksums" ||
    echo "not ok - test_batch reports logits checksums"
for isa in avx2 portable; do
    got=$(sums $isa)
    if [ "$got" = "$best" ]; then echo "ok - logits on the $isa path equal the default path's"
    else echo "not ok - logits on the $isa path differ"; diff <(echo "$best") <(echo "$got") | sed 's/^/#   /'; fi
done
