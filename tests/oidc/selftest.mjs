#!/usr/bin/env node
// End-to-end check of provider.mjs + drive.mjs, as a client (sesame) would use
// them. Run `npm ci` first, then `node selftest.mjs`; exits 0 when all pass and
// prints "N passed, M failed" as its last line.

import { spawn } from 'node:child_process';
import {
  createHash, createPublicKey, randomBytes, verify,
} from 'node:crypto';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

const here = (name) => fileURLToPath(new URL(name, import.meta.url));
const CLIENT_ID = 'sesame-cli';
const RESOURCE = 'urn:sesame:api';
const ACCESS_TTL = 120;

let passed = 0;
let failed = 0;
async function check(name, fn) {
  try {
    await fn();
    passed += 1;
    console.log(`ok - ${name}`);
  } catch (err) {
    failed += 1;
    console.log(`not ok - ${name}\n  ${String(err?.stack || err).replaceAll('\n', '\n  ')}`);
  }
}

// ---------------------------------------------------------------- helpers ---
const b64u = (buf) => Buffer.from(buf).toString('base64url');

function startProvider(env = {}) {
  const child = spawn(process.execPath, [here('provider.mjs')], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const lines = createInterface({ input: child.stdout });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`provider did not start: ${stderr}`)), 10000);
    child.once('exit', (code) => reject(new Error(`provider exited ${code}: ${stderr}`)));
    lines.once('line', (line) => {
      clearTimeout(timer);
      resolve({ child, issuer: JSON.parse(line).issuer, stderr: () => stderr, lines });
    });
  });
}

function runDrive(url, env = {}) {
  const child = spawn(process.execPath, [here('drive.mjs'), url], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  return new Promise((resolve) => {
    child.on('exit', (code) => resolve({ code, output }));
  });
}

// A one-shot loopback redirect_uri receiver, like the CLI's.
async function callbackServer() {
  let resolveHit;
  const hit = new Promise((r) => { resolveHit = r; });
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('sesame: you can close this window');
    resolveHit(url);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  return {
    port, redirectUri: `http://127.0.0.1:${port}/callback`, hit, close: () => server.close(),
  };
}

async function postForm(url, form) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams(form),
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, json, text, headers: res.headers };
}

function decodeJwt(jwt) {
  const [h, p, s] = jwt.split('.');
  assert.ok(s !== undefined, `not a JWS: ${jwt}`);
  return {
    header: JSON.parse(Buffer.from(h, 'base64url')),
    payload: JSON.parse(Buffer.from(p, 'base64url')),
    signingInput: `${h}.${p}`,
    signature: Buffer.from(s, 'base64url'),
  };
}

function verifyJwt(jwt, jwks) {
  const t = decodeJwt(jwt);
  assert.equal(t.header.alg, 'RS256');
  const jwk = jwks.keys.find((k) => k.kid === t.header.kid);
  assert.ok(jwk, `kid ${t.header.kid} not in jwks`);
  const key = createPublicKey({ key: jwk, format: 'jwk' });
  assert.ok(verify('RSA-SHA256', Buffer.from(t.signingInput), key, t.signature), 'bad signature');
  return t;
}

function pkce() {
  const verifier = b64u(randomBytes(32));
  const challenge = b64u(createHash('sha256').update(verifier).digest());
  return { verifier, challenge };
}

function authUrl(disc, redirectUri, extra = {}) {
  const p = pkce();
  const state = b64u(randomBytes(12));
  const nonce = b64u(randomBytes(12));
  const url = new URL(disc.authorization_endpoint);
  const params = {
    client_id: CLIENT_ID,
    response_type: 'code',
    redirect_uri: redirectUri,
    scope: 'openid offline_access profile email',
    prompt: 'consent',
    state,
    nonce,
    code_challenge: p.challenge,
    code_challenge_method: 'S256',
    ...extra,
  };
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, v);
  return {
    url: url.href, state, nonce, verifier: p.verifier,
  };
}

