#!/usr/bin/env node
// $BROWSER for browser-flow tests against a fake (wiremock) provider, run as
// `node fake_browser.mjs URL`: records the authorization request's nonce, state and
// redirect_uri as JSON in $FAKE_BROWSER_OUT (written before the callback, so the fake token
// endpoint can read the nonce), then delivers `code=fake-code` with the right state to the
// loopback redirect_uri, plus $FAKE_CALLBACK_EXTRA (a query string, e.g. `iss=https://x`).
// Appends the callback's HTTP status to $FAKE_BROWSER_OUT.status.

import { appendFileSync, writeFileSync } from 'node:fs';

const auth = new URL(process.argv[2]);
const q = auth.searchParams;
const out = process.env.FAKE_BROWSER_OUT;
writeFileSync(out, JSON.stringify({
  nonce: q.get('nonce'),
  state: q.get('state'),
  redirect_uri: q.get('redirect_uri'),
  code_challenge: q.get('code_challenge'),
  code_challenge_method: q.get('code_challenge_method'),
}));
const target = new URL(q.get('redirect_uri'));
target.searchParams.set('code', 'fake-code');
target.searchParams.set('state', q.get('state'));
for (const [k, v] of new URLSearchParams(process.env.FAKE_CALLBACK_EXTRA || '')) {
  target.searchParams.set(k, v);
}
let status;
try {
  const res = await fetch(target, { redirect: 'manual', signal: AbortSignal.timeout(25000) });
  await res.text();
  status = String(res.status);
} catch (err) {
  status = `error:${err.cause?.code || err.message}`;
}
appendFileSync(`${out}.status`, `${status}\n`);
