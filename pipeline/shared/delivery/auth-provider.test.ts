import type { SubscriptionSnapshot } from '../subscriptions/snapshot';
import { createAuthProvider } from './auth-provider';
import type { HttpRequest, SendResult } from './send';

// Secrets are "sealed" as `sealed:<subscription>:<plain>` so the test sees that the right aad is used.
const open = (sealed: string, id: string) => {
  const [tag, sub, ...plain] = sealed.split(':');
  if (tag !== 'sealed' || sub !== id) throw new Error('cannot open');
  return plain.join(':');
};
const seal = (id: string, plain: string) => `sealed:${id}:${plain}`;

const aSub = (auth: SubscriptionSnapshot['auth'], id = 'sub-1'): SubscriptionSnapshot => ({
  id,
  tenantId: 't',
  version: 1,
  status: 'ACTIVE',
  match: { sourceService: '*', eventType: '*', resourceType: '*', operationType: '*' },
  endpointUrl: 'https://hooks.example/x',
  contentMode: 'BINARY',
  auth,
  signing: { current: seal(id, 'whsec_x') },
  customHeaders: {},
  ordered: false,
  updatedAt: new Date(0).toISOString(),
});

const answer = (status: number, body: unknown): SendResult => {
  const buf = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  return { status, headers: {}, body: buf, snippet: buf.toString(), truncated: false, durationMs: 1 };
};

function tokenEndpoint(respond: (req: HttpRequest, n: number) => SendResult | Promise<SendResult>) {
  const requests: HttpRequest[] = [];
  return {
    requests,
    send: async (req: HttpRequest) => {
      requests.push(req);
      await new Promise((r) => setTimeout(r, 5));
      return respond(req, requests.length);
    },
  };
}

const oauth = (extra: Partial<Extract<SubscriptionSnapshot['auth'], { type: 'OAUTH2' }>> = {}) =>
  aSub({
    type: 'OAUTH2',
    clientId: 'client 1',
    tokenUrl: 'https://idp.example/token',
    scope: 'hooks:write',
    secret: seal('sub-1', 's3:cret'),
    ...extra,
  });

describe('static credentials', () => {
  const nobody = { open, send: async () => answer(500, '') };
  it('builds BASIC, JWT and APIKEY headers from the opened secrets', async () => {
    const p = createAuthProvider(nobody);
    expect(await p.headersFor(aSub({ type: 'BASIC', username: 'hub', secret: seal('sub-1', 'pa:ss') }))).toEqual({
      ok: true,
      headers: { authorization: `Basic ${Buffer.from('hub:pa:ss').toString('base64')}` },
    });
    expect(await p.headersFor(aSub({ type: 'JWT', secret: seal('sub-1', 'eyJ.x.y') }))).toEqual({
      ok: true,
      headers: { authorization: 'Bearer eyJ.x.y' },
    });
    expect(await p.headersFor(aSub({ type: 'APIKEY', headerName: 'X-Api-Key', secret: seal('sub-1', 'k1') }))).toEqual({
      ok: true,
      headers: { 'x-api-key': 'k1' },
    });
    expect(await p.headersFor(aSub({ type: 'NONE' }))).toEqual({ ok: true, headers: {} });
  });

  it('turns a secret that cannot be opened into a permanent failure that names no secret', async () => {
    const p = createAuthProvider(nobody);
    const r = await p.headersFor(aSub({ type: 'JWT', secret: seal('other-sub', 'tok') }));
    expect(r).toMatchObject({ ok: false, failure: { kind: 'permanent', code: 'DELIVERY.AUTH_SECRET' } });
    expect(JSON.stringify(r)).not.toContain('tok');
  });
});

