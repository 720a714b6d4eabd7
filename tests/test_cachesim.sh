#!/usr/bin/env bash
# llmfs-cachesim: LRU replayed by prefix on the Mooncake conversation trace
# gives libCacheSim's miss ratios; the TSV format; CSV traces (columns in
# any order, quoted and string keys); every policy passes its check() on a
# real trace; a malformed trace line is one error line naming FILE:LINE
# with status 1, a usage error status 2.
set -u
cd "$(dirname "$0")/.." || exit 1
BIN=${BIN:-bin}
SIM=$BIN/llmfs-cachesim
SHARED=${LLMFS_SHARED:-../shared}
CONV=$SHARED/traces/mooncake_conversation_trace.jsonl
tmp=$(mktemp -d "${TMPDIR:-/tmp}/llmfs-cachesim-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

ok()     { echo "ok - cachesim: $1"; }
not_ok() { echo "not ok - cachesim: $1"; shift; for l in "$@"; do echo "#   $l"; done; }

if [ ! -x "$SIM" ]; then not_ok "$SIM is built"; exit 1; fi
pols=$("$SIM" --help | sed -n 's/^Policies: //p')
HEADER=$'trace\tpolicy\tsize_frac\tcache_size\trequests\tmiss_ratio\tbyte_miss_ratio\tcost_miss_ratio\tns_per_request'

# --- LRU on the conversation trace: .948/.805/.722 (libCacheSim, by prefix)
if [ ! -r "$CONV" ]; then
    not_ok "the conversation trace is readable" "$CONV"
else
    if out=$("$SIM" --policy lru --size 0.01,0.05,0.1 "$CONV" 2>"$tmp/err"); then
        ok "replays the conversation trace"
    else
        not_ok "replays the conversation trace" "$(head -c 300 "$tmp/err")"
    fi
    if [ "$(head -n 1 <<<"$out")" = "$HEADER" ]; then ok "the header row"
    else not_ok "the header row" "$(head -n 1 <<<"$out")"; fi
    for want in "0.01 0.948 1827" "0.05 0.805 9139" "0.1 0.722 18279"; do
        read -r frac ratio size <<<"$want"
        row=$(awk -F'\t' -v f="$frac" '$2 == "lru" && $3 == f' <<<"$out")
        if awk -F'\t' -v r="$ratio" -v s="$size" 'NF == 9 && $4 == s && $5 == 288500 &&
               $6 >= r - 0.005 && $6 <= r + 0.005 && $7 == $6 { ok = 1 } END { exit !ok }' <<<"$row"; then
            ok "lru at $frac: miss ratio $(cut -f6 <<<"$row") (libCacheSim $ratio), cache $size blocks"
        else
            not_ok "lru at $frac: miss ratio within 0.005 of $ratio, cache $size blocks" "row: $row"
        fi
    done
    # adaptive by prefix: better than LRU at every size, and than every
    # libCacheSim anchor of the traces' README (best of ARC, S3-FIFO, GDSF,
    # Cacheus: .925/.790/.712)
    ad=$("$SIM" --policy adaptive --size 0.01,0.05,0.1 "$CONV" 2>/dev/null)
    for want in "0.01 0.925" "0.05 0.790" "0.1 0.712"; do
        read -r frac best <<<"$want"
        a=$(awk -F'\t' -v f="$frac" '$2 == "adaptive" && $3 == f { print $6 }' <<<"$ad")
        l=$(awk -F'\t' -v f="$frac" '$2 == "lru" && $3 == f { print $6 }' <<<"$out")
        if awk -v a="$a" -v l="$l" -v b="$best" 'BEGIN { exit !(a != "" && a < l && a < b) }'; then
            ok "adaptive at $frac: miss ratio $a, below lru $l and the best anchor $best"
        else
            not_ok "adaptive at $frac: miss ratio below lru ($l) and $best" "got $a"
        fi
    done
    ns=$(awk -F'\t' 'NR > 1 && $9 > m { m = $9 } END { print m + 0 }' <<<"$out")
    if awk -v n="$ns" 'BEGIN { exit !(n > 0 && n < 1000) }'; then ok "lru costs ${ns} ns a block"
    else not_ok "lru costs under 1000 ns a block" "$ns"; fi

    # every policy, with its check() after every access, on the first 600 requests
    head -n 600 "$CONV" > "$tmp/conv600.jsonl"
    if out=$("$SIM" --check --policy "$pols" --size 0.01,0.05 "$tmp/conv600.jsonl" 2>"$tmp/err") &&
       [ "$(wc -l <<<"$out")" -eq $((1 + 2 * $(tr ',' '\n' <<<"$pols" | wc -l))) ]; then
        ok "--check passes for $pols"
    else
        not_ok "--check passes for $pols" "$(head -c 300 "$tmp/err")"
    fi
fi

# --- a tiny CSV trace: 8 requests, 3 objects; a cache of all of it misses
# only the first request of each: 3 of 8, 350 of 1000 bytes, 4 of 11 cost
cat > "$tmp/t.csv" <<'EOF'
time_s,key,size,cost,model
0.0,alpha,100,1,m
0.5,"be,ta",200,2,m
1.0,alpha,100,1,m
1.5,42,50,1,m

2.0,"be,ta",200,2,m
2.5,42,50,1,m
3.0,alpha,100,1,m
3.5,"be,ta",200,2,m
EOF
if out=$("$SIM" --size 1 "$tmp/t.csv" 2>"$tmp/err"); then
    n=$(tr ',' '\n' <<<"$pols" | wc -l)
    if [ "$(head -n 1 <<<"$out")" = "$HEADER" ] &&
       awk -F'\t' -v f="$tmp/t.csv" 'NR > 1 { rows++; if (NF != 9 || $1 != f || $3 != 1 || $4 != 350 ||
               $5 != 8 || $6 != "0.3750" || $7 != "0.3500" || $8 != "0.3636" || $9 !~ /^[0-9]+\.[0-9]$/) bad++ }
           END { exit !(rows > 0 && !bad) }' <<<"$out" && [ "$(wc -l <<<"$out")" -eq $((n + 1)) ]; then
        ok "a CSV trace: one row per policy, compulsory misses only at size 1"
    else
        not_ok "a CSV trace: one row per policy, compulsory misses only at size 1" "$out"
    fi
