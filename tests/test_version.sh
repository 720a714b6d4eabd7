#!/usr/bin/env bash
# Every program prints its own name and the same version with --version
# and exits 0.
set -u
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
want=$(sed -n 's/^#define LLMFS_VERSION "\(.*\)"/\1/p' engine/version.h)
for p in llmfs llmfs-run llmfs-bench llmfs-mkmodel llmfs-cachesim; do
    out=$("$BIN/$p" --version 2>&1); rc=$?
    if [ "$rc" -eq 0 ] && [[ "$out" == "$p $want"* ]]; then echo "ok - $p --version"
    else echo "not ok - $p --version: status $rc, '$out'"; fi
done
