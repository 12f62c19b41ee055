#!/usr/bin/env python3
"""Approve on one replica, login exit on the other.

  replica_latency.py SESAME_BIN URL_A URL_B N

Runs N fresh `sesame login --server URL_A --no-browser` processes (each in its own HOME). Each
waits a random 0.3 to 1.0 s after the challenge URL appears, so its long-poll is waiting on
replica A; the approval is then made through replica B's validator API. The clock starts just
before the approving POST and stops when the login process exits. Prints one JSON line with the
samples in milliseconds, the median and the nearest-rank p95."""
import json, os, random, subprocess, sys, tempfile, time, urllib.request, urllib.parse

def main():
    binary, a, b, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    random.seed(1)
    samples, failures = [], 0
    for _ in range(n):
        home = tempfile.mkdtemp()
        env = {"HOME": home, "XDG_CONFIG_HOME": home + "/c", "XDG_DATA_HOME": home + "/d",
               "PATH": os.environ.get("PATH", ""), "NO_COLOR": "1"}
        p = subprocess.Popen([binary, "login", "--server", a, "--no-browser", "--no-qr", "--user", "alice",
                              "--store", "file", "--timeout", "30"],
                             env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        url = None
        for line in p.stderr:
            if "/challenge_validator/" in line:
                url = line.strip()
                break
        if url is None:
            failures += 1
            p.wait()
            continue
        time.sleep(random.uniform(0.3, 1.0))
        token = url.rsplit("/", 1)[1]
        api = f"{b.rstrip('/')}/api/v2/challenge_validator/{token}"
        nonce = json.load(urllib.request.urlopen(api))["nonce"]
        req = urllib.request.Request(api, data=json.dumps({"nonce": nonce}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        t0 = time.monotonic_ns()
        urllib.request.urlopen(req).read()
        code = p.wait()
        t1 = time.monotonic_ns()
        p.stderr.read()
        if code != 0:
            failures += 1
            continue
        samples.append((t1 - t0) / 1e6)
    s = sorted(samples)
    median = (s[len(s) // 2] if len(s) % 2 else (s[len(s) // 2 - 1] + s[len(s) // 2]) / 2) if s else None
    p95 = s[max(0, -(-95 * len(s) // 100) - 1)] if s else None
    print(json.dumps({"n": n, "failures": failures, "median_ms": median, "p95_ms": p95,
                      "samples_ms": [round(x, 2) for x in samples]}), flush=True)

main()