describe('OAuth2 client credentials', () => {
  it('posts a form-encoded client_credentials grant with HTTP Basic client auth', async () => {
    const idp = tokenEndpoint(() => answer(200, { access_token: 'tok-1', token_type: 'Bearer', expires_in: 3600 }));
    const p = createAuthProvider({ open, send: idp.send });
    expect(await p.headersFor(oauth())).toEqual({ ok: true, headers: { authorization: 'Bearer tok-1' } });
    const req = idp.requests[0]!;
    expect(req.url).toBe('https://idp.example/token');
    expect(req.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(req.headers.authorization).toBe(`Basic ${Buffer.from('client+1:s3%3Acret').toString('base64')}`);
    expect(Object.fromEntries(new URLSearchParams(req.body as string))).toEqual({
      grant_type: 'client_credentials',
      scope: 'hooks:write',
    });
  });

  it('can put the client credentials in the form body instead', async () => {
    const idp = tokenEndpoint(() => answer(200, { access_token: 'tok-1' }));
    const p = createAuthProvider({ open, send: idp.send });
    await p.headersFor(oauth({ clientAuth: 'body' }));
    expect(idp.requests[0]!.headers.authorization).toBeUndefined();
    expect(Object.fromEntries(new URLSearchParams(idp.requests[0]!.body as string))).toMatchObject({
      client_id: 'client 1',
      client_secret: 's3:cret',
    });
  });

  it('fetches once for many concurrent deliveries and reuses the token until shortly before expiry', async () => {
    let t = 1_000_000;
    const idp = tokenEndpoint((_r, n) => answer(200, { access_token: `tok-${n}`, expires_in: 120 }));
    const p = createAuthProvider({ open, send: idp.send, now: () => t });
    const all = await Promise.all(Array.from({ length: 20 }, () => p.headersFor(oauth())));
    expect(new Set(all.map((r) => r.ok && r.headers.authorization))).toEqual(new Set(['Bearer tok-1']));
    expect(idp.requests).toHaveLength(1);
    t += 89_000; // 120 s token, refreshed 30 s before expiry
    await p.headersFor(oauth());
    expect(idp.requests).toHaveLength(1);
    t += 2_000;
    expect(await p.headersFor(oauth())).toEqual({ ok: true, headers: { authorization: 'Bearer tok-2' } });
    expect(idp.requests).toHaveLength(2);
  });

  it('drops only the token the subscriber rejected', async () => {
    const idp = tokenEndpoint((_r, n) => answer(200, { access_token: `tok-${n}`, expires_in: 3600 }));
    const p = createAuthProvider({ open, send: idp.send });
    await p.headersFor(oauth());
    p.invalidate('sub-1', 'tok-1');
    expect(await p.headersFor(oauth())).toEqual({ ok: true, headers: { authorization: 'Bearer tok-2' } });
    // A late 401 for the old token must not throw away the fresh one.
    p.invalidate('sub-1', 'tok-1');
    expect(await p.headersFor(oauth())).toEqual({ ok: true, headers: { authorization: 'Bearer tok-2' } });
    expect(idp.requests).toHaveLength(2);
    p.invalidate('sub-1');
    expect(await p.headersFor(oauth())).toEqual({ ok: true, headers: { authorization: 'Bearer tok-3' } });
  });

  it.each([
    ['a 500', () => answer(500, 'oops'), 'DELIVERY.AUTH_TOKEN_REJECTED'],
    ['a 401', () => answer(401, { error: 'invalid_client' }), 'DELIVERY.AUTH_TOKEN_REJECTED'],
    ['HTML', () => answer(200, '<html>login</html>'), 'DELIVERY.AUTH_TOKEN_INVALID'],
    ['JSON without a token', () => answer(200, { token: 'x' }), 'DELIVERY.AUTH_TOKEN_INVALID'],
    ['a non-string token', () => answer(200, { access_token: 42 }), 'DELIVERY.AUTH_TOKEN_INVALID'],
    ['a token with a line break', () => answer(200, { access_token: 'a\r\nx-evil: 1' }), 'DELIVERY.AUTH_TOKEN_INVALID'],
    ['a MAC token', () => answer(200, { access_token: 'a', token_type: 'mac' }), 'DELIVERY.AUTH_TOKEN_INVALID'],
    ['JSON null', () => answer(200, 'null'), 'DELIVERY.AUTH_TOKEN_INVALID'],
  ])('makes %s from the token endpoint a retriable failure', async (_name, respond, code) => {
    const p = createAuthProvider({ open, send: tokenEndpoint(respond).send });
    const r = await p.headersFor(oauth());
    expect(r).toMatchObject({ ok: false, failure: { kind: 'retriable', code } });
    expect(JSON.stringify(r)).not.toContain('s3:cret');
  });

  it('makes an unreachable token endpoint retriable and shares the failure with concurrent callers', async () => {
    const idp = tokenEndpoint(() => {
      throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    });
    const p = createAuthProvider({ open, send: idp.send });
    const rs = await Promise.all([p.headersFor(oauth()), p.headersFor(oauth())]);
    for (const r of rs) expect(r).toMatchObject({ ok: false, failure: { code: 'DELIVERY.AUTH_TOKEN_UNREACHABLE' } });
    expect(idp.requests).toHaveLength(1);
    // Nothing cached from a failure: the next delivery asks again.
    await p.headersFor(oauth());
    expect(idp.requests).toHaveLength(2);
  });

  it('does not cache a token whose fetch began before the subscription changed', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let n = 0;
    const p = createAuthProvider({
      open,
      send: async () => {
        n++;
        if (n === 1) await gate;
        return answer(200, { access_token: `tok-${n}` });
      },
    });
    const first = p.headersFor(oauth());
    await new Promise((r) => setTimeout(r, 5));
    p.invalidate('sub-1');
    release();
    await first;
    expect(await p.headersFor(oauth())).toEqual({ ok: true, headers: { authorization: 'Bearer tok-2' } });
  });
});