else
    not_ok "a CSV trace replays" "$(head -c 300 "$tmp/err")"
fi
# the same trace with its columns in another order, --format csv
cat > "$tmp/t2.csv" <<'EOF'
cost,key,model,time_s,size
1,alpha,m,0.0,100
2,"be,ta",m,0.5,200
1,alpha,m,1.0,100
1,42,m,1.5,50
2,"be,ta",m,2.0,200
1,42,m,2.5,50
1,alpha,m,3.0,100
2,"be,ta",m,3.5,200
EOF
if out2=$("$SIM" --format csv --size 1 "$tmp/t2.csv" 2>&1) &&
   [ "$(cut -f2-8 <<<"$out2")" = "$(cut -f2-8 <<<"$out")" ]; then
    ok "CSV columns in any order"
else
    not_ok "CSV columns in any order" "$out2"
fi
# half of it, 175 bytes: be,ta (200 bytes) never gets in, LRU misses
# alpha once, 42 once and be,ta three times: 5 of 8
if out=$("$SIM" --policy lru --size 0.5 "$tmp/t.csv" 2>&1) &&
   [ "$(cut -f4,5,6 <<<"$out" | tail -n 1)" = $'175\t8\t0.6250' ]; then
    ok "objects larger than the cache are never inserted"
else
    not_ok "objects larger than the cache are never inserted" "$out"
fi

