import { connect } from 'node:net';
import type { LightMyRequestResponse } from 'fastify';
import { Registry } from 'prom-client';
import { z } from 'zod';
import { createLogger } from '../logging/logger';
import { createApp, type HubApp, maskQuery } from './create-app';
import { conflict, notFound } from './problem';

const silent = createLogger({ service: 'test', level: 'silent' });

/** An RFC 9457 problem: the media type, the status in line and body, a title and a detail, no internals. */
function expectProblem(res: LightMyRequestResponse, status: number) {
  expect(res.statusCode).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = res.json();
  expect(body).toMatchObject({ status, type: expect.stringMatching(/^https:\/\//) });
  expect(body.title).toEqual(expect.any(String));
  expect(body.detail).toEqual(expect.any(String));
  expect(body).not.toHaveProperty('stack');
  expect(body).not.toHaveProperty('code'); // fastify's own error JSON has code FST_ERR_...
  expect(res.body).not.toMatch(/FST_ERR|node_modules|\n\s+at /);
  return body;
}

async function anApp(opts: { ready?: () => boolean } = {}): Promise<HubApp> {
  const app = await createApp({ name: 'test-api', logger: silent, bodyLimit: 1024, registry: new Registry(), ...opts });
  app.post(
    '/things',
    {
      schema: {
        body: z
          .object({
            name: z.string().min(1),
            size: z.number().int(),
            nested: z.object({ a: z.string() }).strict().optional(),
          })
          .strict(),
        response: { 201: z.object({ name: z.string() }) },
      },
    },
    async (req, reply) => reply.code(201).send({ name: req.body.name }),
  );
  app.get('/things/:id', async (req) => {
    const { id } = req.params as { id: string };
    if (id === 'dup') throw conflict('already there');
    throw notFound('thing', id);
  });
  app.get('/boom', async () => {
    throw new Error('database password=hunter2 leaked?');
  });
  await app.ready();
  return app;
}

describe('createApp', () => {
  let app: HubApp;
  beforeAll(async () => {
    app = await anApp();
  });
  afterAll(() => app.close());

  it('accepts a valid body', async () => {
    const res = await app.inject({ method: 'POST', url: '/things', payload: { name: 'x', size: 1 } });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toEqual({ name: 'x' });
    expect(res.headers['x-request-id']).toBeTruthy();
  });

  it('answers unknown fields with 400 and one error per field path', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/things',
      payload: { name: 'x', size: 1, extra: 1, nested: { a: 'y', b: 2 } },
    });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toContain('application/problem+json');
    const body = res.json();
    expect(body).toMatchObject({ status: 400, title: 'Validation failed', instance: '/things' });
    expect(body.errors).toEqual(
      expect.arrayContaining([
        { in: 'body', path: 'extra', message: 'unknown field' },
        { in: 'body', path: 'nested.b', message: 'unknown field' },
      ]),
    );
  });

  it('answers wrong types with the field path', async () => {
    const res = await app.inject({ method: 'POST', url: '/things', payload: { name: 'x', size: 'big' } });
    expect(res.statusCode).toBe(400);
    expect(res.json().errors).toEqual([expect.objectContaining({ path: 'size' })]);
  });

  it('answers malformed JSON with 400', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/things',
      headers: { 'content-type': 'application/json' },
      payload: '{"name": ',
    });
    const body = expectProblem(res, 400);
    expect(body).toMatchObject({ title: 'Malformed JSON', type: expect.stringContaining('malformed-json') });
  });

  it('answers an oversized body with 413', async () => {
    const res = await app.inject({ method: 'POST', url: '/things', payload: { name: 'x'.repeat(2000), size: 1 } });
    expect(expectProblem(res, 413)).toMatchObject({ detail: expect.stringContaining('1024') });
  });

  it('answers an unsupported content type with 415', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/things',
      headers: { 'content-type': 'text/xml' },
      payload: '<a/>',
    });
    expect(expectProblem(res, 415)).toMatchObject({
      title: 'Unsupported media type',
      detail: expect.stringContaining('text/xml'),
    });
  });

  it('answers an unknown route with a 404 problem', async () => {
    const res = await app.inject({ method: 'GET', url: '/nope?x=1' });
    expect(expectProblem(res, 404)).toMatchObject({ instance: '/nope' });
    expectProblem(await app.inject({ method: 'DELETE', url: '/things' }), 404);
  });

  it('answers an over-long path parameter with a 414 problem (fastify answers it before routing)', async () => {
    const res = await app.inject({ method: 'GET', url: `/things/${'a'.repeat(200)}` });
    expect(expectProblem(res, 414)).toMatchObject({
      title: 'URI too long',
      type: expect.stringContaining('uri-too-long'),
      detail: expect.stringContaining('100'),
    });
    expect(res.headers['x-request-id']).toBeTruthy();
    // at the limit the route still answers
    expect((await app.inject({ method: 'GET', url: `/things/${'a'.repeat(100)}` })).statusCode).toBe(404);
  });

  it('answers a malformed URL with a 400 problem', async () => {
    const res = await app.inject({ method: 'GET', url: '/things/%E0%A4%A' });
    expect(expectProblem(res, 400)).toMatchObject({ detail: expect.stringContaining('URL') });
  });

  it('renders problems thrown by routes', async () => {
    expect((await app.inject({ method: 'GET', url: '/things/abc' })).json()).toMatchObject({
      status: 404,
      detail: 'thing "abc" not found',
    });
    expect((await app.inject({ method: 'GET', url: '/things/dup' })).statusCode).toBe(409);
  });

  it('hides internals of unexpected errors', async () => {
    const res = await app.inject({ method: 'GET', url: '/boom' });
    expect(res.statusCode).toBe(500);
    expect(res.body).not.toContain('hunter2');
  });

  it('treats an empty JSON body as no body', async () => {
    const res = await app.inject({ method: 'POST', url: '/things', headers: { 'content-type': 'application/json' } });
    expect(res.statusCode).toBe(400);
    expect(res.json().title).toBe('Validation failed');
  });

  it('serves health, readiness, metrics and the OpenAPI document', async () => {
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    const metrics = await app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toContain('http_request_duration_seconds');
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toContain('/things');
    expect(Object.keys(doc.paths)).not.toContain('/healthz');
    expect((await app.inject({ method: 'GET', url: '/docs' })).statusCode).toBeLessThan(400);
  });

  it('keeps a sane caller request id and replaces a bad one', async () => {
    const good = await app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'abc-123' } });
    expect(good.headers['x-request-id']).toBe('abc-123');
    const bad = await app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'a b\tc' } });
    expect(bad.headers['x-request-id']).not.toBe('a b\tc');
  });
});

