#!/usr/bin/env node
// Headless "browser" for sesame's integration tests: completes the login and
// consent pages of provider.mjs (oidc-provider's dev interactions) with plain
// HTTP requests.
//
//   node drive.mjs URL          (or BROWSER=/abs/path/drive.mjs, it is executable)
//
// URL is either
//   a) an authorization request (…/auth?…): it follows redirects, logs in,
//      consents, and when the provider redirects to a URL outside the provider
//      (the client's loopback redirect_uri, e.g. http://127.0.0.1:PORT/callback?code=…)
//      it GETs that URL like a browser would, prints the response status and
//      body to stderr and exits 0;
//   b) a device verification URL (verification_uri_complete, …/device?user_code=…):
//      it confirms the code, logs in, consents and exits 0 on the
//      "Sign-in Success" page.
//
// Environment:
//   OIDC_DRIVE_USER        login name (default alice); any password is used
//   OIDC_DRIVE_ACTION      approve (default)
//                          deny          abort at the first page that offers it
//                                        (login page, or the device confirmation
//                                        page) -> error=access_denied
//                          deny-consent  log in, then abort at the consent page
//   OIDC_DRIVE_LOG         file to append a log of what it did (useful when the
//                          caller discards stdout/stderr, as the webbrowser crate
//                          does for $BROWSER)
//   OIDC_DRIVE_TIMEOUT_MS  overall deadline (default 20000)
//
// Exit codes: 0 done (callback reached, device success page, or device flow
// aborted as asked); 1 usage; 2 unexpected page/response or error page;
// 3 the callback URL could not be fetched; 4 timeout.

import { appendFileSync } from 'node:fs';

const ACTIONS = new Set(['approve', 'deny', 'deny-consent']);
const USER = process.env.OIDC_DRIVE_USER || 'alice';
const ACTION = process.env.OIDC_DRIVE_ACTION || 'approve';
const LOG_FILE = process.env.OIDC_DRIVE_LOG;
const TIMEOUT_MS = Number(process.env.OIDC_DRIVE_TIMEOUT_MS || 20000);
const MAX_STEPS = 40;

function log(line) {
  const text = `drive.mjs[${process.pid}]: ${line}`;
  process.stderr.write(`${text}\n`);
  if (LOG_FILE) {
    try {
      appendFileSync(LOG_FILE, `${new Date().toISOString()} ${text}\n`);
    } catch {
      // logging must never break the flow
    }
  }
}

function finish(code, line) {
  log(line);
  process.exit(code);
}

if (process.argv.length !== 3 || !/^https?:\/\//.test(process.argv[2])) {
  finish(1, `usage: drive.mjs URL (got ${JSON.stringify(process.argv.slice(2))})`);
}
if (!ACTIONS.has(ACTION)) {
  finish(1, `OIDC_DRIVE_ACTION must be one of ${[...ACTIONS].join(', ')}, got ${JSON.stringify(ACTION)}`);
}

const startUrl = new URL(process.argv[2]);
const providerOrigin = startUrl.origin;
const deadline = Date.now() + TIMEOUT_MS;
setTimeout(() => finish(4, `timed out after ${TIMEOUT_MS} ms`), TIMEOUT_MS).unref();

// ---------------------------------------------------------------- cookies ---
// Minimal RFC 6265 jar: host-only cookies, path matching, expiry/deletion.
const jar = new Map(); // `${host}\0${path}\0${name}` -> { host, path, name, value, expires }

function defaultPath(url) {
  const p = url.pathname;
  if (!p.startsWith('/') || p.lastIndexOf('/') === 0) return '/';
  return p.slice(0, p.lastIndexOf('/'));
}

function storeCookies(url, response) {
  for (const header of response.headers.getSetCookie()) {
    const [pair, ...attrs] = header.split(';');
    const eq = pair.indexOf('=');
    if (eq < 1) continue;
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    let path = defaultPath(url);
    let expires;
    for (const attr of attrs) {
      const i = attr.indexOf('=');
      const key = (i === -1 ? attr : attr.slice(0, i)).trim().toLowerCase();
      const val = i === -1 ? '' : attr.slice(i + 1).trim();
      if (key === 'path' && val.startsWith('/')) path = val;
      else if (key === 'max-age' && /^-?\d+$/.test(val)) expires = Date.now() + Number(val) * 1000;
      else if (key === 'expires' && expires === undefined) {
        const t = Date.parse(val);
        if (!Number.isNaN(t)) expires = t;
      }
    }
    const key = `${url.hostname}\0${path}\0${name}`;
    if (expires !== undefined && expires <= Date.now()) jar.delete(key);
    else jar.set(key, { host: url.hostname, path, name, value, expires });
  }
}

