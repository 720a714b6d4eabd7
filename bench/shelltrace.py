#!/usr/bin/env python3
"""shelltrace: seeded request traces of shell users for the response cache.

Writes CSV to stdout, one row per request, in time order:

    time_s,key,size,cost,kind

time_s  seconds since the start of the trace (the trace starts on a Monday
        at 00:00, in the servers' time zone); non-decreasing.
key     the request's identity: prompt + parameters, i.e. what the response
        cache keys on.  Two rows with one key are the same cache entry.
size    bytes of the completion; drawn once per key.
cost    seconds it took to generate the completion (what a hit saves);
        drawn once per key.
kind    the traffic class that produced the row (reread, script, cron,
        batch, scan, drift).  For analysis only; a replayer ignores it.

The model
---------
Every key gets, when it is created, an output size and a prompt length:

    size    lognormal, sigma 1.05, median set per class (800 B for scans ..
            2.5 KB for cron reports; about 1.5 KB over a mixed trace),
            clamped to [16, 65536] bytes (the cap is max_tokens at work);
    prompt  lognormal tokens, sigma 1.1, median per class (short questions
            ~60 tokens, files and logs ~800-1000), clamped to [4, 16384];
    tpot    per-token latency, uniform 10-40 ms (the key's model/params);
    cost    0.02 + prompt * tpot * 0.08   (prefill)
                 + size / 4 * tpot          (decode, 4 bytes a token)

so cost follows size, but a short answer to a long prompt can cost more
than a long answer to a short one.

People work to a diurnal curve (hourly weights, a lunch dip, weekends at a
fifth); cron does not.  Six classes, each a small generative model:

reread  interactive users.  Each user opens sessions as a Poisson process
        modulated by the working day (per-user rate and a +-1.5 h shift of
        the day); a session asks 1 + Geometric questions, each a new key
        (reread-uU-N), separated by the answer's cost plus an exponential
        think time; 15% paste code or logs (15x the prompt length).
        Each question is re-read / re-asked a Geometric number
        of times (per-user mean 0.5-2.3) with exponential gaps of ~1.5 min,
        then never again.
script  developers re-running a script over a fixed list of 5-50 prompts
        (log-uniform; keys script-S-I).  Runs come hours apart (lognormal,
        median 2 h, only in working time).  Before a run one prompt may be
        edited (a new key script-S-I.V), one added or one removed; a run
        may be interrupted.  A developer moves to a new script after a
        lognormal lifetime (median 1.5 days).
cron    jobs with a schedule -- daily at HH:MM (some weekdays only), hourly
        at :MM, every 15 or 5 minutes -- asking the same 1-6 keys (cron-J-K)
        in sequence at each firing, a second or so after the minute.  18%
        of jobs' prompts carry the date (keys change daily) and 10% the
        time or fresh log lines (every firing asks new keys).  Jobs retire
        after an exponential lifetime (mean 5 days) and new ones start at
        the same rate, so the set churns over the days.
batch   xargs -P over a directory of N prompt files (N log-uniform
        100-2000, P in 2..16): files go in name order to whichever of P
        lanes frees first.  60% of directories are run again 20-50 hours
        later (moved into working time) with 5-50% of the files changed
        (new keys) and a few added.
scan    one-off scans: a burst of 1000-20000 unique prompts (log-uniform)
        through xargs -P 4..32, never asked again: cache pollution.
drift   the team FAQ: a pool of shared prompts (drift-N) requested at a diurnal
        Poisson rate, each request picking rank r with P ~ 1/r^0.9.  Every
        hour each prompt's score takes a multiplicative random step with a
        per-prompt decay (some evergreen, most fading with a half-life of
        days), new prompts enter at a log-uniform rank, and prompts ranked
        past the pool's size fade out.  Ranks follow the scores.

Timing inside a sequence (a script run, a cron firing, an xargs lane)
assumes what a recording with an unbounded cache would show: the first
request of a key blocks for its cost, a repeat returns in milliseconds.
The trace is open-loop: a replayer issues rows at time_s whatever its
cache does.

Variants weight the classes: mixed (all), cron-heavy, batch-heavy,
scan-heavy, drift, rereads.  --scale multiplies the number of users, jobs
and request rates (the FAQ pool grows with its square root).  Every class,
and every user or job within it, draws from its own random.Random seeded
from --seed and its name, and events are drawn in time order, so the same
arguments give byte-identical output and a shorter --days gives a prefix of
a longer trace.

Usage: shelltrace.py [--variant NAME] [--seed S] [--days D] [--scale X]
                     [--stats]
"""