# --- errors: one line "llmfs-cachesim: FILE:LINE: ..." and status 1
bad() {
    local name=$1 file=$2 want=$3
    shift 3
    "$SIM" "$@" "$file" >/dev/null 2>"$tmp/err"; local rc=$?
    local lines; lines=$(wc -l <"$tmp/err")
    if [ "$rc" -eq 1 ] && [ "$lines" -eq 1 ] && grep -qF "llmfs-cachesim: $file$want" "$tmp/err"; then
        ok "refuses $name"
    else
        not_ok "refuses $name" "status $rc, $lines lines: $(head -c 300 "$tmp/err")"
    fi
}
printf 'time_s,key,size,cost\n0,a,10,1\n1,b,abc,1\n' > "$tmp/badsize.csv"
bad "a CSV size that is not a number" "$tmp/badsize.csv" ":3: "
printf 'time_s,key,size,cost\n0,a,10,1\n1,b,10\n' > "$tmp/short.csv"
bad "a CSV row short of a field" "$tmp/short.csv" ":3: "
printf 'time_s,key,size\n0,a,10\n' > "$tmp/nocost.csv"
bad "a CSV header without cost" "$tmp/nocost.csv" ":1: "
printf 'time_s,key,size,cost\n0,"a,10,1\n' > "$tmp/quote.csv"
bad "an unterminated quote" "$tmp/quote.csv" ":2: "
{ head -n 2 "$CONV" 2>/dev/null; echo '{"timestamp": 1, "hash_ids": [1, 2,'; } > "$tmp/cut.jsonl"
bad "a truncated JSON line" "$tmp/cut.jsonl" ":3: "
printf '{"timestamp": 0, "hash_ids": [1, 2.5]}\n' > "$tmp/float.jsonl"
bad "a non-integer hash id" "$tmp/float.jsonl" ":1: "
printf '{"timestamp": 0, "input_length": 3}\n' > "$tmp/noids.jsonl"
bad "a line without hash_ids" "$tmp/noids.jsonl" ":1: "
printf '{"hash_ids": [1], "x": "\\q"}\n' > "$tmp/esc.jsonl"
bad "a bad string escape" "$tmp/esc.jsonl" ":1: "
printf '{"hash_ids": [1]} x\n' > "$tmp/trail.jsonl"
bad "text after the object" "$tmp/trail.jsonl" ":1: "
bad "a missing file" "$tmp/none.jsonl" ": "
# unknown keys of every JSON shape are skipped
printf '%s\n' '{"meta": {"a": [1, {"b": null}], "s": "x\"y\\u00e9"}, "hash_ids": [3, 4], "t": true, "f": -1.5e3}' \
    '{"hash_ids": [3, 4, 5], "timestamp": 2}' > "$tmp/keys.jsonl"
if out=$("$SIM" --policy lru --size 1 "$tmp/keys.jsonl" 2>&1) && [ "$(tail -n 1 <<<"$out" | cut -f4-6)" = $'3\t5\t0.6000' ]; then
    ok "unknown JSON keys are skipped; prefix hits"
else
    not_ok "unknown JSON keys are skipped; prefix hits" "$out"
fi

# --repeat changes only the time column
a=$("$SIM" --policy adaptive,lru "$tmp/t.csv" | cut -f1-8)
b=$("$SIM" --policy adaptive,lru --repeat 3 "$tmp/t.csv" | cut -f1-8)
if [ -n "$a" ] && [ "$a" = "$b" ]; then ok "--repeat: the same miss ratios"; else not_ok "--repeat: the same miss ratios" "$a / $b"; fi

# --- usage errors: status 2, one line
usage_bad() {
    local name=$1; shift
    "$SIM" "$@" >/dev/null 2>"$tmp/err"; local rc=$?
    if [ "$rc" -eq 2 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q '^llmfs-cachesim: ' "$tmp/err"; then
        ok "usage error: $name"
    else
        not_ok "usage error: $name" "status $rc: $(head -c 300 "$tmp/err")"
    fi
}
usage_bad "an unknown policy" --policy lru,nosuch "$tmp/t.csv"
usage_bad "no trace"
usage_bad "a size of 0" --size 0 "$tmp/t.csv"
usage_bad "an unknown format" --format xml "$tmp/t.csv"
usage_bad "an unknown option" --bogus "$tmp/t.csv"
usage_bad "a repeat count of 0" --repeat 0 "$tmp/t.csv"
if "$SIM" --help | grep -q '^usage:'; then ok "--help prints the usage"; else not_ok "--help prints the usage"; fi
exit 0