function cookieHeader(url) {
  const now = Date.now();
  const matching = [...jar.values()].filter((c) => c.host === url.hostname
    && (c.expires === undefined || c.expires > now)
    && (url.pathname === c.path
      || url.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`)));
  matching.sort((a, b) => b.path.length - a.path.length);
  return matching.map((c) => `${c.name}=${c.value}`).join('; ');
}

// ------------------------------------------------------------------- http ---
async function send(method, url, form) {
  const headers = {
    'user-agent': 'sesame-test-drive/1 (headless)',
    accept: 'text/html,application/xhtml+xml,*/*;q=0.8',
  };
  const cookies = cookieHeader(url);
  if (cookies) headers.cookie = cookies;
  let body;
  if (form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(form).toString();
  }
  const remaining = Math.max(1, deadline - Date.now());
  const response = await fetch(url, {
    method,
    headers,
    body,
    redirect: 'manual',
    signal: AbortSignal.timeout(remaining),
  });
  storeCookies(url, response);
  const text = await response.text();
  log(`${method} ${url.href} -> ${response.status}`);
  return { status: response.status, headers: response.headers, text };
}

// ------------------------------------------------------------------- html ---
function decodeEntities(s) {
  return s.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (m, e) => {
    const lower = e.toLowerCase();
    if (lower.startsWith('#x')) return String.fromCodePoint(parseInt(lower.slice(2), 16));
    if (lower.startsWith('#')) return String.fromCodePoint(parseInt(lower.slice(1), 10));
    return {
      amp: '&', lt: '<', gt: '>', quot: '"', apos: "'",
    }[lower];
  });
}

function attributes(tag) {
  const out = {};
  const re = /([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;
  const inner = tag.replace(/^<\s*[a-z]+/i, '').replace(/\/?>$/, '');
  for (const m of inner.matchAll(re)) {
    out[m[1].toLowerCase()] = decodeEntities(m[2] ?? m[3] ?? m[4] ?? '');
  }
  return out;
}

function parseForms(html) {
  const forms = [];
  for (const m of html.matchAll(/<form\b[^>]*>([\s\S]*?)<\/form>/gi)) {
    const attrs = attributes(m[0].match(/<form\b[^>]*>/i)[0]);
    const inputs = [...m[1].matchAll(/<input\b[^>]*>/gi)].map((i) => attributes(i[0]));
    forms.push({
      id: attrs.id,
      action: attrs.action,
      method: (attrs.method || 'get').toUpperCase(),
      inputs,
    });
  }
  return forms;
}

function hiddenFields(form) {
  const fields = {};
  for (const input of form.inputs) {
    if ((input.type || 'text').toLowerCase() === 'hidden' && input.name) {
      fields[input.name] = input.value ?? '';
    }
  }
  return fields;
}

function title(html) {
  return decodeEntities(html.match(/<title>([\s\S]*?)<\/title>/i)?.[1]?.trim() ?? '');
}

function snippet(html) {
  return html.replace(/<style[\s\S]*?<\/style>/gi, '').replace(/<[^>]+>/g, ' ')
    .replace(/\s+/g, ' ').trim().slice(0, 400);
}

// ------------------------------------------------------------------- flow ---
const offProvider = (url) => url.origin !== providerOrigin;

async function deliverCallback(method, url, form) {
  if (!/^https?:$/.test(url.protocol)) {
    finish(0, `redirected to non-http redirect URI ${url.href}; handing off (done)`);
  }
  const params = form ? new URLSearchParams(form) : url.searchParams;
  log(`callback (${params.has('error') ? `error=${params.get('error')}` : 'success'}): ${method} ${form ? `${url.href} ${params}` : url.href}`);
  let res;
  try {
    res = await send(method, url, form);
  } catch (err) {
    finish(3, `could not reach callback ${url.origin}${url.pathname}: ${err.cause?.code || err.message}`);
  }
  process.stderr.write(`callback response status: ${res.status}\n${res.text}\n`);
  if (LOG_FILE) log(`callback response body: ${res.text.slice(0, 2000)}`);
  finish(0, `done: callback answered ${res.status}`);
}

const abortHref = (html, base) => {
  const m = html.match(/href="([^"]*\/interaction\/[^"/]+\/abort)"/);
  return m ? new URL(decodeEntities(m[1]), base) : undefined;
};

let method = 'GET';
let url = startUrl;
let formData;
let loggedIn = false;

for (let step = 0; step < MAX_STEPS; step += 1) {
  let res;
  try {
    res = await send(method, url, formData);
  } catch (err) {
    if (err.name === 'TimeoutError') finish(4, `timed out after ${TIMEOUT_MS} ms at ${method} ${url.href}`);
    finish(2, `request ${method} ${url.href} failed: ${err.cause?.code || err.message}`);
  }

  if (res.status >= 300 && res.status < 400 && res.headers.get('location')) {
    const next = new URL(res.headers.get('location'), url);
    if (offProvider(next)) await deliverCallback('GET', next);
    method = 'GET';
    url = next;
    formData = undefined;
    continue;
  }

  const html = res.text;
  const forms = parseForms(html);
  const pageTitle = title(html);
  const byPrompt = (name) => forms.find((f) => f.inputs.some((i) => i.name === 'prompt' && i.value === name));
  const loginForm = byPrompt('login');
  const consentForm = byPrompt('consent');
  const confirmForm = forms.find((f) => f.id === 'op.deviceConfirmForm');
  const inputForm = forms.find((f) => f.id === 'op.deviceInputForm');

  if (loginForm) {
    if (ACTION === 'deny') {
      const abort = abortHref(html, url);
      if (!abort) finish(2, `login page without a cancel link at ${url.href}`);
      log('login page: cancelling (deny)');
      method = 'GET'; url = abort; formData = undefined;
      continue;
    }
    if (loggedIn) finish(2, `login page shown again after logging in as ${USER}: ${snippet(html)}`);
    log(`login page: signing in as ${USER}`);
    loggedIn = true;
    formData = { ...hiddenFields(loginForm), login: USER, password: 'any-password' };
    method = loginForm.method; url = new URL(loginForm.action || url.href, url);
    continue;
  }

  if (consentForm) {
    if (ACTION === 'deny' || ACTION === 'deny-consent') {
      const abort = abortHref(html, url);
      if (!abort) finish(2, `consent page without a cancel link at ${url.href}`);
      log(`consent page: cancelling (${ACTION})`);
      method = 'GET'; url = abort; formData = undefined;
      continue;
    }
    log('consent page: approving');
    formData = hiddenFields(consentForm);
    method = consentForm.method; url = new URL(consentForm.action || url.href, url);
    continue;
  }

  if (confirmForm) {
    const fields = hiddenFields(confirmForm);
    if (ACTION === 'deny') {
      delete fields.confirm;
      fields.abort = 'yes';
      log(`device confirmation page (user_code ${fields.user_code}): aborting (deny)`);
    } else {
      log(`device confirmation page (user_code ${fields.user_code}): confirming`);
    }
    formData = fields;
    method = confirmForm.method; url = new URL(confirmForm.action || url.href, url);
    continue;
  }

  if (inputForm) {
    // The device flow's user code page: shown again with a message after an
    // abort or a bad code.
    const text = snippet(html);
    if (/interrupted/i.test(text)) {
      if (ACTION !== 'approve') finish(0, 'done: device flow aborted (the device gets access_denied)');
      finish(2, `device flow was interrupted: ${text}`);
    }
    finish(2, `device user code page (URL without a valid user_code?): ${text}`);
  }

  if (pageTitle === 'Sign-in Success') {
    if (ACTION !== 'approve') finish(2, `device sign-in succeeded although OIDC_DRIVE_ACTION=${ACTION}`);
    finish(0, 'done: device sign-in success page reached');
  }

  // Auto-submitting form (form_post response mode / device user_code POST).
  if (forms.length === 1 && forms[0].method === 'POST'
    && forms[0].inputs.every((i) => (i.type || '').toLowerCase() === 'hidden')) {
    const target = new URL(forms[0].action || url.href, url);
    const fields = hiddenFields(forms[0]);
    if (offProvider(target)) await deliverCallback('POST', target, fields);
    log(`auto-submitting form to ${target.pathname}`);
    method = 'POST'; url = target; formData = fields;
    continue;
  }

  if (/oops! something went wrong/i.test(pageTitle) || /oops! something went wrong/i.test(html)) {
    finish(2, `provider error page (${res.status}) at ${url.href}: ${snippet(html)}`);
  }

  finish(2, `unexpected page (${res.status}, "${pageTitle}") at ${url.href}: ${snippet(html)}`);
}

finish(2, `gave up after ${MAX_STEPS} requests without reaching a callback or success page`);
