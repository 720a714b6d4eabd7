#!/usr/bin/env python3
"""What the FUSE path costs over calling the same OpenAI-compatible server
directly, and what the daemon's CPU is next to the server's.

    python3 bench/remote.py MOUNT URL SERVER_PID [N]

MOUNT is an llmfs mount whose only backend is URL (cache off, so that every
prompt reaches the server).  For N (default 20) prompts, alternately: the
time to the first byte of text and to the end, (a) through the mount
(write prompts/NAME, read completions/NAME) and (b) straight from the
server with an HTTP client streaming /v1/completions (the same JSON the
daemon sends).  Then 64 prompts at once through the mount: the daemon's
CPU seconds against the server's (in all, by thread name, and per token
streamed), and the daemon's thread count.  Prints
"name value" lines (milliseconds, seconds, counts)."""
import http.client
import json
import os
import statistics
import sys
import threading
import time
import urllib.parse

mnt, url, spid = sys.argv[1], sys.argv[2], int(sys.argv[3])
n = int(sys.argv[4]) if len(sys.argv) > 4 else 20
u = urllib.parse.urlparse(url)


def daemon_pid():
    for line in open(os.path.join(mnt, "stats/engine")):
        if line.startswith("pid "):
            return int(line.split()[1])
    raise SystemExit("no pid in stats/engine")


def cpu_s(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu_s(pid, name):
    """CPU seconds of pid's threads called name."""
    t = 0.0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            if open(f"/proc/{pid}/task/{tid}/comm").read().strip() != name:
                continue
            f = open(f"/proc/{pid}/task/{tid}/stat").read().rsplit(")", 1)[1].split()
            t += (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            pass
    return t


def cpu_by_thread(pid):
    """{thread name: (user, system) CPU seconds} of pid's threads (threads that ended are
    not counted)."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            name = open(f"/proc/{pid}/task/{tid}/comm").read().strip()
            f = open(f"/proc/{pid}/task/{tid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        u, k = out.get(name, (0.0, 0.0))
        out[name] = (u + int(f[11]) / os.sysconf("SC_CLK_TCK"),
                     k + int(f[12]) / os.sysconf("SC_CLK_TCK"))
    return out


def gen_tokens():
    for f in ("stats/metrics", "stats/engine"):
        for line in open(os.path.join(mnt, f)):
            if line.startswith("generated_tokens "):
                return int(line.split()[1])
    return 0


def threads(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("Threads:"):
            return int(line.split()[1])


def via_mount(name, prompt, max_tokens):
    t0 = time.perf_counter()
    with open(os.path.join(mnt, "prompts", name), "w") as f:
        f.write(f"---\nmax_tokens: {max_tokens}\n---\n{prompt}\n")
    fd = os.open(os.path.join(mnt, "completions", name), os.O_RDONLY)
    first = None
    while True:
        b = os.read(fd, 65536)
        if first is None and b:
            first = time.perf_counter()
        if not b:
            break
    end = time.perf_counter()
    os.close(fd)
    return (first - t0) * 1e3, (end - t0) * 1e3


def direct(prompt, max_tokens):
    body = json.dumps({"prompt": prompt, "max_tokens": max_tokens, "stream": True,
                       "temperature": 0})
    t0 = time.perf_counter()
    c = http.client.HTTPConnection(u.hostname, u.port)
    c.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
    r = c.getresponse()
    first = None
    buf = b""
    while True:
        b = r.read1(65536)
        if not b:
            break
        buf += b
        if first is None and b'"text":"' in buf and b'"text":""' not in buf:
            first = time.perf_counter()
    end = time.perf_counter()
    c.close()
    return (first - t0) * 1e3, (end - t0) * 1e3


m_ttft, m_e2e, d_ttft, d_e2e = [], [], [], []
for i in range(n):
    p = f"Bench {i}: Once upon a time"
    a = via_mount(f"bench{i}", p, 64)
    b = direct(p + " ", 64)   # another prompt: no server-side reuse advantage either way
    m_ttft.append(a[0]); m_e2e.append(a[1]); d_ttft.append(b[0]); d_e2e.append(b[1])
med = statistics.median
print(f"mount_ttft_p50_ms {med(m_ttft):.2f}")
print(f"direct_ttft_p50_ms {med(d_ttft):.2f}")
print(f"mount_e2e_p50_ms {med(m_e2e):.2f}")
print(f"direct_e2e_p50_ms {med(d_e2e):.2f}")
print(f"overhead_ttft_p50_ms {med(m_ttft) - med(d_ttft):.2f}")
print(f"overhead_e2e_p50_ms {med(m_e2e) - med(d_e2e):.2f}")

dpid = daemon_pid()
c0, s0, h0, t0 = cpu_s(dpid), cpu_s(spid), thread_cpu_s(dpid, "llmfs-http"), time.perf_counter()
by0 = cpu_by_thread(dpid)
g0 = gen_tokens()
peak = [threads(dpid)]
done = threading.Event()


def watch():
    while not done.is_set():
        peak[0] = max(peak[0], threads(dpid))
        time.sleep(0.01)


w = threading.Thread(target=watch)
w.start()
ts = [threading.Thread(target=via_mount, args=(f"c{i}", f"Concurrent {i}: the dog", 128))
      for i in range(64)]
before = threads(dpid)
for t in ts:
    t.start()
for t in ts:
    t.join()
done.set()
w.join()
c1, s1, h1, t1 = cpu_s(dpid), cpu_s(spid), thread_cpu_s(dpid, "llmfs-http"), time.perf_counter()
by1 = cpu_by_thread(dpid)
ntok = max(gen_tokens() - g0, 1)
print(f"concurrent_64_wall_s {t1 - t0:.2f}")
print(f"daemon_cpu_s {c1 - c0:.3f}")
print(f"server_cpu_s {s1 - s0:.3f}")
print(f"daemon_cpu_share_of_server {100 * (c1 - c0) / max(s1 - s0, 1e-9):.2f}%")
print(f"tokens_streamed {ntok}")
print(f"daemon_cpu_us_per_token {1e6 * (c1 - c0) / ntok:.1f}")
print(f"server_cpu_us_per_token {1e6 * (s1 - s0) / ntok:.1f}")
print(f"http_thread_cpu_s {h1 - h0:.3f}")
print(f"http_thread_cpu_share_of_server {100 * (h1 - h0) / max(s1 - s0, 1e-9):.2f}%")
for name in sorted(by1):
    # "llmfs" is libfuse's workers (and the main thread)
    u0, k0 = by0.get(name, (0.0, 0.0))
    print(f"thread_cpu_s[{name}] {by1[name][0] - u0 + by1[name][1] - k0:.3f} "
          f"(user {by1[name][0] - u0:.3f}, system {by1[name][1] - k0:.3f})")
print(f"daemon_threads_before {before}")
print(f"daemon_threads_peak {peak[0]}")
