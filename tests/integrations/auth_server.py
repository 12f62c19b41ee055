#!/usr/bin/env python3
"""Stand-in servers for sesame's integration tests, each accepting only the expected credential.

  auth_server.py git DIR        serves DIR over git's dumb HTTP protocol; HTTP Basic whose
                                password is $EXPECTED_TOKEN, else 401 with a Basic challenge.
  auth_server.py kube CERT KEY  a Kubernetes API server stand-in over https: any GET with
                                `Authorization: Bearer $EXPECTED_TOKEN` gets a small JSON
                                answer, anything else 401 as the real one answers.

Kubernetes' API server and a git smart-HTTP server are too heavy to start in a test; these
answer as the real ones do for the few requests the clients make. Listens on 127.0.0.1 on an
ephemeral port and prints {"url": ...} on stdout; exits when stdin closes."""
import base64, json, os, ssl, sys, threading
from http.server import SimpleHTTPRequestHandler, BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN = os.environ["EXPECTED_TOKEN"]
LOG = []

class Git(SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        auth = self.headers.get("Authorization", "")
        ok = False
        if auth.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
                ok = password == TOKEN
            except Exception:
                ok = False
        if not ok:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()

class Kube(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        if self.headers.get("Authorization", "") != "Bearer " + TOKEN:
            body = json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                               "message": "Unauthorized", "reason": "Unauthorized", "code": 401}).encode()
            self.send_response(401)
        else:
            body = json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Success",
                               "message": "stand-in API server: authenticated", "path": self.path}).encode()
            self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

def main():
    kind = sys.argv[1]
    if kind == "git":
        directory = sys.argv[2]
        handler = lambda *a, **k: Git(*a, directory=directory, **k)
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        scheme = "http"
    else:
        server = ThreadingHTTPServer(("127.0.0.1", 0), Kube)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[2], sys.argv[3])
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(json.dumps({"url": f"{scheme}://127.0.0.1:{server.server_address[1]}"}), flush=True)
    sys.stdin.read()

main()
