#!/usr/bin/env bash
# llmfs-bench run SCENARIO on the small model: each open-loop stage's
# measured arrival rate is within 15% of what the file asks (stages of at
# least 200 arrivals, steady and ramp), a closed-loop stage holds N in
# flight; an SLA it cannot meet exits 1 naming the criterion, loose ones
# exit 0; the progress line; the latency breakdown names the part that
# dominates (queue under scheduler.max_batch=1, decode on the 110M model)
# and its parts add up to each request's e2e; the SVGs are well-formed and
# rasterize; malformed files give one FILE:LINE:COLUMN line and exit 2; the
# CPU seconds per 1,000 tokens in the JSON agree within 10% with the
# daemon's own counters read before and after, and on the mount younger
# than a minute the daemon's last-minute figure (stats/metrics and
# stats/prometheus) agrees within 10% with its since-mount one; compare
# finds no change between two runs of one configuration and a regression
# in a slowed one.
. "$(dirname "$0")/lib.sh"
M=$T/mnt
if ! mount_llmfs "$M" --model "$MODEL" -o "$NOCACHE,generation.max_tokens=8"; then
    notok "mount"; finish
fi
B="$BIN/llmfs-bench"
svg_ok() {   # every FILE is well-formed XML and rasterizes to a non-empty PNG
    local f
    for f in "$@"; do
        [ -s "$f" ] && xmllint --noout "$f" && rsvg-convert -o "$f.png" "$f" && [ -s "$f.png" ] || return 1
    done
}

cat > "$T/rates.yaml" <<'EOF'
name: rates
seed: 3
prompts: {text: "Once upon a time"}
params: {max_tokens: 8}
stages:
  - {kind: steady, duration_s: 6, rate: 40}
  - {kind: ramp, duration_s: 6, rate: 10, rate_to: 70}
  - {kind: steady, duration_s: 3, concurrency: 4}
EOF
before=$(cat "$M/stats/metrics")
"$B" run "$T/rates.yaml" -m "$M" -q --csv "$T/rates.csv" --json "$T/rates.json" --svg "$T/svg" > "$T/rates.out"; rc=$?
after=$(cat "$M/stats/metrics")
check "a scenario runs to the end (exit $rc)" [ "$rc" -eq 0 ]
python3 - "$T/rates.json" > "$T/rates.chk" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
s = j["stages"]
for k, want in ((0, 40.0), (1, 40.0)):
    got = s[k]["summary"]["arrival_rate"]
    n = s[k]["summary"]["requests"]
    print("stage %d: %d arrivals, %.2f/s for %.0f/s: %s" % (k + 1, n, got, want,
          "ok" if n >= 200 and abs(got - want) / want < 0.15 else "off"))
EOF
sed 's/^/# /' "$T/rates.chk"
check "open-loop arrival rates within 15% (steady and ramp)" eval '[ "$(grep -c ": ok$" "$T/rates.chk")" -eq 2 ]'
inflight=$(python3 - "$T/rates.csv" <<'EOF'
import csv, sys
ev = []
for r in csv.DictReader(open(sys.argv[1])):
    if r["stage"] == "3" and r["status"] == "ok":
        s, e = float(r["start_ms"]), float(r["scheduled_ms"]) + float(r["e2e_ms"])
        ev += [(s, 1), (e, -1)]
n = m = 0
for t, d in sorted(ev, key=lambda x: (x[0], x[1])):
    n += d
    m = max(m, n)
print(m)
EOF
)
check "a closed-loop stage of concurrency 4 holds 4 in flight (got $inflight)" [ "$inflight" = 4 ]
check "the CSV has one row per request with the documented columns" eval \
    '[ "$(head -n 1 "$T/rates.csv")" = "request_id,stage,scheduled_ms,start_ms,ttft_ms,e2e_ms,prompt_tokens,generated_tokens,cache,status,submit_ms,queue_ms,prefill_ms,decode_ms,delivery_ms" ] &&
     [ "$(($(wc -l < "$T/rates.csv") - 1))" -eq "$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[\"overall\"][\"requests\"])" "$T/rates.json")" ]'
