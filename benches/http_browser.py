#!/usr/bin/env python3
"""A "browser" for benches/latency.sh that does with plain HTTP what a browser does.

sesame runs it as $BROWSER with the approval URL. It GETs the approval page, takes the nonce
from the form, waits BENCH_DELAY_MS (the person reading the page), writes a CLOCK_MONOTONIC
timestamp in ns to BENCH_T0_FILE, POSTs the form with decision=approve and follows the 303 to
sesame's loopback callback, whose page arrives once the terminal has the session. It then writes
"<ns when the callback page arrived> <the page's #result text>" to BENCH_RESULT_FILE.

Standard library only; talks to 127.0.0.1 only (the URLs sesame and the server hand it).
"""

import os
import re
import sys
import time
import urllib.parse
import urllib.request


def now_ns() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def write(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main() -> int:
    url = sys.argv[1]
    host = urllib.parse.urlsplit(url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"http_browser: refusing non-loopback URL {url}", file=sys.stderr)
        return 2
    result_file = os.environ["BENCH_RESULT_FILE"]
    try:
        # No proxies, whatever the environment says: everything here is on loopback.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(url, timeout=30) as r:
            page = r.read().decode()
        nonce = re.search(r'name="nonce" value="([^"]*)"', page).group(1)
        action = re.search(r'<form method="post" action="([^"]*)"', page).group(1)
        time.sleep(int(os.environ.get("BENCH_DELAY_MS", "0")) / 1000)
        body = urllib.parse.urlencode({"nonce": nonce, "decision": "approve"}).encode()
        t0 = now_ns()
        write(os.environ["BENCH_T0_FILE"], str(t0))
        # urllib follows the 303 with a GET, as a browser does.
        with opener.open(urllib.parse.urljoin(url, action), data=body, timeout=30) as r:
            page = r.read().decode()
            final = r.geturl()
        t_page = now_ns()
        m = re.search(r'id="result">([^<]*)<', page)
        result = m.group(1) if m else "no #result"
        write(result_file, f"{t_page} {final} {result}")
    except Exception as e:  # noqa: BLE001 - the driver reports whatever went wrong
        write(result_file, f"0 error {type(e).__name__}: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
