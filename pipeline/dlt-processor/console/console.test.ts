import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateApiKey, hashApiKey } from '../../shared/auth/api-key';
import { apiKeyAuth } from '../../shared/auth/api-key-auth';
import { memoryApiKeyStore } from '../../shared/auth/api-key-store.memory';
import { createApp, type HubApp } from '../../shared/http/create-app';
import { createLogger } from '../../shared/logging/logger';
import { registerConsoleApi } from './api';
import { CONSOLE_INDEX, type ConsoleAssets, loadConsoleAssets } from './assets';
import { CONSOLE_CSP, registerConsoleStatic } from './static';

const silent = createLogger({ service: 'test', level: 'silent' });
const ROOT = join(__dirname, '..', '..', '..');
const OPERATOR = generateApiKey();
const TENANT_A = generateApiKey();

async function anApp(assets: ConsoleAssets | undefined, subscriptionApiUrl?: string): Promise<HubApp> {
  const now = new Date();
  const store = memoryApiKeyStore([
    {
      id: 'op',
      name: 'ops',
      role: 'OPERATOR',
      tenantId: null,
      prefix: OPERATOR.slice(0, 12),
      hash: hashApiKey(OPERATOR),
      createdAt: now,
      revokedAt: null,
    },
    {
      id: 'ka',
      name: 'a',
      role: 'TENANT',
      tenantId: 'tenant-a',
      prefix: TENANT_A.slice(0, 12),
      hash: hashApiKey(TENANT_A),
      createdAt: now,
      revokedAt: null,
    },
  ]);
  const app = await createApp({ name: 'console-test', logger: silent, docs: false });
  registerConsoleStatic(app, assets);
  await app.register(async (api) => {
    await api.register(apiKeyAuth, { store });
    registerConsoleApi(api as unknown as HubApp, { subscriptionApiUrl, timeoutMs: 2000 });
  });
  await app.ready();
  return app;
}

