#!/usr/bin/env node
// A real OpenID Connect provider (npm `oidc-provider` 9.x) for sesame's
// integration tests.
//
//   node provider.mjs
//
// Listens on 127.0.0.1 with an ephemeral port and, once listening, prints
// exactly one line to stdout:
//
//   {"issuer":"http://127.0.0.1:PORT"}
//
// Everything else (oidc-provider's notices and warnings, request logs) goes to
// stderr. Runs until SIGTERM/SIGINT (or until its parent process is gone, see
// below). All state is in memory and lost on exit.
//
// Environment:
//   OIDC_ACCESS_TTL        access token lifetime in seconds (default 3600)
//   OIDC_REFRESH_TTL       refresh token lifetime in seconds (default 86400)
//   OIDC_DEVICE_INTERVAL   if set (integer >= 0), added as `interval` to the
//                          device authorization response. oidc-provider does
//                          not send `interval` itself, so RFC 8628 clients
//                          default to 5 seconds between polls; tests set 1.
//                          oidc-provider never answers `slow_down`.
//   OIDC_RESOURCE          resource indicator / JWT access token audience
//                          (default urn:sesame:api)
//   OIDC_REFRESH_REQUIRES_OFFLINE_ACCESS=1
//                          only issue refresh tokens when `offline_access` was
//                          granted (oidc-provider's stock behaviour). Default:
//                          always issue them to clients allowed the
//                          refresh_token grant.
//   OIDC_EXIT_ON_STDIN_EOF=1
//                          exit when stdin reaches EOF (spawn with a piped
//                          stdin and the provider dies with the test process).
//   OIDC_MAX_LIFETIME      exit after this many seconds (default 1800; 0 = never)
//   OIDC_LOG=1             log every request (method, path, status) to stderr
//
// Without OIDC_EXIT_ON_STDIN_EOF the provider still exits within ~1 s of its
// parent process going away (checked every 0.5 s), so a panicking test does
// not leak it.

import { generateKeyPairSync, randomUUID } from 'node:crypto';
import http from 'node:http';

// oidc-provider prints NOTICEs with console.info (stdout). stdout is reserved
// for the single JSON line, so route console output other than errors to stderr.
for (const level of ['log', 'info', 'debug']) {
  console[level] = (...args) => console.error(...args);
}