import argparse
import bisect
import heapq
import math
import random
import sys

DAY = 86400.0
HOUR = 3600.0

# Relative activity of people by hour of day (weekday); weekends at 0.2.
HOURLY = [0.03, 0.02, 0.02, 0.02, 0.02, 0.03, 0.06, 0.15, 0.45, 0.85, 1.0,
          1.0, 0.7, 0.8, 1.0, 1.0, 0.9, 0.7, 0.45, 0.3, 0.25, 0.2, 0.12,
          0.06]
WEEKEND = 0.2

KINDS = ["reread", "script", "cron", "batch", "scan", "drift"]

# Per-variant intensity of each class (multiplies users, jobs, rates).
VARIANTS = {
    "mixed":       {"reread": 1.0, "script": 1.0, "cron": 1.0, "batch": 1.0,
                    "scan": 1.0, "drift": 1.0},
    "cron-heavy":  {"reread": 0.5, "script": 0.5, "cron": 4.0, "batch": 0.5,
                    "scan": 0.4, "drift": 0.5},
    "batch-heavy": {"reread": 0.6, "script": 0.6, "cron": 0.6, "batch": 4.0,
                    "scan": 0.4, "drift": 0.6},
    "scan-heavy":  {"reread": 1.0, "script": 1.0, "cron": 1.0, "batch": 0.6,
                    "scan": 3.0, "drift": 1.0},
    "drift":       {"reread": 0.4, "script": 0.4, "cron": 0.4, "batch": 0.4,
                    "scan": 0.6, "drift": 5.0},
    "rereads":     {"reread": 5.0, "script": 0.4, "cron": 0.4, "batch": 0.4,
                    "scan": 0.4, "drift": 0.4},
}


def activity(t, shift=0.0):
    """People's activity at time t (0..1), the day shifted by shift s."""
    s = t + shift
    d = math.floor(s / DAY)
    h = (s - d * DAY) / HOUR
    i = int(h) % 24
    f = h - int(h)
    v = HOURLY[i] + (HOURLY[(i + 1) % 24] - HOURLY[i]) * f
    if d % 7 >= 5:
        v *= WEEKEND
    return v


def geometric(rng, p):
    """Failures before the first success: P(k) = (1-p) p^k, mean p/(1-p)."""
    k = 0
    while rng.random() < p:
        k += 1
    return k


def loguniform_int(rng, lo, hi):
    return int(math.exp(rng.uniform(math.log(lo), math.log(hi + 1))))


def working_arrivals(c, per_day):
    """(index, time) of a class's jobs: Poisson arrivals at per_day jobs a
    working day (activity integrates to ~10.8 h a weekday: the peak rate
    per second is per_day / 10.8 h), thinned by the daily activity curve."""
    rate = per_day / (10.8 * HOUR)
    arng = c.rng("arrivals")
    t = 0.0
    j = 0
    while True:
        t += arng.expovariate(rate)
        if t >= c.end:
            return
        if arng.random() >= activity(t):
            continue
        yield j, t
        j += 1


def next_working(rng, t, mean_wait=HOUR, shift=0.0):
    """Advance t until a person is at work (thinning by activity)."""
    while rng.random() >= activity(t, shift):
        t += rng.expovariate(1.0 / mean_wait)
    return t


class Class:
    """One traffic class: its events and its keys' sizes and costs."""

    def __init__(self, kind, seed, end, out_median, prompt_median):
        self.kind = kind
        self.seed = seed
        self.end = end
        self.out_median = out_median
        self.prompt_median = prompt_median
        self.events = []        # (time, key)
        self.attrs = {}         # key -> (size, cost)
        self.seen = set()       # keys requested so far

    def rng(self, name=""):
        return random.Random("shelltrace:%s:%s:%s" % (self.seed, self.kind,
                                                      name))

    def key(self, rng, key, out_mul=1.0, prompt_mul=1.0):
        """Create key (drawing its size and cost) unless it exists."""
        a = self.attrs.get(key)
        if a is None:
            size = int(self.out_median * out_mul
                       * math.exp(rng.gauss(0.0, 1.05)))
            size = min(max(size, 16), 65536)
            prompt = int(self.prompt_median * prompt_mul
                         * math.exp(rng.gauss(0.0, 1.1)))
            prompt = min(max(prompt, 4), 16384)
            tpot = rng.uniform(0.010, 0.040)
            cost = 0.02 + prompt * tpot * 0.08 + size / 4.0 * tpot
            a = (size, cost)
            self.attrs[key] = a
        return a

    def request(self, rng, t, key):
        """Record a request of key at t (if inside the trace); returns when
        its caller goes on: after the cost the first time, else at once."""
        if 0.0 <= t < self.end:
            self.events.append((t, key))
        if key not in self.seen:
            self.seen.add(key)
            return t + self.attrs[key][1]
        return t + rng.uniform(0.002, 0.02)


