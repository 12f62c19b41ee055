#!/usr/bin/env python3
"""Login latency driver for benches/latency.sh: time from the approve request to `sesame login`
exiting with the session stored, N logins per mode.

Usage: login_latency.py --bin SESAME --server URL --proxy URL --n N --out FILE.json

Modes:
  callback  sesame opens $BROWSER = http_browser.py, which GETs the approval page, POSTs the
            form and follows the 303 to the loopback callback (what a browser does).
  long-poll `--no-browser`; this script approves through the JSON validator API.
  polling   as long-poll, but through no_extensions_proxy.py: no extensions, so sesame sleeps
            the default poll interval (2 s) between plain polls, as against ConsoleMe.

Before each approval the approver waits a random 0..BENCH_DELAY_MAX_MS (default 2000, seeded),
like a person reading the page: it puts the approval at a random point of the poll interval
(otherwise plain polling would always be measured right after a poll) and lets a long-poll be in
flight. t0 is taken just before the approve request, t1 when waitpid() returns for sesame;
both CLOCK_MONOTONIC. Only 127.0.0.1 is contacted.
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def now_ns() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def percentile(values, p):
    """Nearest-rank percentile."""
    s = sorted(values)
    k = max(1, -(-len(s) * p // 100))  # ceil(len*p/100)
    return s[int(k) - 1]


def median(values):
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def clean_env(home: str) -> dict:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.path.join(home, "home"),
        "XDG_CONFIG_HOME": os.path.join(home, "config"),
        "XDG_DATA_HOME": os.path.join(home, "data"),
        "XDG_CACHE_HOME": os.path.join(home, "cache"),
        "NO_COLOR": "1",
    }
    for k in ("HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        os.makedirs(env[k], exist_ok=True)
    return env


class Login:
    """A running `sesame login` with its stderr collected on a thread."""

    def __init__(self, argv, env):
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.cond = threading.Condition()
        self.watchdog = threading.Timer(90, self.proc.kill)
        self.watchdog.start()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stderr:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.lines.append(None)
            self.cond.notify_all()

    def line_with(self, needle, timeout=30):
        end = time.monotonic() + timeout
        i = 0
        with self.cond:
            while True:
                while i < len(self.lines):
                    line = self.lines[i]
                    i += 1
                    if line is None:
                        raise RuntimeError("sesame login ended early:\n" + self.stderr())
                    if needle in line:
                        return line.strip()
                left = end - time.monotonic()
                if left <= 0:
                    raise RuntimeError(f"no line with {needle!r} from sesame login")
                self.cond.wait(left)

    def wait(self):
        """Blocking waitpid (Popen.wait with a timeout polls in 50 ms steps: too coarse)."""
        rc = self.proc.wait()
        t1 = now_ns()
        self.watchdog.cancel()
        return rc, t1

    def stderr(self):
        with self.cond:
            return "\n".join(l for l in self.lines if l is not None)


def approve_via_api(challenge_url: str, delay_ms: int) -> int:
    token = urllib.parse.urlsplit(challenge_url).path.rstrip("/").rsplit("/", 1)[-1]
    api = urllib.parse.urljoin(challenge_url, f"/api/v2/challenge_validator/{token}")
    with OPENER.open(api, timeout=30) as r:
        nonce = json.load(r)["nonce"]
    time.sleep(delay_ms / 1000)
    req = urllib.request.Request(api, data=json.dumps({"nonce": nonce}).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    t0 = now_ns()
    with OPENER.open(req, timeout=30) as r:
        r.read()
    return t0


def run_mode(mode, args, rng, work):
    home = tempfile.mkdtemp(prefix=f"{mode}-", dir=work)
    env = clean_env(home)
    server = args.proxy if mode == "polling" else args.server
    argv = [args.bin, "login", "--server", server, "--user", "alice", "--store", "file",
            "--no-qr", "--timeout", "60"]
    if mode == "callback":
        wrapper = os.path.join(home, "browser.sh")
        with open(wrapper, "w") as f:
            f.write(f'#!/bin/sh\nexec "{sys.executable}" "{HERE}/http_browser.py" "$1"\n')
        os.chmod(wrapper, 0o755)
        env["BROWSER"] = wrapper
    else:
        argv.append("--no-browser")
    samples, page_samples, failures = [], [], []
    for i in range(args.n):
        delay = rng.randrange(args.delay_max_ms) if args.delay_max_ms > 0 else 0
        t0_file = os.path.join(home, "t0")
        result_file = os.path.join(home, "result")
        session = os.path.join(env["XDG_DATA_HOME"], "sesame/sessions/default.json")
        for f in (t0_file, result_file, session):
            if os.path.exists(f):
                os.remove(f)
        run_env = dict(env, BENCH_DELAY_MS=str(delay), BENCH_T0_FILE=t0_file,
                       BENCH_RESULT_FILE=result_file)
        login = Login(argv, run_env)
        problem = None
        if mode == "callback":
            rc, t1 = login.wait()
            # The browser reads its page and writes the result just after sesame exits.
            end = time.monotonic() + 10
            while not os.path.exists(result_file) and time.monotonic() < end:
                time.sleep(0.01)
            if not os.path.exists(t0_file) or not os.path.exists(result_file):
                raise RuntimeError(f"{mode} #{i}: the browser did not finish (exit {rc}):\n"
                                   + login.stderr())
            t0 = int(open(t0_file).read())
            t_page, final, result = open(result_file).read().split(" ", 2)
            if result != "Signed in as alice" or "/callback?" not in final:
                problem = f"the browser ended at {final} with {result!r}"
            else:
                page_samples.append((int(t_page) - t0) / 1e6)
        else:
            url = login.line_with("/challenge_validator/")
            t0 = approve_via_api(url, delay)
            rc, t1 = login.wait()
        if rc != 0:
            problem = f"sesame login exited {rc}" + (f"; {problem}" if problem else "")
        elif not os.path.exists(session):
            problem = "no session stored"
        ms = (t1 - t0) / 1e6
        if problem:
            # A failed login is no latency figure; it is counted and reported instead.
            last = [l for l in login.stderr().splitlines() if l.startswith("error:")]
            failures.append({"run": i + 1, "problem": problem, "error": last[-1] if last else ""})
            print(f"  {mode:9} #{i + 1:<3} FAILED after {ms:.1f} ms: {problem}; "
                  f"{last[-1] if last else ''}", flush=True)
            if len(failures) > max(3, args.n // 2):
                raise RuntimeError(f"{mode}: too many failed logins, stopping:\n" + login.stderr())
            continue
        samples.append(ms)
        print(f"  {mode:9} #{i + 1:<3} delay {delay:4d} ms  latency {ms:8.1f} ms", flush=True)
    shutil.rmtree(home, ignore_errors=True)
    if not samples:
        raise RuntimeError(f"{mode}: no login succeeded")
    out = {"mode": mode, "n": len(samples), "failed": len(failures), "failures": failures,
           "samples_ms": samples,
           "median_ms": median(samples), "p95_ms": percentile(samples, 95),
           "min_ms": min(samples), "max_ms": max(samples)}
    if page_samples:
        out["browser_page_median_ms"] = median(page_samples)
        out["browser_page_p95_ms"] = percentile(page_samples, 95)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--server", required=True)
    ap.add_argument("--proxy", required=True)
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--modes", default="callback,long-poll,polling")
    ap.add_argument("--delay-max-ms", type=int,
                    default=int(os.environ.get("BENCH_DELAY_MAX_MS", "2000")))
    ap.add_argument("--seed", type=int, default=int(os.environ.get("BENCH_SEED", "1")))
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    if not 1 <= args.n <= 1000:
        sys.exit("N must be between 1 and 1000")
    rng = random.Random(args.seed)
    work = tempfile.mkdtemp(prefix="sesame-latency-")
    try:
        results = [run_mode(m, args, rng, work) for m in args.modes.split(",")]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
