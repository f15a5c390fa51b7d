import type { EventProcessor } from '../../pipeline/event-processor/main';
import { generateApiKey, hashApiKey, publicPrefix } from '../../pipeline/shared/auth/api-key';
import { ApiKeyStorePrisma } from '../../pipeline/shared/auth/api-key-store.prisma';
import { aRawEvent, binaryRecord, structuredRecord } from '../fixtures/platform-events';
import { aSnapshot } from '../fixtures/subscriptions';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { consumeAll } from '../support/kafka';
import { aScenario, publishSubscriptions, startProcessor } from './harness';

let db: TestDatabase;
let processor: EventProcessor | undefined;
const tenantKey = generateApiKey();
const operatorKey = generateApiKey();

beforeAll(async () => {
  db = await createTestDatabase();
  const store = new ApiKeyStorePrisma(db.prisma);
  await store.create({
    name: 'tenant a',
    role: 'TENANT',
    tenantId: 'tenant-a',
    prefix: publicPrefix(tenantKey),
    hash: hashApiKey(tenantKey),
  });
  await store.create({
    name: 'ops',
    role: 'OPERATOR',
    tenantId: null,
    prefix: publicPrefix(operatorKey),
    hash: hashApiKey(operatorKey),
  });
});
afterAll(async () => {
  await processor?.stop();
  await db.drop();
});

async function post(body: string, headers: Record<string, string>) {
  const res = await fetch(`http://127.0.0.1:${processor!.port}/v1/events`, { method: 'POST', headers, body });
  return {
    status: res.status,
    type: res.headers.get('content-type') ?? '',
    body: (await res.json()) as Record<string, unknown>,
  };
}

describe('event-processor HTTP ingest', () => {
  it('authenticates with registry API keys, produces accepted events to the ingest topic and fans them out', async () => {
    const s = aScenario('http');
    await publishSubscriptions(s, [aSnapshot({ id: 'sub-1' }), aSnapshot({ id: 'b-sub', tenantId: 'tenant-b' })]);
    processor = await startProcessor(s, { DATABASE_URL: db.url, MAX_EVENT_BYTES: '4096' });

    const structured = structuredRecord(aRawEvent({ eventId: 'http-structured' })).value!.toString();
    const accepted = await post(structured, {
      authorization: `Bearer ${tenantKey}`,
      'content-type': 'application/cloudevents+json',
    });
    expect(accepted).toMatchObject({ status: 202, body: { ids: ['http-structured'] } });

    const binaryHeaders: Record<string, string> = { 'x-api-key': tenantKey };
    for (const [k, v] of Object.entries(binaryRecord(aRawEvent({ eventId: 'http-binary' })).headers))
      binaryHeaders[k.replace(/^ce_/, 'ce-')] = v;
    expect((await post(JSON.stringify(aRawEvent().payload), binaryHeaders)).status).toBe(202);

    const batch = `[${structuredRecord(aRawEvent({ eventId: 'http-b1', tenantId: 'tenant-b' })).value},${structuredRecord(aRawEvent({ eventId: 'http-b2' })).value}]`;
    expect(
      await post(batch, {
        authorization: `Bearer ${operatorKey}`,
        'content-type': 'application/cloudevents-batch+json',
      }),
    ).toMatchObject({ status: 202, body: { ids: ['http-b1', 'http-b2'] } });

    // Rejections: nothing of these reaches the topic.
    const forbidden = await post(
      structuredRecord(aRawEvent({ eventId: 'http-foreign', tenantId: 'tenant-b' })).value!.toString(),
      {
        authorization: `Bearer ${tenantKey}`,
        'content-type': 'application/cloudevents+json',
      },
    );
    expect(forbidden.status).toBe(403);
    expect(forbidden.type).toMatch(/problem\+json/);
    const unknownKey = await post(structured, {
      authorization: `Bearer ${generateApiKey()}`,
      'content-type': 'application/cloudevents+json',
    });
    expect(unknownKey.status).toBe(401);
    const invalid = await post(
      structuredRecord(aRawEvent({ eventId: 'http-bad' }), { specversion: '0.3' }).value!.toString(),
      {
        authorization: `Bearer ${tenantKey}`,
        'content-type': 'application/cloudevents+json',
      },
    );
    expect(invalid).toMatchObject({ status: 400, body: { detail: expect.stringMatching(/INGEST.BAD_SPECVERSION/) } });
    const oversized = await post(
      structuredRecord(aRawEvent({ eventId: 'http-big', payload: { x: 'y'.repeat(5000) } })).value!.toString(),
      {
        authorization: `Bearer ${tenantKey}`,
        'content-type': 'application/cloudevents+json',
      },
    );
    expect(oversized.status).toBe(413);

    const ingested = await consumeAll(s.ingestTopic, { count: 4, settleMs: 1000 });
    expect(ingested.map((r) => `${r.key}:${r.headers.ce_id}`).sort()).toEqual([
      'tenant-a:http-b2',
      'tenant-a:http-binary',
      'tenant-a:http-structured',
      'tenant-b:http-b1',
    ]);
    const out = await consumeAll(s.topics.allOutbox(), { count: 4, settleMs: 1000 });
    expect(out.map((r) => `${r.headers.ce_id}->${r.headers['hub-subscription-id']}`).sort()).toEqual([
      'http-b1->b-sub',
      'http-b2->sub-1',
      'http-binary->sub-1',
      'http-structured->sub-1',
    ]);
  });
});
