// A WebSocket client (npm `ws`) for `sesame proxy`'s tests: connects to URL, prints the first
// message, sends "hello", prints the echo, and exits 0; exits 1 on any error or after 10 s.
// Usage: node ws_client.mjs URL
import WebSocket from 'ws';

const ws = new WebSocket(process.argv[2]);
const timer = setTimeout(() => { console.error('timed out'); process.exit(1); }, 10000);
let got = 0;
ws.on('message', (m) => {
  console.log(String(m));
  got += 1;
  if (got === 1) ws.send('hello');
  else { clearTimeout(timer); ws.close(); process.exit(0); }
});
ws.on('error', (e) => { console.error(`error: ${e.message}`); process.exit(1); });
ws.on('unexpected-response', (req, res) => { console.error(`HTTP ${res.statusCode}`); process.exit(1); });