cost=$(python3 - "$T/rates.json" <<EOF
import json, sys
def m(text, k):
    for l in text.splitlines():
        a = l.split()
        if a and a[0] == k: return float(a[1])
before = """$before"""
after = """$after"""
cpu = m(after, "cpu_s") - m(before, "cpu_s")
gen = m(after, "generated_tokens") - m(before, "generated_tokens")
j = json.load(open(sys.argv[1]))["daemon"]["cpu_s_per_1k_tokens"]
ours = cpu / gen * 1000
print("%.4f %.4f %s" % (j, ours, "ok" if abs(j - ours) / ours < 0.10 else "off"))
EOF
)
echo "# CPU s per 1K tokens: bench $cost (daemon's counters)"
check "CPU seconds per 1K tokens agree with the daemon's counters within 10%" eval '[[ "$cost" == *ok ]]'

# --- the last minute's CPU per 1K tokens: the mount is younger than a
# minute, so that window starts at the mount like the since-mount figure
printf '%s\n' "$after" > "$T/after.metrics"
cat "$M/stats/prometheus" > "$T/after.prom"
win=$(python3 - "$T/after.metrics" "$T/after.prom" <<'EOF'
import sys
def m(path, k):
    for l in open(path):
        a = l.split()
        if a and a[0] == k: return float(a[1])
f = sys.argv[1]
up, all_, w = m(f, "uptime_s"), m(f, "cpu_s_per_1k_tokens"), m(f, "cpu_s_per_1k_tokens_60s")
p = m(sys.argv[2], "llmfs_cpu_seconds_per_1k_tokens_60s")
if w is None or p is None:
    print("missing")
elif up >= 55:
    print("%.1f old" % up)
else:
    ok = w > 0 and abs(w - all_) / all_ < 0.10 and abs(p - w) / w < 0.10
    print("%.4f %.4f %.4f %.1f %s" % (w, p, all_, up, "ok" if ok else "off"))
EOF
)
echo "# CPU s per 1K tokens, last minute (metrics, prometheus), since mount, uptime: $win"
if [[ "$win" == *old ]]; then
    skip "CPU seconds per 1K tokens over the last minute agree with the since-mount figure" \
        "the mount is older than 55 s"
else
    check "CPU seconds per 1K tokens over the last minute (metrics, prometheus) agree with the since-mount figure within 10% on a young mount" \
        eval '[[ "$win" == *ok ]]'
fi
check "stats/prometheus has a llmfs_cpu_seconds_per_1k_tokens_60s gauge with HELP" eval \
    'grep -q "^# HELP llmfs_cpu_seconds_per_1k_tokens_60s ." "$T/after.prom" &&
     grep -q "^# TYPE llmfs_cpu_seconds_per_1k_tokens_60s gauge$" "$T/after.prom"'

sum=$(python3 - "$T/rates.csv" <<'EOF'
import csv, sys
n = off = 0
for r in csv.DictReader(open(sys.argv[1])):
    if r["status"] != "ok" or r["submit_ms"] == "": continue
    parts = sum(float(r[k]) for k in ("submit_ms", "queue_ms", "prefill_ms", "decode_ms", "delivery_ms"))
    e2e = float(r["e2e_ms"])
    n += 1
    off += abs(parts - e2e) > max(0.5, 0.02 * e2e)
print(n, off)
EOF
)
echo "# requests with a breakdown, and those whose parts miss e2e by more than 2% or 0.5 ms: $sum"
check "each request's five latency parts add up to its e2e" eval '[ "${sum% *}" -gt 300 ] && [ "${sum#* }" -le $(( ${sum% *} / 100 )) ]'
check "run --svg draws latency-cdf, latency-hist and over-time, well-formed and rasterizing" \
    svg_ok "$T/svg/latency-cdf.svg" "$T/svg/latency-hist.svg" "$T/svg/over-time.svg"
