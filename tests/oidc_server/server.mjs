// A standard OpenID Connect server for tempnode's link tests: panva's oidc-provider (OpenID
// Certified), configured the way its documentation (docs/README.md of the pinned version) says
// a deployment configures it. Nothing here changes how it speaks OAuth: paths, error bodies,
// whole-second `exp`, refresh tokens only with `offline_access`, rotation without a grace
// window (a reused refresh token revokes the grant) are the library's own.
//
//   node server.mjs settings.json
//
// settings.json (written by tests/oidc_cloud.py):
//   cert, key           PEM files of the server certificate (the dev cloud's CA signs it)
//   resource            the readings API's URL: the one Resource Indicator (RFC 8707) there is
//   access_ttl_s        default access-token lifetime (a client's `tempnode_access_ttl_s` wins)
//   refresh_ttl_s       refresh-token lifetime
//   rotate              "always" | "never" | "default" (the library's own policy)
//   registration_token  the initial access token for dynamic client registration (RFC 7591)
//   introspector        {client_id, client_secret} of the readings API (RFC 7662 caller)
//
// Time: when TEMPNODE_VCLOCK names the simulated board's clock file (8 bytes, little-endian
// virtual minus real Unix ms; boards/host/time.py), `Date` reads virtual time, as the dev
// cloud's clock does, so token lifetimes pass at the device's pace. The `Date` header follows.
//
// It prints one JSON line {"ready": {"port": N, "issuer": URL}} once it listens on loopback,
// then one JSON line per event a test counts (never a token or a secret):
//   {"event": "grant", "grant_type", "client_id", "ok": true | "error": code}
//   {"event": "grant.revoked", "client_id"}, {"event": "server_error", "message"}

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';

import Provider, { errors } from 'oidc-provider';

const RealDate = Date;
const clockFile = process.env.TEMPNODE_VCLOCK;
const clockBuffer = Buffer.alloc(8);
let clockFd = null;

function offsetMs() {
  if (!clockFile) return 0;
  try {
    clockFd ??= fs.openSync(clockFile, 'r');
    const n = fs.readSync(clockFd, clockBuffer, 0, 8, 0);
    return n === 8 ? Number(clockBuffer.readBigInt64LE(0)) : 0;
  } catch {
    return 0;
  }
}

class VirtualDate extends RealDate {
  constructor(...args) {
    if (args.length === 0) super(RealDate.now() + offsetMs());
    else super(...args);
  }

  static now() {
    return RealDate.now() + offsetMs();
  }
}
globalThis.Date = VirtualDate;

const settings = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));

function emit(record) {
  process.stdout.write(`${JSON.stringify(record)}\n`);
}

const ROTATE = {
  always: true,
  never: false,
  default: undefined,
};

async function signingKey() {
  const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'ES256', kid: 'test' };
}

async function configuration() {
  const config = {
    // The readings API introspects tokens with its own client (docs FAQ: "Resource Server only
    // clients"); devices are registered at run time through /reg, as an admin would.
    clients: [
      {
        client_id: settings.introspector.client_id,
        client_secret: settings.introspector.client_secret,
        response_types: [],
        grant_types: [],
        redirect_uris: [],
      },
    ],
    findAccount: async (_ctx, id) => ({ accountId: id, claims: async () => ({ sub: id }) }),
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    jwks: { keys: [await signingKey()] },
    clientDefaults: { id_token_signed_response_alg: 'ES256' }, // the one key is EC P-256
    clientBasedCORS: () => false,
    extraClientMetadata: { properties: ['tempnode_access_ttl_s'] },
    features: {
      // The login and consent pages a person (here: tests/oidc_cloud.py) fills in.
      devInteractions: { enabled: true },
      deviceFlow: { enabled: true },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      registration: { enabled: true, initialAccessToken: settings.registration_token },
      resourceIndicators: {
        enabled: true,
        // A device sends no `resource`: its tokens are for the one API there is.
        defaultResource: async () => settings.resource,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, indicator, client) => {
          if (indicator !== settings.resource) throw new errors.InvalidTarget();
          return {
            scope: 'readings',
            accessTokenFormat: 'opaque',
            accessTokenTTL: client.tempnode_access_ttl_s ?? settings.access_ttl_s,
          };
        },
      },
    },
    ttl: {
      RefreshToken: settings.refresh_ttl_s,
      DeviceCode: 600,
    },
  };
  const rotate = ROTATE[settings.rotate];
  if (rotate !== undefined) config.rotateRefreshToken = rotate;
  return config;
}

const server = https.createServer({
  cert: fs.readFileSync(settings.cert),
  key: fs.readFileSync(settings.key),
});

server.listen(0, '127.0.0.1', async () => {
  const { port } = server.address();
  const issuer = `https://localhost:${port}`;
  const provider = new Provider(issuer, await configuration());
  provider.use(async (ctx, next) => {
    ctx.set('Date', new Date().toUTCString());
    await next();
  });
  provider.on('grant.success', (ctx) => {
    const { grant_type: grantType } = ctx.oidc.params;
    emit({ event: 'grant', grant_type: grantType, client_id: ctx.oidc.client.clientId, ok: true });
  });
  provider.on('grant.error', (ctx, error) => {
    emit({
      event: 'grant',
      grant_type: ctx.oidc.params?.grant_type,
      client_id: ctx.oidc.client?.clientId,
      error: error.error,
    });
  });
  provider.on('grant.revoked', (ctx) => {
    emit({ event: 'grant.revoked', client_id: ctx.oidc.client?.clientId });
  });
  provider.on('server_error', (_ctx, error) => {
    emit({ event: 'server_error', message: String(error) });
  });
  server.on('request', provider.callback());
  emit({ ready: { port, issuer } });
});

process.on('SIGTERM', () => process.exit(0)); // the in-memory state goes with it