describe('operator console assets', () => {
  let dir: string;
  let assets: ConsoleAssets;
  let app: HubApp;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hub-console-'));
    execFileSync(process.execPath, [join(ROOT, 'scripts', 'build-console.mjs'), '--outdir', dir], { stdio: 'pipe' });
    assets = loadConsoleAssets(dir)!;
    app = await anApp(assets);
  }, 60_000);
  afterAll(async () => {
    await app?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('builds an index, one script and one stylesheet, at most 300 KB gzipped in total', () => {
    const names = [...assets.keys()].sort();
    expect(names).toHaveLength(3);
    expect(names).toContain(CONSOLE_INDEX);
    const total = [...assets.values()].reduce((n, a) => n + a.gzip.length, 0);
    expect(total).toBeGreaterThan(1000);
    expect(total).toBeLessThanOrEqual(300 * 1024);
    const index = assets.get(CONSOLE_INDEX)!.body.toString('utf8');
    for (const name of names.filter((n) => n !== CONSOLE_INDEX)) expect(index).toContain(`/console/${name}`);
    // No CDN or any other origin: every reference in the page is to this origin.
    expect(index).not.toMatch(/(src|href)="https?:/);
  });

  it('serves the page with a strict CSP, no-cache, and the hashed assets as immutable, gzipped on request', async () => {
    const page = await app.inject({ method: 'GET', url: '/console' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['cache-control']).toBe('no-cache');
    expect(page.headers['content-security-policy']).toBe(CONSOLE_CSP);
    expect(CONSOLE_CSP).toContain("script-src 'self'");
    expect(CONSOLE_CSP).toContain("connect-src 'self'");
    expect(page.headers['x-frame-options']).toBe('DENY');
    const js = [...assets.keys()].find((n) => n.endsWith('.js'))!;
    const css = [...assets.keys()].find((n) => n.endsWith('.css'))!;
    const script = await app.inject({ method: 'GET', url: `/console/${js}`, headers: { 'accept-encoding': 'gzip' } });
    expect(script.statusCode).toBe(200);
    expect(script.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(script.headers['content-encoding']).toBe('gzip');
    expect(script.headers['cache-control']).toContain('immutable');
    expect(script.rawPayload.length).toBe(assets.get(js)!.gzip.length);
    const style = await app.inject({ method: 'GET', url: `/console/${css}` });
    expect(style.headers['content-type']).toBe('text/css; charset=utf-8');
    expect(style.headers['content-encoding']).toBeUndefined();
    expect(style.body).toBe(assets.get(css)!.body.toString('utf8'));
    const again = await app.inject({
      method: 'GET',
      url: `/console/${css}`,
      headers: { 'if-none-match': String(style.headers.etag) },
    });
    expect(again.statusCode).toBe(304);
  });

  it('answers 404 problem+json for a file it does not have, 400 for a name that is not a file name', async () => {
    const missing = await app.inject({ method: 'GET', url: '/console/nope.js' });
    expect(missing.statusCode).toBe(404);
    expect(missing.headers['content-type']).toContain('application/problem+json');
    const bad = await app.inject({ method: 'GET', url: '/console/%2e%2e%2fpackage.json' });
    expect(bad.statusCode).toBe(400);
  });

  it('says how to build the console when it is not built', async () => {
    const bare = await anApp(undefined);
    try {
      const res = await bare.inject({ method: 'GET', url: '/console' });
      expect(res.statusCode).toBe(503);
      expect(res.json().detail).toContain('npm run build');
    } finally {
      await bare.close();
    }
  });

  it('leaves a folder without an index unserved', () => {
    expect(loadConsoleAssets(join(dir, 'missing'))).toBeUndefined();
  });
});

describe('console API', () => {
  let upstream: Server;
  let seen: { method?: string; url?: string; headers: IncomingHttpHeaders }[];
  let url: string;
  beforeAll(async () => {
    seen = [];
    upstream = createServer((req, res) => {
      seen.push({ method: req.method, url: req.url, headers: req.headers });
      if (req.url?.startsWith('/v1/subscriptions/other')) {
        res.writeHead(404, { 'content-type': 'application/problem+json' });
        res.end(JSON.stringify({ title: 'Not found', status: 404, detail: 'subscription other not found' }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify({ items: [], nextCursor: null }));
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise((r) => upstream.close(r)));

  it('tells who the key is: an operator, or a tenant with its tenant', async () => {
    const app = await anApp(undefined, url);
    try {
      const op = await app.inject({ url: '/console/api/session', headers: { authorization: `Bearer ${OPERATOR}` } });
      expect(op.json()).toEqual({ keyId: 'op', name: 'ops', role: 'OPERATOR', tenantId: null });
      const t = await app.inject({ url: '/console/api/session', headers: { authorization: `Bearer ${TENANT_A}` } });
      expect(t.json()).toEqual({ keyId: 'ka', name: 'a', role: 'TENANT', tenantId: 'tenant-a' });
      const none = await app.inject({ url: '/console/api/session' });
      expect(none.statusCode).toBe(401);
    } finally {
      await app.close();
    }
  });

  it("forwards the subscription calls with the caller's own key and passes the answer through", async () => {
    const app = await anApp(undefined, url);
    try {
      seen.length = 0;
      const list = await app.inject({
        url: '/console/api/subscriptions?tenantId=tenant-a&status=PAUSED',
        headers: { authorization: `Bearer ${TENANT_A}` },
      });
      expect(list.statusCode).toBe(200);
      expect(list.json()).toEqual({ items: [], nextCursor: null });
      expect(list.headers['cache-control']).toBe('no-store');
      expect(seen[0]).toMatchObject({ method: 'GET', url: '/v1/subscriptions?tenantId=tenant-a&status=PAUSED' });
      expect(seen[0]!.headers.authorization).toBe(`Bearer ${TENANT_A}`);
      const other = await app.inject({
        method: 'POST',
        url: '/console/api/subscriptions/other/pause',
        headers: { authorization: `Bearer ${TENANT_A}` },
      });
      expect(other.statusCode).toBe(404);
      expect(other.headers['content-type']).toContain('application/problem+json');
      expect(other.json().detail).toBe('subscription other not found');
      expect(seen[1]).toMatchObject({ method: 'POST', url: '/v1/subscriptions/other/pause' });
    } finally {
      await app.close();
    }
  });

  it('forwards only pause, resume and rotate-secret, and only for a signed-in key', async () => {
    const app = await anApp(undefined, url);
    try {
      seen.length = 0;
      const del = await app.inject({
        method: 'POST',
        url: '/console/api/subscriptions/s1/delete',
        headers: { authorization: `Bearer ${OPERATOR}` },
      });
      expect(del.statusCode).toBe(400);
      const anon = await app.inject({ method: 'POST', url: '/console/api/subscriptions/s1/pause' });
      expect(anon.statusCode).toBe(401);
      expect(seen).toHaveLength(0);
    } finally {
      await app.close();
    }
  });

  it('answers 503 naming SUBSCRIPTION_API_URL when unset, 502 when the subscription-api does not answer', async () => {
    const unset = await anApp(undefined);
    const gone = await anApp(undefined, 'http://127.0.0.1:1');
    try {
      const a = await unset.inject({
        url: '/console/api/subscriptions',
        headers: { authorization: `Bearer ${OPERATOR}` },
      });
      expect(a.statusCode).toBe(503);
      expect(a.json().detail).toContain('SUBSCRIPTION_API_URL');
      const b = await gone.inject({
        url: '/console/api/subscriptions',
        headers: { authorization: `Bearer ${OPERATOR}` },
      });
      expect(b.statusCode).toBe(502);
      expect(b.json().detail).toContain('check that it is running');
    } finally {
      await unset.close();
      await gone.close();
    }
  });
});