check "... the over-time figure marks the three stages" eval \
    '[ "$(grep -c "stroke-dasharray" "$T/svg/over-time.svg")" -ge 3 ] && grep -q "3 steady" "$T/svg/over-time.svg"'

# --- the progress line, on standard error without -q
"$B" run bench/scenarios/smoke.yaml -m "$M" > /dev/null 2> "$T/progress"
sed 's/^/# /' "$T/progress"
check "a progress line names the stage, requests done, errors and the p95 so far" \
    grep -qE '^llmfs-bench: stage 2/2 steady +[0-9.]+s  done [0-9]+  errors 0  e2e p95 [0-9]+ ms$' "$T/progress"

# --- SLA gates
cat > "$T/tight.yaml" <<'EOF'
prompts: {text: "Once upon a time"}
stages: [{kind: steady, duration_s: 2, rate: 10}]
sla: {ttft_p95_ms: 0.001, error_rate: 0.5}
EOF
out=$("$B" run "$T/tight.yaml" -m "$M" -q); rc=$?
check "an SLA it cannot meet exits 1" [ "$rc" -eq 1 ]
check "... naming the criterion" eval '[[ "$out" == *"sla ttft_p95_ms <= 0.001: FAIL"* ]] && [[ "$out" == *"sla error_rate <= 0.5: PASS"* ]]'
sed 's/0.001/60000/' "$T/tight.yaml" > "$T/loose.yaml"
"$B" run "$T/loose.yaml" -m "$M" -q > /dev/null; rc=$?
check "loose thresholds exit 0" [ "$rc" -eq 0 ]

# --- malformed files: one FILE:LINE:COLUMN line, exit 2
bad() {   # name expected-substring yaml
    printf '%s' "$3" > "$T/bad.yaml"
    want=$2
    out=$("$B" run "$T/bad.yaml" -m "$M" 2>&1 >/dev/null); rc=$?
    echo "# $out"
    check "$1" eval '[ $rc -eq 2 ] && [ "$(printf "%s\n" "$out" | wc -l)" -eq 1 ] && [[ "$out" == *"bad.yaml:$want"* ]]'
}
bad "an unknown key is one line" "2:1: scenario: unknown key 'stagez'" $'prompts: {text: hi}\nstagez: []\n'
bad "a wrong type is one line" "2:37: duration_s: expected a number" $'prompts: {text: hi}\nstages: [{kind: steady, duration_s: [1], rate: 1}]\n'
bad "a negative rate is one line" "2:46: rate: -1 is out of range" $'prompts: {text: hi}\nstages: [{kind: steady, duration_s: 1, rate: -1}]\n'
bad "empty stages are one line" "2:9: stages: the list is empty" $'prompts: {text: hi}\nstages: []\n'

# --- compare: A/A says no significant change; a slowed candidate (the
# 110M model against stories260K) regressed.  The two A runs go at the same
# time, so that whatever else the shared machine does falls on both alike
# (run one after the other, another tenant's burst moved a millisecond TTFT
# median by 50% between them).  Tolerance 0.25: even side by side they
# differ by up to ~12% in median TTFT when it is a millisecond (measured),
# and that is significant with a thousand requests; a real regression here
# is several times.
cat > "$T/aa.yaml" <<'EOF'
prompts: {text: "Once upon a time"}
params: {max_tokens: 16}
warmup_s: 1
stages: [{kind: steady, duration_s: 4, concurrency: 4}]
EOF
"$B" run "$T/aa.yaml" -m "$M" -q > /dev/null          # warms the mount up
"$B" run "$T/aa.yaml" -m "$M" -q --csv "$T/base.csv" > /dev/null & aa1=$!
"$B" run "$T/aa.yaml" -m "$M" -q --csv "$T/same.csv" > /dev/null & aa2=$!
wait "$aa1" "$aa2"
out=$("$B" compare "$T/base.csv" "$T/same.csv" --tolerance 0.25 --json "$T/aa.json"); rc=$?
printf '%s\n' "$out" | grep '^all' | sed 's/^/# /'
check "A/A: no significant change on every metric (exit $rc)" eval \
    '[ $rc -eq 0 ] && ! grep -qE ": (regressed|improved)$" <<< "$out" && grep -q "^verdict no regression" <<< "$out"'
