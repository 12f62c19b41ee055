#!/usr/bin/env python3
"""Stand-in servers for sesame's integration tests, each accepting only the expected credential.

  auth_server.py git DIR        serves DIR over git's dumb HTTP protocol; HTTP Basic whose
                                password is $EXPECTED_TOKEN, else 401 with a Basic challenge.
  auth_server.py tls CERT KEY   a TLS front for a plain-HTTP server (as nginx in front of
                                `sesame serve`): after printing its URL it reads the backend's
                                HOST:PORT from stdin and relays every connection to it.
  auth_server.py kube CERT KEY  a Kubernetes API server stand-in over https: any GET with
                                `Authorization: Bearer $EXPECTED_TOKEN` gets a small JSON
                                answer, anything else 401 as the real one answers.

Kubernetes' API server and a git smart-HTTP server are too heavy to start in a test; these
answer as the real ones do for the few requests the clients make. Listens on 127.0.0.1 on an
ephemeral port and prints {"url": ...} on stdout; exits when stdin closes."""
import base64, json, os, ssl, sys, threading
from http.server import SimpleHTTPRequestHandler, BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN = os.environ.get("EXPECTED_TOKEN", "")
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

def relay(cert, key):
    import socket
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    print(json.dumps({"url": f"https://127.0.0.1:{listener.getsockname()[1]}"}), flush=True)
    host, _, port = sys.stdin.readline().strip().rpartition(":")

    def pump(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def serve(conn):
        try:
            tls = ctx.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            conn.close()  # the client refused our certificate: what the test checks for
            return
        backend = socket.create_connection((host, int(port)))
        threading.Thread(target=pump, args=(tls, backend), daemon=True).start()
        pump(backend, tls)

    def accept():
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    sys.stdin.read()

def main():
    kind = sys.argv[1]
    if kind == "tls":
        return relay(sys.argv[2], sys.argv[3])
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