function envInt(name, fallback, min = 0) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    console.error(`provider.mjs: ${name} must be an integer >= ${min}, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return value;
}

const ACCESS_TTL = envInt('OIDC_ACCESS_TTL', 3600, 1);
const REFRESH_TTL = envInt('OIDC_REFRESH_TTL', 24 * 60 * 60, 1);
const DEVICE_INTERVAL = envInt('OIDC_DEVICE_INTERVAL', undefined, 0);
const MAX_LIFETIME = envInt('OIDC_MAX_LIFETIME', 1800, 0);
const RESOURCE = process.env.OIDC_RESOURCE || 'urn:sesame:api';
const STRICT_OFFLINE = process.env.OIDC_REFRESH_REQUIRES_OFFLINE_ACCESS === '1';
const LOG = process.env.OIDC_LOG === '1';

const { default: Provider, errors } = await import('oidc-provider');

const CLIENT_ID = 'sesame-cli';

// RS256 signing key, fresh for every run, published at the jwks endpoint.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = {
  ...privateKey.export({ format: 'jwk' }),
  kid: `sesame-test-${randomUUID()}`,
  alg: 'RS256',
  use: 'sig',
};

const server = http.createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(0, '127.0.0.1', resolve);
});
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

const configuration = {
  clients: [
    {
      client_id: CLIENT_ID,
      client_name: 'sesame',
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      grant_types: [
        'authorization_code',
        'refresh_token',
        'urn:ietf:params:oauth:grant-type:device_code',
      ],
      response_types: ['code'],
      // RFC 8252 §7.3: for `application_type: "native"` clients oidc-provider
      // compares loopback http redirect URIs (127.0.0.1, localhost, [::1])
      // without their port (Client#redirectUriAllowed -> stripLoopbackPort),
      // so `http://127.0.0.1:54321/callback` matches the registered
      // `http://127.0.0.1/callback`. The host and path must match exactly:
      // 127.0.0.1 and localhost are different registrations, hence all three.
      redirect_uris: [
        'http://127.0.0.1/callback',
        'http://localhost/callback',
        'http://[::1]/callback',
      ],
      post_logout_redirect_uris: [
        'http://127.0.0.1/logged-out',
        'http://localhost/logged-out',
      ],
      scope: 'openid offline_access profile email',
    },
  ],

  jwks: { keys: [signingKey] },
  cookies: { keys: ['sesame-integration-tests-cookie-key-not-a-secret'] },

  scopes: ['openid', 'offline_access', 'profile', 'email'],
  claims: {
    openid: ['sub'],
    profile: ['name'],
    email: ['email', 'email_verified'],
  },

  // Any login name is a valid account; any password is accepted by the dev
  // login form.
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          email: `${id}@example.test`,
          email_verified: true,
          name: `Test User ${id}`,
        };
      },
    };
  },

  // PKCE (S256, the only method oidc-provider 9 supports) for every request.
  pkce: { required: () => true },

  features: {
    // Built-in login + consent pages at /interaction/:uid; drive.mjs fills
    // them in with plain HTTP requests.
    devInteractions: { enabled: true },
    deviceFlow: { enabled: true },
    revocation: { enabled: true },
    // oidc-provider's userinfo endpoint only accepts opaque access tokens
    // without an audience; every access token here is a JWT for RESOURCE, so
    // the endpoint would answer 401 invalid_token to all of them. Leave it
    // out of discovery instead. The id_token carries name/email claims.
    userinfo: { enabled: false },
    rpInitiatedLogout: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // Requests without a `resource` parameter get RESOURCE, so every access
      // token is a JWT for RESOURCE, even for clients that know nothing about
      // resource indicators. With `oneOf` (several granted resources at the
      // token endpoint) pick RESOURCE if granted, else the first.
      defaultResource(ctx, client, oneOf) {
        if (oneOf) return oneOf.includes(RESOURCE) ? RESOURCE : oneOf[0];
        return RESOURCE;
      },
      // At the token endpoint use the resource granted at authorization even
      // when the token request repeats no `resource` parameter.
      useGrantedResource: () => true,
      getResourceServerInfo(ctx, resourceIndicator) {
        if (resourceIndicator !== RESOURCE) {
          throw new errors.InvalidTarget(`unknown resource indicator, only ${RESOURCE} is served`);
        }
        // The JWT's `scope` claim (and the token response's `scope`) is the
        // granted subset of these.
        return {
          scope: 'openid offline_access profile email',
          audience: RESOURCE,
          accessTokenTTL: ACCESS_TTL,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },

  issueRefreshToken(ctx, client, code) {
    if (!client.grantTypeAllowed('refresh_token')) return false;
    return STRICT_OFFLINE ? code.scopes.has('offline_access') : true;
  },
  // Refresh tokens are rotated on every use; presenting an already used one
  // answers invalid_grant and revokes the whole grant (reuse detection).
  rotateRefreshToken: true,
  // Tokens outlive the (driver's) browser session.
  expiresWithSession: () => false,

  ttl: {
    AccessToken: ACCESS_TTL,
    AuthorizationCode: 60,
    IdToken: 3600,
    DeviceCode: 600,
    RefreshToken: REFRESH_TTL,
    Interaction: 3600,
    Session: 24 * 60 * 60,
    Grant: 14 * 24 * 60 * 60,
  },

  renderError(ctx, out, error) {
    ctx.type = 'html';
    const safe = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
    ctx.body = `<!DOCTYPE html><html><head><title>oops! something went wrong</title></head>
<body><h1>oops! something went wrong</h1>
${Object.entries(out).map(([k, v]) => `<pre id="${safe(k)}"><strong>${safe(k)}</strong>: ${safe(v)}</pre>`).join('\n')}
</body></html>`;
    if (LOG) console.error('renderError', out, error?.error_detail ?? '');
  },
};

const provider = new Provider(issuer, configuration);

if (LOG) {
  provider.use(async (ctx, next) => {
    await next();
    console.error(`oidc ${ctx.method} ${ctx.path} -> ${ctx.status}`);
  });
}

if (DEVICE_INTERVAL !== undefined) {
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.oidc?.route === 'device_authorization' && ctx.status === 200
      && ctx.body && typeof ctx.body === 'object') {
      ctx.body = { ...ctx.body, interval: DEVICE_INTERVAL };
    }
  });
}

provider.on('server_error', (ctx, err) => console.error('oidc server_error', err));

server.removeAllListeners('error');
server.on('error', (err) => console.error('http server error', err));
server.on('request', provider.callback());

let stopping = false;
function stop(reason, code = 0) {
  if (stopping) return;
  stopping = true;
  if (LOG) console.error(`provider.mjs: stopping (${reason})`);
  server.close();
  server.closeAllConnections?.();
  // Do not wait for keep-alive sockets or timers.
  setImmediate(() => process.exit(code));
}

process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGHUP', () => stop('SIGHUP'));

// Announce the issuer only once the signal handlers are in place: a parent that reads this
// line and stops the provider at once must see it exit cleanly, not die of the signal.
process.stdout.write(`${JSON.stringify({ issuer })}\n`);

if (process.env.OIDC_EXIT_ON_STDIN_EOF === '1') {
  process.stdin.on('end', () => stop('stdin EOF'));
  process.stdin.on('error', () => stop('stdin error'));
  process.stdin.resume();
}

// Exit if the parent (the test process) has gone away.
const parent = process.ppid;
if (parent > 1) setInterval(() => {
  try {
    process.kill(parent, 0);
  } catch (err) {
    if (err.code === 'ESRCH') stop('parent process gone');
  }
}, 500).unref();

if (MAX_LIFETIME > 0) {
  const ms = Math.min(MAX_LIFETIME * 1000, 2 ** 31 - 1);
  setTimeout(() => stop(`OIDC_MAX_LIFETIME=${MAX_LIFETIME}s reached`, 3), ms).unref();
}
