import pino from 'pino';
import { aRawEvent, binaryRecord, structuredRecord } from '../../test/fixtures/platform-events';
import { generateApiKey, hashApiKey, publicPrefix } from '../shared/auth/api-key';
import { memoryApiKeyStore } from '../shared/auth/api-key-store.memory';
import { createApp, type HubApp } from '../shared/http/create-app';
import { registerHttpIngest } from './http-ingest.fastify';
import type { IngestPublisher } from './ingest-publisher';

const operatorKey = generateApiKey();
const tenantKey = generateApiKey();
let app: HubApp;
let published: Parameters<IngestPublisher['publish']>[0];

beforeEach(async () => {
  const store = memoryApiKeyStore();
  for (const [key, role, tenantId] of [
    [operatorKey, 'OPERATOR', null],
    [tenantKey, 'TENANT', 'tenant-a'],
  ] as const)
    await store.create({ name: role, role, tenantId, prefix: publicPrefix(key), hash: hashApiKey(key) });
  published = [];
  app = await createApp({ name: 'event-processor', logger: pino({ level: 'silent' }), docs: false });
  await registerHttpIngest(app, {
    store,
    publisher: { publish: async (records) => void published.push(...records) },
    maxEventBytes: 4096,
    maxBatchEvents: 3,
    bodyLimitBytes: 16 * 1024,
  });
  await app.ready();
});
afterEach(() => app.close());

const auth = (key = tenantKey) => ({ authorization: `Bearer ${key}` });
const structuredBody = (o: Parameters<typeof aRawEvent>[0] = {}) => structuredRecord(aRawEvent(o)).value!.toString();

describe('POST /v1/events', () => {
  it('accepts a structured-mode event and produces it in binary mode keyed by tenant', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/events',
      headers: { ...auth(), 'content-type': 'application/cloudevents+json' },
      payload: structuredBody({ eventId: 'h-1' }),
    });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({ ids: ['h-1'] });
    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({ key: 'tenant-a', headers: { ce_id: 'h-1', ce_tenantid: 'tenant-a' } });
    expect(JSON.parse(published[0]!.value!.toString())).toEqual(aRawEvent().payload);
  });

  it('accepts binary mode (ce- headers, percent-decoded)', async () => {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(binaryRecord(aRawEvent({ eventId: 'h-2' })).headers))
      headers[k.replace(/^ce_/, 'ce-')] = v;
    headers['ce-subject'] = 'USER/caf%C3%A9';
    const res = await app.inject({
      method: 'POST',
      url: '/v1/events',
      headers: { ...auth(), ...headers },
      payload: JSON.stringify(aRawEvent().payload),
    });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({ ids: ['h-2'] });
    expect(published[0]!.headers.ce_subject).toBe('USER/café');
  });

  it('accepts a batch', async () => {
    const batch = `[${structuredBody({ eventId: 'b-1' })},${structuredBody({ eventId: 'b-2' })}]`;
    const res = await app.inject({
      method: 'POST',
      url: '/v1/events',
      headers: { ...auth(operatorKey), 'content-type': 'application/cloudevents-batch+json' },
      payload: batch,
    });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({ ids: ['b-1', 'b-2'] });
  });

  it('answers 401 without a valid key', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/events',
      headers: { 'content-type': 'application/cloudevents+json' },
      payload: structuredBody(),
    });
    expect(res.statusCode).toBe(401);
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
  });

  it("answers 403 when a tenant key sends another tenant's event, and produces nothing", async () => {
    const batch = `[${structuredBody({ eventId: 'ok' })},${structuredBody({ eventId: 'other', tenantId: 'tenant-b' })}]`;
    const res = await app.inject({
      method: 'POST',
      url: '/v1/events',
      headers: { ...auth(), 'content-type': 'application/cloudevents-batch+json' },
      payload: batch,
    });
    expect(res.statusCode).toBe(403);
    expect(published).toEqual([]);
  });

  it('lets an operator key ingest for any tenant', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/events',
      headers: { ...auth(operatorKey), 'content-type': 'application/cloudevents+json' },
      payload: structuredBody({ tenantId: 'tenant-b' }),
    });
    expect(res.statusCode).toBe(202);
  });

  it.each([
    [
      'a wrong specversion',
      { 'content-type': 'application/cloudevents+json' },
      () => structuredRecord(aRawEvent(), { specversion: '0.3' }).value!.toString(),
      400,
      /INGEST.BAD_SPECVERSION/,
    ],
    [
      'a bad tenant id',
      { 'content-type': 'application/cloudevents+json' },
      () => structuredBody({ tenantId: 'a b' }),
      400,
      /INGEST.BAD_TENANT/,
    ],
    ['malformed JSON', { 'content-type': 'application/cloudevents+json' }, () => '{nope', 400, /INGEST.BAD_JSON/],
    ['a plain JSON body without ce- headers', { 'content-type': 'application/json' }, () => '{}', 415, /binary mode/],
    [
      'an oversized event',
      { 'content-type': 'application/cloudevents+json' },
      () => structuredBody({ payload: { x: 'y'.repeat(5000) } }),
      413,
      /INGEST.TOO_LARGE/,
    ],
    [
      'a batch that is not an array',
      { 'content-type': 'application/cloudevents-batch+json' },
      () => '{}',
      400,
      /JSON array/,
    ],
    [
      'a batch over the event limit',
      { 'content-type': 'application/cloudevents-batch+json' },
      () => `[${[1, 2, 3, 4].map(() => structuredBody()).join(',')}]`,
      413,
      /at most 3/,
    ],
    [
      'a body over the byte limit',
      { 'content-type': 'application/cloudevents-batch+json' },
      () => `[${'x'.repeat(20_000)}]`,
      413,
      /limit/,
    ],
  ])('rejects %s with a problem', async (_name, headers, body, status, detail) => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/events',
      headers: { ...auth(), ...headers },
      payload: body(),
    });
    expect(res.statusCode).toBe(status);
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    const p = res.json() as { detail: string; errors?: { message: string }[] };
    expect(`${p.detail} ${JSON.stringify(p.errors ?? [])}`).toMatch(detail);
    expect(published).toEqual([]);
  });

  it('names the invalid events of a batch by index', async () => {
    const batch = `[${structuredBody()},${structuredRecord(aRawEvent(), { id: 5 }).value!.toString()}]`;
    const res = await app.inject({
      method: 'POST',
      url: '/v1/events',
      headers: { ...auth(), 'content-type': 'application/cloudevents-batch+json' },
      payload: batch,
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().errors).toEqual([{ path: '[1]', message: expect.stringMatching(/INGEST.BAD_ATTRIBUTE_TYPE/) }]);
  });
});
