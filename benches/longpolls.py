#!/usr/bin/env python3
"""Holds N waiting long-polls open on `sesame serve` and reports its memory.

  longpolls.py URL PID N

Generates N challenges (the server must run with --max-pending-per-ip 0 and a --max-pending of
at least N), then opens one connection per challenge with `?wait=25`, so each is a long-poll
waiting for a decision. Once all are sent it reads the server's VmRSS from /proc/PID/status,
before and during, and prints one JSON line: {"n", "rss_before_kb", "rss_waiting_kb",
"per_connection_bytes", "answered_early"}. "answered_early" counts polls that were answered
before the measurement (should be 0: nothing was decided)."""
import asyncio, json, sys, time, urllib.parse, http.client

def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0

def generate(url, n):
    u = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port)
    paths = []
    for _ in range(n):
        conn.request("GET", "/noauth/v1/challenge_generator/alice")
        r = conn.getresponse()
        body = json.loads(r.read())
        if r.status != 200:
            raise SystemExit(f"generator answered {r.status}: {body}")
        paths.append(urllib.parse.urlparse(body["polling_url"]).path)
    return u.hostname, u.port, paths

async def hold(host, port, paths, settle):
    answered = 0
    writers = []
    async def one(path):
        nonlocal answered
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(f"GET {path}?wait=25 HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
        await writer.drain()
        writers.append(writer)
        try:
            await asyncio.wait_for(reader.read(1), timeout=settle)
            answered += 1
        except asyncio.TimeoutError:
            pass
    tasks = [asyncio.create_task(one(p)) for p in paths]
    # Open them in batches, so the listen backlog is not the limit.
    await asyncio.sleep(0)
    return tasks, writers, lambda: answered

async def main():
    url, pid, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    host, port, paths = generate(url, n)
    before = rss_kb(pid)
    tasks, writers, answered = await hold(host, port, paths, 12)
    # Wait until every connection is open and its request sent, then let the server settle.
    t0 = time.monotonic()
    while len(writers) < n and time.monotonic() - t0 < 30:
        await asyncio.sleep(0.2)
    await asyncio.sleep(3)
    waiting = rss_kb(pid)
    print(json.dumps({
        "n": n,
        "opened": len(writers),
        "rss_before_kb": before,
        "rss_waiting_kb": waiting,
        "per_connection_bytes": round((waiting - before) * 1024 / max(len(writers), 1)),
        "answered_early": answered(),
    }), flush=True)
    for w in writers:
        w.close()
    for t in tasks:
        t.cancel()

asyncio.run(main())