check "... and the JSON says so" python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if not j["regressed"] and all(c["verdict"] == "no significant change" for c in j["comparisons"]) else 1)' "$T/aa.json"
M2=$T/slow
if SM=$(slow_model) && mount_llmfs "$M2" --model "$SM" -o "$NOCACHE"; then
    "$B" run "$T/aa.yaml" -m "$M2" -q --csv "$T/slow.csv" > "$T/slow.out"
    out=$("$B" compare "$T/base.csv" "$T/slow.csv" --tolerance 0.25 --svg "$T/cmp"); rc=$?
    printf '%s\n' "$out" | grep '^all' | sed 's/^/# /'
    check "a candidate on the 110M model regressed (exit $rc)" eval \
        '[ $rc -eq 1 ] && grep -qE "^all e2e_ms: .*p [0-9.e-]+ \(Holm [0-9.e-]+\).*: regressed$" <<< "$out"'
    check "compare --svg draws the two CDFs and the histograms, well-formed and rasterizing" \
        svg_ok "$T/cmp/compare-cdf.svg" "$T/cmp/compare-hist.svg"
    grep bottleneck "$T/slow.out" | sed 's/^/# /'
    check "on the 110M model decode is the biggest part, with threads" \
        grep -q '^bottleneck decode (.*): threads' "$T/slow.out"
    umount_llmfs "$M2"
else
    notok "mount of the 110M model"
fi

# --- where the time goes: one batch slot for four clients makes the
# queue the biggest part (on the 110M model, so that the generation, not
# the client's file operations, is what they wait for)
M3=$T/onebatch
if SM=$(slow_model) && mount_llmfs "$M3" --model "$SM" -o "$NOCACHE,scheduler.max_batch=1"; then
    # distinct prompts: identical greedy ones would join one generation
    for i in $(seq 1 40); do echo "Once upon a time there were $i cats"; done > "$T/queue.txt"
    cat > "$T/queue.yaml" <<'EOF'
prompts: {file: queue.txt}
params: {max_tokens: 16}
stages: [{kind: steady, duration_s: 3, concurrency: 4}]
EOF
    "$B" run "$T/queue.yaml" -m "$M3" -q --json "$T/queue.json" > "$T/queue.out"
    grep -E '_ms_mean|bottleneck' "$T/queue.out" | grep -vE '^(stage|ttft|e2e|tpot|itl)' | sed 's/^/# /'
    check "four clients on one batch slot: the queue is named, with scheduler.max_batch" \
        grep -q '^bottleneck queue (.*): scheduler.max_batch' "$T/queue.out"
    check "... and the JSON has the breakdown" python3 -c 'import json,sys; b=json.load(open(sys.argv[1]))["overall"]["breakdown"]; sys.exit(0 if b["bottleneck"] == "queue" and b["queue_ms"] > b["decode_ms"] else 1)' "$T/queue.json"
    umount_llmfs "$M3"
else
    notok "mount with scheduler.max_batch=1"
fi

# --- the shipped scenarios read, and smoke runs
for f in bench/scenarios/*.yaml; do
    out=$("$B" run "$f" -m /nonexistent 2>&1); rc=$?
    check "bench/scenarios/$(basename "$f") reads" eval '[ $rc -eq 2 ] && [[ "$out" == *"not an llmfs mount"* ]]'
done
"$B" run bench/scenarios/smoke.yaml -m "$M" -q > "$T/smoke.out"; rc=$?
check "bench/scenarios/smoke.yaml passes its SLA (exit $rc)" eval '[ $rc -eq 0 ] && grep -q "^sla error_rate <= 0: PASS" "$T/smoke.out"'

check "clean unmount" umount_llmfs "$M"
finish
