#!/usr/bin/env node
// $BROWSER for the forged-state test (run as `node forge_state.mjs URL`): before the real
// "browser" (drive.mjs) completes the login, an attacker's page delivers callbacks to the
// loopback redirect_uri taken from the authorization URL: one with a forged state and a code,
// one with no state and error=access_denied. Each HTTP status is appended to $FORGE_RESULT
// (one line per request: "<label> <status>"); then drive.mjs runs with the same URL and this
// script exits with its exit code.

import { spawnSync } from 'node:child_process';
import { appendFileSync } from 'node:fs';

const authUrl = new URL(process.argv[2]);
const redirect = authUrl.searchParams.get('redirect_uri');
const resultFile = process.env.FORGE_RESULT;

async function forge(label, params) {
  let outcome;
  try {
    const target = new URL(redirect);
    for (const [k, v] of Object.entries(params)) target.searchParams.set(k, v);
    const res = await fetch(target, { redirect: 'manual', signal: AbortSignal.timeout(10000) });
    await res.text();
    outcome = String(res.status);
  } catch (err) {
    outcome = `error:${err.cause?.code || err.message}`;
  }
  appendFileSync(resultFile, `${label} ${outcome}\n`);
}

if (!redirect) {
  appendFileSync(resultFile, 'no-redirect-uri 0\n');
} else {
  await forge('forged-state', { code: 'forged-code', state: 'forged-state' });
  await forge('no-state', { error: 'access_denied' });
}
const drive = spawnSync(process.execPath, [process.env.DRIVE_SCRIPT, process.argv[2]], { stdio: 'inherit' });
process.exit(drive.status ?? 1);
