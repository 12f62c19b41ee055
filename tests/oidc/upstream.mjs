// A TLS upstream for `sesame proxy`'s tests: node's https server on an ephemeral loopback port
// with the certificate and key given, and npm `ws` for WebSocket upgrades. Prints {"url": URL}
// on stdout once ready; exits when stdin closes.
//   GET/POST any path   200 {"method", "url", "headers", "body_bytes", "body_sha256", "seen"}
//   GET /slow           the body in 5 chunks, 200 ms apart (streaming back)
//   WebSocket any path  first message {"headers": ...}, then each message echoed
// Usage: node upstream.mjs CERT KEY
import { createServer } from 'node:https';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { WebSocketServer } from 'ws';

const [cert, key] = process.argv.slice(2);
let seen = 0;
const server = createServer({ cert: readFileSync(cert), key: readFileSync(key) }, (req, res) => {
  seen += 1;
  if (req.url === '/slow' || req.url.endsWith('/slow')) {
    res.writeHead(200, { 'content-type': 'text/plain' });
    let n = 0;
    const tick = setInterval(() => {
      res.write(`chunk ${n}\n`);
      n += 1;
      if (n === 5) { clearInterval(tick); res.end(); }
    }, 200);
    return;
  }
  const hash = createHash('sha256');
  let bytes = 0;
  req.on('data', (d) => { bytes += d.length; hash.update(d); });
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'connection': 'keep-alive, x-upstream-hop', 'x-upstream-hop': '1' });
    res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers,
      body_bytes: bytes, body_sha256: hash.digest('hex'), seen }));
  });
});
const wss = new WebSocketServer({ server });
wss.on('connection', (ws, req) => {
  seen += 1;
  ws.send(JSON.stringify({ headers: req.headers, url: req.url }));
  ws.on('message', (m) => ws.send(`echo: ${m}`));
});
server.listen(0, '127.0.0.1', () => {
  console.log(JSON.stringify({ url: `https://127.0.0.1:${server.address().port}` }));
});
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
