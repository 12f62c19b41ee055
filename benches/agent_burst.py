#!/usr/bin/env python3
"""Part of benches/agent.sh. Bursts of 20 concurrent `sesame token` calls, one burst every
0.25 s for DURATION seconds, against a client-credentials session whose tokens live TTL
seconds (npm oauth2-mock-server, tests/oidc/mock-server.mjs), so that several refreshes fall
inside the bursts. The session is in the keychain of the D-Bus session this runs in
(benches/agent_token.sh starts a throwaway gnome-keyring). First without the agent (each call
reads the keychain, and a call that finds the token due refreshes it under the profile's lock
while the others wait), then with `sesame agent` (which refreshes ahead). Prints, per mode: calls, median, p95 and slowest call,
and the token requests the provider saw.

Usage: agent_burst.py SESAME_BIN [DURATION [TTL]]"""
import json, os, statistics, subprocess, sys, tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = sys.argv[1]
DURATION = float(sys.argv[2]) if len(sys.argv) > 2 else 12.0
TTL = int(sys.argv[3]) if len(sys.argv) > 3 else 6
assert 1 <= DURATION <= 600 and 2 <= TTL <= 3600, "DURATION 1..600, TTL 2..3600"

work = tempfile.mkdtemp(prefix="sesame-agent-burst.")
env = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "HOME": f"{work}/home", "XDG_CONFIG_HOME": f"{work}/config", "XDG_DATA_HOME": f"{work}/data",
    "XDG_CACHE_HOME": f"{work}/cache", "XDG_RUNTIME_DIR": f"{work}/run", "NO_COLOR": "1",
    "SESAME_STORE": "keychain", "SESAME_CLIENT_SECRET": "bench-secret",
    "SESAME_PROFILE": "burst",
}
if "DBUS_SESSION_BUS_ADDRESS" in os.environ:  # the keyring of benches/agent_token.sh
    env["DBUS_SESSION_BUS_ADDRESS"] = os.environ["DBUS_SESSION_BUS_ADDRESS"]
for d in ("home", "config", "data", "cache", "run"):
    os.makedirs(f"{work}/{d}", mode=0o700)

mock = subprocess.Popen(["node", f"{ROOT}/tests/oidc/mock-server.mjs"], cwd=f"{ROOT}/tests/oidc",
                        env={**os.environ, "MOCK_EXPIRES_IN": str(TTL)},
                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
grants = []
threading.Thread(target=lambda: [grants.append(json.loads(l)) for l in mock.stderr if l.startswith("{")],
                 daemon=True).start()
issuer = json.loads(mock.stdout.readline())["issuer"]
procs = [mock]
try:
    login = subprocess.run([BIN, "login", "--flow", "client-credentials", "--issuer", issuer,
                            "--client-id", "bench-bot", "--scope", "api", "--remember-secret"],
                           env=env, capture_output=True, text=True, timeout=60)
    assert login.returncode == 0, login.stderr

    def burst_mode(extra_env):
        e = {**env, **extra_env}
        times, failures = [], 0
        lock = threading.Lock()

        def call():
            nonlocal failures
            t = time.perf_counter()
            r = subprocess.run([BIN, "token"], env=e, capture_output=True, timeout=60)
            dt = (time.perf_counter() - t) * 1000
            with lock:
                times.append(dt)
                failures += r.returncode != 0
        before = len(grants)
        end = time.monotonic() + DURATION
        while time.monotonic() < end:
            started = time.monotonic()
            threads = [threading.Thread(target=call) for _ in range(20)]
            for t in threads: t.start()
            for t in threads: t.join()
            time.sleep(max(0.0, 0.25 - (time.monotonic() - started)))
        times.sort()
        return {"calls": len(times), "failed": failures,
                "median_ms": round(statistics.median(times), 1),
                "p95_ms": round(times[int(len(times) * 0.95) - 1], 1),
                "max_ms": round(times[-1], 1),
                "token_requests": len(grants) - before}

    results = {"store": burst_mode({})}
    sock = f"{work}/run/sesame/agent.sock"
    agent = subprocess.Popen([BIN, "agent", "--foreground", "--socket", sock], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    procs.append(agent)
    agent.stdout.readline()
    results["agent"] = burst_mode({"SESAME_AUTH_SOCK": sock})
    print(f"20 concurrent `sesame token` every 0.25 s for {DURATION:g} s; tokens live {TTL} s")
    print(f"{'mode':<6} {'calls':>6} {'failed':>6} {'median':>9} {'p95':>9} {'slowest':>9} {'token requests':>15}")
    for mode, r in results.items():
        print(f"{mode:<6} {r['calls']:>6} {r['failed']:>6} {r['median_ms']:>7} ms {r['p95_ms']:>6} ms "
              f"{r['max_ms']:>6} ms {r['token_requests']:>15}")
    print(json.dumps(results))
finally:
    for p in procs:
        p.terminate()
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
    subprocess.run(["rm", "-rf", work])