# --------------------------------------------------------------------------
# 1. interactive users: one-off questions re-read within minutes

def gen_reread(c, mult, scale):
    users = max(1, round(80 * mult * scale))
    for u in range(users):
        rng = c.rng("u%d" % u)
        rate = 0.8 * math.exp(rng.gauss(0.0, 0.5)) / HOUR   # sessions/s peak
        shift = rng.uniform(-1.5, 1.5) * HOUR
        p_reread = rng.uniform(0.35, 0.7)
        n = 0
        t = 0.0
        while True:
            t += rng.expovariate(rate)
            if t >= c.end:
                break
            if rng.random() >= activity(t, shift):
                continue
            q = 1 + geometric(rng, 0.65)
            s = t
            for _ in range(q):
                key = "reread-u%d-%d" % (u, n)
                n += 1
                c.key(rng, key, prompt_mul=(15.0 if rng.random() < 0.15
                                            else 1.0))
                done = c.request(rng, s, key)
                r = s
                for _ in range(geometric(rng, p_reread)):
                    r = max(r, done) + rng.expovariate(1.0 / 90.0)
                    c.request(rng, r, key)
                s = done + rng.expovariate(1.0 / 120.0)
            t = max(t, s)


# --------------------------------------------------------------------------
# 2. developers re-running a script over a fixed list of prompts

def gen_script(c, mult, scale):
    devs = max(1, round(48 * mult * scale))
    for d in range(devs):
        rng = c.rng("d%d" % d)
        t = 0.0
        first = True
        k = 0
        while t < c.end:
            s = k * devs + d            # developer d's k-th script
            k += 1
            srng = c.rng("s%d" % s)
            life = DAY * 1.5 * math.exp(srng.gauss(0.0, 0.8))
            if first:                       # already under way at the start
                life *= srng.random()
                first = False
            stop = t + life
            n = loguniform_int(srng, 5, 50)
            prompts = [(i, 0) for i in range(n)]   # (prompt, version)
            nxt = n
            gap_med = 2.0 * HOUR * math.exp(srng.gauss(0.0, 0.4))
            t = next_working(srng, t)
            while t < min(stop, c.end):
                if srng.random() < 0.3:             # edit a prompt
                    j = srng.randrange(len(prompts))
                    prompts[j] = (prompts[j][0], prompts[j][1] + 1)
                if srng.random() < 0.05:            # add one
                    prompts.append((nxt, 0))
                    nxt += 1
                if srng.random() < 0.05 and len(prompts) > 5:
                    del prompts[srng.randrange(len(prompts))]
                todo = len(prompts)
                if srng.random() < 0.1:             # interrupted
                    todo = srng.randrange(1, todo + 1)
                r = t + srng.uniform(0.05, 0.5)
                for i, v in prompts[:todo]:
                    key = ("script-%d-%d" % (s, i) if v == 0
                           else "script-%d-%d.%d" % (s, i, v))
                    c.key(srng, key)
                    r = c.request(srng, r, key) + srng.expovariate(1 / 0.1)
                gap = gap_med * math.exp(srng.gauss(0.0, 0.8))
                t = next_working(srng, max(r, t + gap))
            t = next_working(rng, max(t, stop) + rng.expovariate(1 / HOUR))


# --------------------------------------------------------------------------
# 3. cron jobs