describe('createApp on a socket', () => {
  it('answers HTTP that Node rejects (headers too large, garbage) with problem+json', async () => {
    const app = await anApp();
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as { port: number };
    const raw = (request: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () => socket.write(request));
        let data = '';
        socket.on('data', (d) => {
          data += d.toString();
        });
        socket.on('error', reject);
        socket.on('close', () => resolve(data));
      });
    try {
      const big = await raw(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
      expect(big).toMatch(/^HTTP\/1\.1 431 /);
      expect(big).toMatch(/content-type: application\/problem\+json/i);
      expect(JSON.parse(big.slice(big.indexOf('\r\n\r\n') + 4))).toMatchObject({
        status: 431,
        title: 'Request Header Fields Too Large',
        detail: expect.any(String),
      });
      const garbage = await raw('NOT HTTP AT ALL\r\n\r\n');
      expect(garbage).toMatch(/^HTTP\/1\.1 400 /);
      expect(JSON.parse(garbage.slice(garbage.indexOf('\r\n\r\n') + 4))).toMatchObject({
        status: 400,
        title: 'Bad request',
      });
    } finally {
      await app.close();
    }
  });
});

describe('createApp readiness', () => {
  it('answers 503 until ready', async () => {
    let ready = false;
    const app = await anApp({ ready: () => ready });
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(503);
    ready = true;
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    await app.close();
  });
});

describe('request logs', () => {
  it('mask credential-like query parameters and keep the rest', () => {
    expect(maskQuery('/v1/stream?tenantId=t1&apiKey=ihk_abc&access_token=x&sig=y&limit=5')).toBe(
      '/v1/stream?tenantId=t1&apiKey=[redacted]&access_token=[redacted]&sig=[redacted]&limit=5',
    );
    expect(maskQuery('/v1/events')).toBe('/v1/events');
    expect(maskQuery('/x?%E0%A4%A=1&flag')).toBe('/x?%E0%A4%A=1&flag');
  });

  it('log each request once in and once out, with no key from the URL', async () => {
    const lines: string[] = [];
    const logger = createLogger({ service: 'test', destination: { write: (l: string) => lines.push(l) } });
    const app = await createApp({ name: 'test-api', logger, registry: new Registry() });
    await app.ready();
    await app.inject({ method: 'GET', url: '/nope?apiKey=ihk_secret_in_url&tenantId=t1' });
    await app.close();
    const text = lines.join('\n');
    expect(text).not.toContain('ihk_secret_in_url');
    const parsed = lines.map(
      (l) => JSON.parse(l) as { msg: string; req?: { url: string }; res?: { statusCode: number } },
    );
    expect(parsed.find((l) => l.msg === 'incoming request')?.req?.url).toBe('/nope?apiKey=[redacted]&tenantId=t1');
    expect(parsed.find((l) => l.msg === 'request completed')?.res?.statusCode).toBe(404);
  });
});
