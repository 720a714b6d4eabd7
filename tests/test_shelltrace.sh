#!/usr/bin/env bash
# bench/shelltrace.py: every variant writes the CSV header, times that never
# go back, one size and one cost per key, a repeat fraction between 0.2 and
# 0.9; the same seed gives the same bytes, another seed other bytes; a
# shorter trace is the start of a longer one; bad arguments fail.
set -u
cd "$(dirname "$0")/.."
GEN=${GEN:-bench/shelltrace.py}
DAYS=${DAYS:-1}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/llmfs-shelltrace-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

ok()     { echo "ok - shelltrace: $1"; }
not_ok() { echo "not ok - shelltrace: $1"; shift; for l in "$@"; do echo "#   $l"; done; }
fail=0
check() {   # check NAME CONDITION-STATUS [DETAIL...]
    local name=$1 st=$2; shift 2
    if [ "$st" -eq 0 ]; then ok "$name"; else not_ok "$name" "$@"; fail=1; fi
}

if ! command -v python3 >/dev/null; then not_ok "python3 is installed"; exit 1; fi
if [ ! -x "$GEN" ]; then not_ok "$GEN is executable"; exit 1; fi

sum() { sha256sum "$1" | cut -d' ' -f1; }

for v in mixed cron-heavy batch-heavy scan-heavy drift rereads; do
    a=$tmp/$v.1.csv
    if ! python3 "$GEN" --variant "$v" --seed 1 --days "$DAYS" --stats >"$a" 2>"$tmp/$v.stats"; then
        not_ok "$v runs" "$(head -c 400 "$tmp/$v.stats")"; fail=1; continue
    fi
    ok "$v runs"

    h=$(head -n 1 "$a")
    [ "$h" = "time_s,key,size,cost,kind" ]
    check "$v header" $? "got '$h'"

    # one pass: rows, non-decreasing time, per-key size and cost, repeats
    res=$(awk -F, 'NR == 1 { next }
        NF != 5 || $3 !~ /^[0-9]+$/ || $4 !~ /^[0-9]+\.[0-9]+$/ || $1 !~ /^[0-9]+\.[0-9]+$/ {
            bad++; if (!badline) badline = NR; next }
        { n++
          if ($1 + 0 < last) { back++; if (!backline) backline = NR }
          last = $1 + 0
          if ($2 in sz) {
              rep++
              if (sz[$2] != $3 || cost[$2] != $4) { incons++; if (!ikey) ikey = $2 }
          } else { sz[$2] = $3; cost[$2] = $4; uniq++ }
        }
        END { printf "%d %d %d %d %d %.4f %d %d %s\n", n, uniq, bad + 0, back + 0, incons + 0,
                     n ? rep / n : 0, badline + 0, backline + 0, ikey == "" ? "-" : ikey }' "$a")
    read -r n uniq bad back incons frac badline backline ikey <<<"$res"

    [ "$n" -gt 0 ] && [ "$bad" -eq 0 ]
    check "$v rows are well formed ($n rows)" $? "$bad malformed rows, first at line $badline"
    [ "$back" -eq 0 ]
    check "$v time_s is non-decreasing" $? "$back rows go back in time, first at line $backline"
    [ "$incons" -eq 0 ]
    check "$v every key has one size and one cost" $? "$incons rows disagree, e.g. key $ikey"
    awk -v f="$frac" 'BEGIN { exit !(f >= 0.2 && f <= 0.9) }'
    check "$v repeat fraction $frac is within [0.2, 0.9]" $?
    st=$(awk '$1 == "repeat_fraction" { print $2 }' "$tmp/$v.stats")
    awk -v a="$st" -v b="$frac" 'BEGIN { d = a - b; exit !(a != "" && d < 0.0002 && d > -0.0002) }'
    check "$v --stats repeat_fraction matches the CSV" $? "--stats '$st', CSV $frac"
    sr=$(awk '$1 == "rows" { print $2 }' "$tmp/$v.stats")
    su=$(awk '$1 == "unique_keys" { print $2 }' "$tmp/$v.stats")
    [ "$sr" = "$n" ] && [ "$su" = "$uniq" ]
    check "$v --stats rows and unique_keys match the CSV" $? "--stats $sr/$su, CSV $n/$uniq"

    python3 "$GEN" --variant "$v" --seed 1 --days "$DAYS" >"$tmp/$v.1b.csv" 2>/dev/null
    [ "$(sum "$a")" = "$(sum "$tmp/$v.1b.csv")" ]
    check "$v same seed, same sha256" $?
    python3 "$GEN" --variant "$v" --seed 2 --days "$DAYS" >"$tmp/$v.2.csv" 2>/dev/null
    [ -s "$tmp/$v.2.csv" ] && [ "$(sum "$a")" != "$(sum "$tmp/$v.2.csv")" ]
    check "$v other seed, other sha256" $?
done

# half a day is the first half of the day
python3 "$GEN" --variant mixed --seed 1 --days 0.5 >"$tmp/half.csv" 2>/dev/null
awk -F, 'NR == 1 || $1 < 43200' "$tmp/mixed.1.csv" >"$tmp/first-half.csv"
cmp -s "$tmp/half.csv" "$tmp/first-half.csv"
check "--days 0.5 is the first half of --days 1" $?

# bad arguments: non-zero status, nothing on stdout
bad() {
    local name=$1; shift
    python3 "$GEN" "$@" >"$tmp/bad.out" 2>/dev/null; local rc=$?
    [ "$rc" -ne 0 ] && [ ! -s "$tmp/bad.out" ]
    check "refuses $name" $? "status $rc, $(wc -c <"$tmp/bad.out") bytes on stdout"
}
bad "an unknown variant" --variant nope --seed 1
bad "a non-numeric seed" --seed one
bad "zero days" --days 0
bad "a negative scale" --scale -1
exit "$fail"