def cron_fires(rng, start, end):
    """Firing times (s) of a random schedule between start and end."""
    u = rng.random()
    if u < 0.50:                        # daily, 30% of them weekdays only
        weekdays = u >= 0.35
        if rng.random() < 0.7:
            hh = rng.choice([6, 7, 7, 8, 8, 8, 9])
            mm = rng.choice([0, 0, 0, 15, 30, 45])
        else:
            hh, mm = rng.randrange(24), rng.randrange(60)
        first = math.floor(start / DAY) * DAY + hh * HOUR + mm * 60
        period = DAY
    elif u < 0.80:                      # hourly at :MM
        weekdays = False
        first = math.floor(start / HOUR) * HOUR + rng.randrange(60) * 60
        period = HOUR
    elif u < 0.95:                      # */15
        weekdays = False
        first = math.floor(start / 900) * 900 + rng.randrange(15) * 60
        period = 900.0
    else:                               # */5
        weekdays = False
        first = math.floor(start / 300) * 300 + rng.randrange(5) * 60
        period = 300.0
    t = first
    while t < start:
        t += period
    while t < end:
        if not weekdays or (t // DAY) % 7 < 5:
            yield t
        t += period


def gen_cron(c, mult, scale):
    mean_life = 5.0 * DAY
    jobs0 = max(1, round(45 * mult * scale))
    starts = [0.0] * jobs0
    arng = c.rng("arrivals")
    t = 0.0
    while True:                         # new jobs at the retirement rate
        t += arng.expovariate(jobs0 / mean_life)
        if t >= c.end:
            break
        starts.append(next_working(arng, t))
    for j, start in enumerate(starts):
        rng = c.rng("j%d" % j)
        stop = min(start + rng.expovariate(1.0 / mean_life), c.end)
        nkeys = min(1 + geometric(rng, 0.45), 6)
        u = rng.random()                # does the prompt carry a date?
        stamp = "day" if u < 0.18 else "fire" if u < 0.28 else None
        for f in cron_fires(rng, start, stop):
            r = f + rng.uniform(0.05, 1.5)
            for k in range(nkeys):
                key = "cron-%d-%d" % (j, k) if nkeys > 1 else "cron-%d" % j
                if stamp == "day":
                    key += "@d%d" % (f // DAY)
                elif stamp == "fire":
                    key += "@%d" % f
                c.key(rng, key)
                r = c.request(rng, r, key) + rng.uniform(0.005, 0.05)


# --------------------------------------------------------------------------
# 4. xargs -P over a directory of prompt files, once or twice

def xargs(c, rng, t, keys, lanes):
    """Issue keys in order over `lanes` parallel workers starting at t."""
    free = [t + rng.uniform(0.0, 0.05) for _ in range(lanes)]
    heapq.heapify(free)
    for key in keys:
        s = heapq.heappop(free) + rng.expovariate(1 / 0.005)
        heapq.heappush(free, c.request(rng, s, key))
    return max(free)


def gen_batch(c, mult, scale):
    per_day = 4.0 * mult * scale        # directories per working day
    for j, t in working_arrivals(c, per_day):
        rng = c.rng("b%d" % j)
        n = loguniform_int(rng, 100, 2000)
        lanes = rng.choice([2, 4, 4, 8, 8, 16])
        keys = ["batch-%d-%d" % (j, i) for i in range(n)]
        for k in keys:
            c.key(rng, k)
        xargs(c, rng, t, keys, lanes)
        if rng.random() < 0.6:          # second run a day or two later
            t2 = next_working(rng, t + rng.uniform(20, 50) * HOUR)
            changed = rng.uniform(0.05, 0.5)
            keys2 = []
            for i, k in enumerate(keys):
                if rng.random() < changed:
                    k = "batch-%d-%d.2" % (j, i)
                    c.key(rng, k)
                keys2.append(k)
            for i in range(n, n + int(n * rng.uniform(0.0, 0.1))):
                k = "batch-%d-%d" % (j, i)
                c.key(rng, k)
                keys2.append(k)
            xargs(c, rng, t2, keys2, lanes)


# --------------------------------------------------------------------------
# 5. one-off scans

def gen_scan(c, mult, scale):
    per_day = 0.6 * mult * scale
    for j, t in working_arrivals(c, per_day):
        rng = c.rng("s%d" % j)
        n = loguniform_int(rng, 1000, 20000)
        keys = ["scan-%d-%d" % (j, i) for i in range(n)]
        for k in keys:
            c.key(rng, k)
        xargs(c, rng, t, keys, rng.choice([4, 8, 16, 32]))


# --------------------------------------------------------------------------
# 6. the team FAQ: Zipf popularity whose ranks drift

def gen_drift(c, mult, scale):
    rng = c.rng()
    pool = max(50, round(2500 * math.sqrt(mult * scale)))
    zipf_s = 0.9
    cum = []
    acc = 0.0
    for r in range(1, 2 * pool + 1):
        acc += r ** -zipf_s
        cum.append(acc)
    peak = 0.14 * mult * scale          # requests/s at full activity
    new_per_hour = pool / 120.0         # the pool turns over in ~5 days
    items = []                          # [score, id, decay]
    nid = 0

    def new_item(score):
        nonlocal nid
        if rng.random() < 0.3:
            decay = 0.001               # evergreen
        else:
            decay = 0.02 * math.exp(rng.gauss(0.0, 0.7))   # per hour
        it = [score, nid, decay]
        c.key(rng, "drift-%d" % nid, out_mul=1.3)
        nid += 1
        return it

    for _ in range(pool):
        items.append(new_item(rng.paretovariate(1.2)))
    items.sort(key=lambda it: (-it[0], it[1]))
    h = 0
    while h * HOUR < c.end:
        # requests during hour h
        t = h * HOUR
        hend = t + HOUR
        n = len(items)
        total = cum[n - 1]
        while True:
            t += rng.expovariate(peak)
            if t >= hend or t >= c.end:
                break
            if rng.random() >= activity(t):
                continue
            r = bisect.bisect_left(cum, rng.random() * total, 0, n - 1)
            c.request(rng, t, "drift-%d" % items[r][1])
        # then the scores drift and the pool turns over
        for it in items:
            it[0] *= math.exp(-it[2] + rng.gauss(0.0, 0.15))
        k = 0
        lam = new_per_hour * (0.3 + activity(hend))
        x = rng.expovariate(1.0)
        while x < lam:
            k += 1
            x += rng.expovariate(1.0)
        for _ in range(k):
            rank = min(loguniform_int(rng, 1, len(items)), len(items)) - 1
            items.append(new_item(items[rank][0] * rng.uniform(1.0, 1.2)))
        items.sort(key=lambda it: (-it[0], it[1]))
        del items[pool:]
        h += 1


GENERATORS = {"reread": (gen_reread, 1500, 60),
              "script": (gen_script, 1500, 400),
              "cron": (gen_cron, 2500, 1000),
              "batch": (gen_batch, 1500, 800),
              "scan": (gen_scan, 800, 300),
              "drift": (gen_drift, 1500, 50)}


def generate(variant, seed, days, scale):
    end = days * DAY
    weights = VARIANTS[variant]
    rows = []
    attrs = {}
    for ki, kind in enumerate(KINDS):
        gen, out_med, prompt_med = GENERATORS[kind]
        c = Class(kind, seed, end, out_med, prompt_med)
        gen(c, weights[kind], scale)
        rows.extend((t, ki, i, key) for i, (t, key) in enumerate(c.events))
        attrs.update(c.attrs)
    rows.sort()
    return rows, attrs


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Seeded response-cache request traces of shell users "
                    "(CSV on stdout).")
    ap.add_argument("--variant", default="mixed", choices=sorted(VARIANTS))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--days", type=float, default=7.0)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--stats", action="store_true",
                    help="print a summary on stderr")
    a = ap.parse_args(argv)
    if not (a.days > 0 and math.isfinite(a.days)):
        ap.error("--days must be positive")
    if not (a.scale > 0 and math.isfinite(a.scale)):
        ap.error("--scale must be positive")

    rows, attrs = generate(a.variant, a.seed, a.days, a.scale)
    fmt = {k: "%d,%.3f" % v for k, v in attrs.items()}
    out = ["time_s,key,size,cost,kind\n"]
    for t, ki, _, key in rows:
        out.append("%.3f,%s,%s,%s\n" % (t, key, fmt[key], KINDS[ki]))
    try:
        sys.stdout.write("".join(out))
        sys.stdout.flush()
    except BrokenPipeError:
        sys.stderr.close()
        return 0

    if a.stats:
        seen = set()
        per = {k: [0, 0, 0.0] for k in KINDS}   # rows, unique, saved cost
        ubytes = 0
        reqbytes = 0
        cost_all = 0.0
        cost_unique = 0.0
        for _, ki, _, key in rows:
            size, cost = attrs[key]
            p = per[KINDS[ki]]
            p[0] += 1
            reqbytes += size
            cost_all += cost
            if key not in seen:
                seen.add(key)
                p[1] += 1
                ubytes += size
                cost_unique += cost
        n = len(rows)
        err = sys.stderr
        err.write("rows %d\n" % n)
        err.write("unique_keys %d\n" % len(seen))
        err.write("unique_bytes %d\n" % ubytes)
        err.write("requested_bytes %d\n" % reqbytes)
        err.write("repeat_fraction %.4f\n" % ((n - len(seen)) / n if n
                                               else 0.0))
        err.write("cost_s %.1f\n" % cost_all)
        err.write("cost_saved_by_unbounded_cache_s %.1f\n"
                  % (cost_all - cost_unique))
        for k in KINDS:
            r, u, _ = per[k]
            err.write("kind %s rows %d unique %d repeat_fraction %.4f\n"
                      % (k, r, u, (r - u) / r if r else 0.0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