async function codeFlow(disc, { user = 'alice', extra = {}, action = 'approve' } = {}) {
  const cb = await callbackServer();
  try {
    const req = authUrl(disc, cb.redirectUri, extra);
    const drive = await runDrive(req.url, { OIDC_DRIVE_USER: user, OIDC_DRIVE_ACTION: action });
    assert.equal(drive.code, 0, `drive.mjs failed:\n${drive.output}`);
    const hit = await Promise.race([cb.hit, new Promise((_, rej) => setTimeout(() => rej(new Error('no callback')), 2000))]);
    assert.match(drive.output, /callback response status: 200/);
    return { req, hit, redirectUri: cb.redirectUri };
  } finally {
    cb.close();
  }
}

async function exchange(disc, flow) {
  return postForm(disc.token_endpoint, {
    grant_type: 'authorization_code',
    code: flow.hit.searchParams.get('code'),
    redirect_uri: flow.redirectUri,
    client_id: CLIENT_ID,
    code_verifier: flow.req.verifier,
  });
}

function checkAccessToken(at, jwks, issuer, sub) {
  const t = verifyJwt(at, jwks);
  assert.equal(t.header.typ, 'at+jwt');
  assert.equal(t.payload.iss, issuer);
  assert.equal(t.payload.aud, RESOURCE);
  assert.equal(t.payload.sub, sub);
  assert.equal(t.payload.client_id, CLIENT_ID);
  assert.equal(typeof t.payload.exp, 'number');
  assert.ok(Math.abs(t.payload.exp - t.payload.iat - ACCESS_TTL) <= 1, `exp-iat != ${ACCESS_TTL}`);
  return t;
}

// ------------------------------------------------------------------- main ---
const prov = await startProvider({
  OIDC_ACCESS_TTL: String(ACCESS_TTL),
  OIDC_DEVICE_INTERVAL: '1',
  OIDC_EXIT_ON_STDIN_EOF: '1',
});
const { issuer } = prov;
console.log(`# provider at ${issuer}`);
let disc;
let jwks;
let codeTokens;

