#!/usr/bin/env python3
"""A loopback HTTP proxy that makes sesame's reference server look like plain ConsoleMe.

Usage: no_extensions_proxy.py UPSTREAM_URL

Listens on 127.0.0.1 (ephemeral port), prints its URL as the first line of stdout, and forwards
every request to UPSTREAM_URL (which must be on loopback), except that:
  - the challenge generator's JSON reply loses `extensions` (so sesame neither long-polls nor
    expects the loopback callback), and its challenge_url/polling_url are rewritten to point
    at the proxy;
  - the poller's query string loses `wait` (so a long-poll could not happen anyway).
sesame then falls back to sleeping --poll-interval (default 2 s) between polls, as against
ConsoleMe. Standard library only. Stops on SIGTERM/SIGINT.
"""

import http.client
import http.server
import json
import signal
import sys
import threading
import urllib.parse

GENERATOR = "/noauth/v1/challenge_generator/"
POLLER = "/noauth/v1/challenge_poller/"
HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "proxy-connection",
       "content-length", "host"}


def main() -> None:
    upstream = urllib.parse.urlsplit(sys.argv[1])
    if upstream.hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit(f"no_extensions_proxy: upstream must be on loopback, not {upstream.hostname}")
    up_origin = f"{upstream.scheme}://{upstream.netloc}"
    local = threading.local()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet
            pass

        def conn(self) -> http.client.HTTPConnection:
            c = getattr(local, "conn", None)
            if c is None:
                c = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=60)
                local.conn = c
            return c

        def forward(self) -> None:
            parts = urllib.parse.urlsplit(self.path)
            query = parts.query
            if parts.path.startswith(POLLER):
                query = urllib.parse.urlencode(
                    [(k, v) for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True)
                     if k != "wait"])
            path = parts.path + ("?" + query if query else "")
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
            for attempt in range(2):
                try:
                    c = self.conn()
                    c.request(self.command, path, body=body, headers=headers)
                    r = c.getresponse()
                    data = r.read()
                    break
                except (http.client.HTTPException, OSError):
                    local.conn = None
                    if attempt:
                        raise
            if parts.path.startswith(GENERATOR) and r.status == 200:
                reply = json.loads(data)
                reply.pop("extensions", None)
                me = f"http://{self.headers.get('Host')}"
                for k in ("challenge_url", "polling_url"):
                    if isinstance(reply.get(k), str) and reply[k].startswith(up_origin):
                        reply[k] = me + reply[k][len(up_origin):]
                data = json.dumps(reply).encode()
            self.send_response(r.status, r.reason)
            for k, v in r.getheaders():
                if k.lower() not in HOP:
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = forward
        do_POST = forward

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(f"http://127.0.0.1:{server.server_address[1]}/", flush=True)

    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.serve_forever()


if __name__ == "__main__":
    main()
