// npm oauth2-mock-server on an ephemeral loopback port, for the direct OAuth grants
// (resource-owner password, client credentials). Prints {"issuer": URL} on stdout once ready;
// logs one JSON line per token request on stderr; exits when stdin closes.
// MOCK_EXPIRES_IN=SECS shortens the tokens' lifetime (exp and expires_in).
import { OAuth2Server } from 'oauth2-mock-server';

const server = new OAuth2Server();
await server.issuer.keys.generate('RS256');
const ttl = process.env.MOCK_EXPIRES_IN ? Number(process.env.MOCK_EXPIRES_IN) : null;

server.service.on('beforeTokenSigning', (token) => {
  if (ttl) token.payload.exp = token.payload.iat + ttl;
  // Distinct tokens even within one second.
  token.payload.jti = crypto.randomUUID();
});
server.service.on('beforeResponse', (response, req) => {
  if (ttl) response.body.expires_in = ttl;
  const b = req.body ?? {};
  console.error(JSON.stringify({
    grant_type: b.grant_type,
    username: b.username,
    client_basic: (req.headers.authorization ?? '').startsWith('Basic '),
    client_id: b.client_id,
    scope: b.scope,
    audience: b.audience,
  }));
});

await server.start(0, '127.0.0.1');
// It names itself localhost; the tests reach it, and check its issuer, by address.
server.issuer.url = `http://127.0.0.1:${server.address().port}`;
console.log(JSON.stringify({ issuer: server.issuer.url }));
process.stdin.resume();
process.stdin.on('end', async () => {
  await server.stop();
  process.exit(0);
});