try {
  await check('stdout carries exactly one JSON line', async () => {
    assert.match(issuer, /^http:\/\/127\.0\.0\.1:\d+$/);
    let extra = '';
    prov.lines.on('line', (l) => { extra += l; });
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(extra, '');
  });

  await check('discovery document', async () => {
    const res = await fetch(`${issuer}/.well-known/openid-configuration`);
    assert.equal(res.status, 200);
    disc = await res.json();
    assert.equal(disc.issuer, issuer);
    assert.equal(disc.token_endpoint, `${issuer}/token`);
    assert.equal(disc.authorization_endpoint, `${issuer}/auth`);
    assert.equal(disc.device_authorization_endpoint, `${issuer}/device/auth`);
    assert.equal(disc.jwks_uri, `${issuer}/jwks`);
    assert.equal(disc.revocation_endpoint, `${issuer}/token/revocation`);
    assert.deepEqual(disc.code_challenge_methods_supported, ['S256']);
    assert.ok(disc.grant_types_supported.includes('urn:ietf:params:oauth:grant-type:device_code'));
    assert.ok(disc.grant_types_supported.includes('refresh_token'));
    assert.deepEqual(disc.id_token_signing_alg_values_supported, ['RS256']);
  });

  await check('jwks publishes one RS256 key', async () => {
    jwks = await (await fetch(disc.jwks_uri)).json();
    assert.equal(jwks.keys.length, 1);
    assert.equal(jwks.keys[0].kty, 'RSA');
    assert.equal(jwks.keys[0].alg, 'RS256');
    assert.equal(jwks.keys[0].d, undefined, 'private part published!');
  });

  await check('authorization code + PKCE flow via drive.mjs, loopback redirect on any port', async () => {
    const flow = await codeFlow(disc);
    const q = flow.hit.searchParams;
    assert.equal(flow.hit.pathname, '/callback');
    assert.equal(q.get('state'), flow.req.state);
    assert.equal(q.get('iss'), issuer);
    assert.ok(q.get('code'));
    const res = await exchange(disc, flow);
    assert.equal(res.status, 200, res.text);
    const body = res.json;
    assert.equal(body.token_type, 'Bearer');
    assert.equal(body.expires_in, ACCESS_TTL);
    assert.ok(body.refresh_token);
    assert.deepEqual(new Set(body.scope.split(' ')), new Set(['openid', 'offline_access', 'profile', 'email']));
    checkAccessToken(body.access_token, jwks, issuer, 'alice');
    const id = verifyJwt(body.id_token, jwks);
    assert.equal(id.payload.iss, issuer);
    assert.equal(id.payload.aud, CLIENT_ID);
    assert.equal(id.payload.sub, 'alice');
    assert.equal(id.payload.nonce, flow.req.nonce);
    assert.equal(id.payload.email, 'alice@example.test');
    assert.equal(id.payload.email_verified, true);
    assert.equal(id.payload.exp - id.payload.iat, 3600);
    codeTokens = body;
  });

  await check('authorization code cannot be redeemed twice', async () => {
    const flow = await codeFlow(disc, { user: 'carol' });
    assert.equal((await exchange(disc, flow)).status, 200);
    const again = await exchange(disc, flow);
    assert.equal(again.status, 400);
    assert.equal(again.json.error, 'invalid_grant');
  });

  await check('wrong code_verifier is rejected', async () => {
    const flow = await codeFlow(disc);
    flow.req.verifier = pkce().verifier;
    const res = await exchange(disc, flow);
    assert.equal(res.status, 400);
    assert.equal(res.json.error, 'invalid_grant');
  });

  await check('refresh rotates, reuse of an old refresh token -> invalid_grant and grant revoked', async () => {
    const r1 = await postForm(disc.token_endpoint, {
      grant_type: 'refresh_token', refresh_token: codeTokens.refresh_token, client_id: CLIENT_ID,
    });
    assert.equal(r1.status, 200, r1.text);
    assert.ok(r1.json.refresh_token);
    assert.notEqual(r1.json.refresh_token, codeTokens.refresh_token);
    assert.ok(r1.json.id_token);
    checkAccessToken(r1.json.access_token, jwks, issuer, 'alice');

    const reuse = await postForm(disc.token_endpoint, {
      grant_type: 'refresh_token', refresh_token: codeTokens.refresh_token, client_id: CLIENT_ID,
    });
    assert.equal(reuse.status, 400);
    assert.deepEqual(reuse.json, { error: 'invalid_grant', error_description: 'grant request is invalid' });
    console.log(`# reuse response: ${reuse.status} ${reuse.text}`);

    const after = await postForm(disc.token_endpoint, {
      grant_type: 'refresh_token', refresh_token: r1.json.refresh_token, client_id: CLIENT_ID,
    });
    assert.equal(after.status, 400, 'rotated successor should be revoked too');
    assert.equal(after.json.error, 'invalid_grant');
  });

  await check('no prompt=consent: offline_access dropped from scope, refresh token still issued', async () => {
    const flow = await codeFlow(disc, { user: 'bob', extra: { prompt: undefined } });
    const res = await exchange(disc, flow);
    assert.equal(res.status, 200, res.text);
    assert.ok(!res.json.scope.split(' ').includes('offline_access'));
    assert.ok(res.json.refresh_token);
    checkAccessToken(res.json.access_token, jwks, issuer, 'bob');
  });

  await check('explicit resource=urn:sesame:api works too; unknown resource -> invalid_target', async () => {
    const flow = await codeFlow(disc, { extra: { resource: RESOURCE } });
    const res = await postForm(disc.token_endpoint, {
      grant_type: 'authorization_code',
      code: flow.hit.searchParams.get('code'),
      redirect_uri: flow.redirectUri,
      client_id: CLIENT_ID,
      code_verifier: flow.req.verifier,
      resource: RESOURCE,
    });
    assert.equal(res.status, 200, res.text);
    checkAccessToken(res.json.access_token, jwks, issuer, 'alice');

    const cb = await callbackServer();
    try {
      const bad = authUrl(disc, cb.redirectUri, { resource: 'https://other.example.test' });
      const r = await fetch(bad.url, { redirect: 'manual' });
      const loc = new URL(r.headers.get('location'));
      assert.equal(loc.origin + loc.pathname, cb.redirectUri);
      assert.equal(loc.searchParams.get('error'), 'invalid_target');
    } finally {
      cb.close();
    }
  });

  await check('authorization request without PKCE -> redirect with invalid_request', async () => {
    const u = new URL(authUrl(disc, 'http://127.0.0.1:40000/callback').url);
    u.searchParams.delete('code_challenge');
    u.searchParams.delete('code_challenge_method');
    const r = await fetch(u, { redirect: 'manual' });
    assert.equal(r.status, 303);
    const loc = new URL(r.headers.get('location'));
    assert.equal(loc.port, '40000');
    assert.equal(loc.searchParams.get('error'), 'invalid_request');
    assert.match(loc.searchParams.get('error_description'), /PKCE/);
  });

  await check('unregistered redirect_uri path -> error page, no redirect', async () => {
    const r = await fetch(authUrl(disc, 'http://127.0.0.1:40000/elsewhere').url, { redirect: 'manual' });
    assert.equal(r.status, 400);
    assert.match(await r.text(), /invalid_redirect_uri/);
  });

  await check('localhost loopback redirect on any port is accepted', async () => {
    const r = await fetch(authUrl(disc, 'http://localhost:40001/callback').url, { redirect: 'manual' });
    assert.equal(r.status, 303);
    assert.match(r.headers.get('location'), /^\/interaction\//);
  });

  await check('deny at login -> callback error=access_denied with state', async () => {
    const flow = await codeFlow(disc, { action: 'deny' });
    const q = flow.hit.searchParams;
    assert.equal(q.get('error'), 'access_denied');
    assert.equal(q.get('error_description'), 'End-User aborted interaction');
    assert.equal(q.get('state'), flow.req.state);
    assert.equal(q.get('iss'), issuer);
    assert.equal(q.get('code'), null);
  });

  await check('deny at consent -> callback error=access_denied', async () => {
    const flow = await codeFlow(disc, { action: 'deny-consent' });
    assert.equal(flow.hit.searchParams.get('error'), 'access_denied');
    assert.equal(flow.hit.searchParams.get('state'), flow.req.state);
  });

  async function deviceStart(scope = 'openid offline_access profile email') {
    const res = await postForm(disc.device_authorization_endpoint, { client_id: CLIENT_ID, scope });
    assert.equal(res.status, 200, res.text);
    return res.json;
  }
  const pollOnce = (dc) => postForm(disc.token_endpoint, {
    grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
    device_code: dc.device_code,
    client_id: CLIENT_ID,
  });
  async function pollUntilDone(dc) {
    for (let i = 0; i < 20; i += 1) {
      const r = await pollOnce(dc);
      if (!(r.status === 400 && r.json?.error === 'authorization_pending')) return r;
      await new Promise((res) => setTimeout(res, dc.interval * 1000));
    }
    throw new Error('device flow never completed');
  }

  await check('device flow via drive.mjs issues JWT access token, id_token and refresh token', async () => {
    const dc = await deviceStart();
    assert.equal(dc.interval, 1);
    assert.equal(dc.expires_in, 600);
    assert.equal(dc.verification_uri, `${issuer}/device`);
    assert.equal(dc.verification_uri_complete, `${issuer}/device?user_code=${encodeURIComponent(dc.user_code)}`);
    assert.match(dc.user_code, /^[A-Z]{4}-[A-Z]{4}$/);
    const pending = await pollOnce(dc);
    assert.equal(pending.status, 400);
    assert.deepEqual(pending.json, {
      error: 'authorization_pending',
      error_description: 'authorization request is still pending as the end-user hasn\'t yet completed the user interaction steps',
    });
    const drive = await runDrive(dc.verification_uri_complete, { OIDC_DRIVE_USER: 'dave' });
    assert.equal(drive.code, 0, drive.output);
    assert.match(drive.output, /device sign-in success page reached/);
    const r = await pollUntilDone(dc);
    assert.equal(r.status, 200, r.text);
    assert.ok(r.json.refresh_token);
    assert.ok(r.json.scope.split(' ').includes('offline_access'));
    checkAccessToken(r.json.access_token, jwks, issuer, 'dave');
    const id = verifyJwt(r.json.id_token, jwks);
    assert.equal(id.payload.sub, 'dave');
    assert.equal(id.payload.email, 'dave@example.test');
    const refreshed = await postForm(disc.token_endpoint, {
      grant_type: 'refresh_token', refresh_token: r.json.refresh_token, client_id: CLIENT_ID,
    });
    assert.equal(refreshed.status, 200, refreshed.text);
    assert.notEqual(refreshed.json.refresh_token, r.json.refresh_token);
    checkAccessToken(refreshed.json.access_token, jwks, issuer, 'dave');
    // Polling again after success: invalid_grant, and (like authorization code
    // reuse) it revokes everything issued from that device code.
    const again = await pollOnce(dc);
    assert.equal(again.status, 400);
    assert.equal(again.json.error, 'invalid_grant');
    const revoked = await postForm(disc.token_endpoint, {
      grant_type: 'refresh_token', refresh_token: refreshed.json.refresh_token, client_id: CLIENT_ID,
    });
    assert.equal(revoked.json?.error, 'invalid_grant');
  });

  await check('device flow without offline_access still gets a refresh token', async () => {
    const dc = await deviceStart('openid');
    const drive = await runDrive(dc.verification_uri_complete);
    assert.equal(drive.code, 0, drive.output);
    const r = await pollUntilDone(dc);
    assert.equal(r.status, 200, r.text);
    assert.ok(r.json.refresh_token);
  });

  for (const action of ['deny', 'deny-consent']) {
    await check(`device flow ${action} -> token polling gets access_denied`, async () => {
      const dc = await deviceStart();
      const drive = await runDrive(dc.verification_uri_complete, { OIDC_DRIVE_ACTION: action });
      assert.equal(drive.code, 0, drive.output);
      const r = await pollUntilDone(dc);
      assert.equal(r.status, 400, r.text);
      assert.equal(r.json.error, 'access_denied');
      console.log(`# device ${action} response: ${r.text}`);
    });
  }

  await check('drive.mjs exits non-zero on an unexpected page', async () => {
    const d = await runDrive(`${issuer}/device?user_code=NOPE-NOPE`);
    assert.equal(d.code, 2, d.output);
    const e = await runDrive(`${issuer}/auth?client_id=nobody&response_type=code`);
    assert.equal(e.code, 2, e.output);
    assert.match(e.output, /provider error page/);
  });

  await check('revoked refresh token -> invalid_grant', async () => {
    const dc = await deviceStart();
    assert.equal((await runDrive(dc.verification_uri_complete)).code, 0);
    const r = await pollUntilDone(dc);
    const rev = await postForm(disc.revocation_endpoint, {
      token: r.json.refresh_token, token_type_hint: 'refresh_token', client_id: CLIENT_ID,
    });
    assert.equal(rev.status, 200, rev.text);
    const after = await postForm(disc.token_endpoint, {
      grant_type: 'refresh_token', refresh_token: r.json.refresh_token, client_id: CLIENT_ID,
    });
    assert.equal(after.status, 400);
    assert.equal(after.json.error, 'invalid_grant');
  });

  await check('provider exits promptly on SIGTERM', async () => {
    const p = await startProvider();
    const t0 = Date.now();
    p.child.kill('SIGTERM');
    const [code] = await once(p.child, 'exit');
    assert.equal(code, 0);
    assert.ok(Date.now() - t0 < 2000);
  });
} finally {
  prov.child.kill('SIGTERM');
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
