/**
 * Inbound webhooks end to end (issue 19): vendors call `POST /v1/inbound/{sourceId}` on the real event-processor
 * (real broker, real Postgres); the outbox-processor (in-process harness) delivers the normalised events to a real
 * HTTP subscriber of the source's tenant.
 *
 *   per scheme:  a request signed as the vendor signs it -> 202 {id} -> the subscriber receives the vendor body
 *                byte for byte, webhook-id = the deterministic id, ce-type from the mapping
 *   refused:     tampered body, wrong secret, stale timestamp, disallowed IP, unknown source -> 4xx problem+json;
 *                a valid sentinel sent afterwards is the only record of that tenant on the ingest topic
 *   dedupe:      the same vendor delivery sent again (and twice at once) -> 200 duplicate, 1 record, 1 delivery
 *   poison:      oversized body 413, signed invalid JSON 400 with the field, a header bomb 431; the edge keeps serving
 *   facts:       each accepted request has one WebhookDelivered fact (direction inbound, issue 18) on the facts topic,
 *                valid and with the cs-* headers, for exactly the events on the ingest topic; a duplicate and a
 *                refused request have none (a sentinel accepted last proves it)
 */
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { loadEventProcessorConfig } from '../../pipeline/event-processor/config';
import { inboundEventId } from '../../pipeline/event-processor/inbound-event';
import { type EventProcessor, startEventProcessor } from '../../pipeline/event-processor/main';
import type { Principal } from '../../pipeline/shared/auth/api-key';
import { FACT_TYPES, type FactCloudEvent } from '../../pipeline/shared/facts/fact';
import { topicNames } from '../../pipeline/shared/topics';
import { InboundSourceRepositoryPrisma } from '../../subscription-api/inbound-source-repository.prisma';
import type { CreateInboundSourceInput } from '../../subscription-api/inbound-source-schemas';
import { createInboundSourceService, type InboundSourceService } from '../../subscription-api/inbound-sources';
import { type Harness, startHarness } from '../outbox-processor/harness';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { validateFact } from '../support/fact-schemas';
import { consumeUntil, type VendorScheme, vendorRequest } from '../support/inbound';
import { brokers, waitFor } from '../support/kafka';
import { type Receiver, startReceiver } from '../support/receiver';

jest.setTimeout(120_000);

const OPERATOR: Principal = { keyId: 'test', role: 'OPERATOR', name: 'test' };
const ANY = { sourceService: '*', eventType: '*', resourceType: '*', operationType: '*' };

let db: TestDatabase;
let hub: Harness;
let receiver: Receiver;
let processor: EventProcessor;
let sources: InboundSourceService;
let ingestTopic: string;
const tenant = `in-${randomUUID().slice(0, 8)}`;

beforeAll(async () => {
  db = await createTestDatabase();
  hub = await startHarness();
  receiver = await startReceiver();
  const sub = await hub.subscribe({ tenantId: tenant, match: ANY, endpointUrl: receiver.url });
  ingestTopic = `${hub.prefix}.platform.events.v1`;
  const config = loadEventProcessorConfig({
    KAFKA_BROKERS: brokers().join(','),
    TOPIC_PREFIX: hub.prefix,
    INGEST_TOPICS: ingestTopic,
    GROUP_ID: `${hub.prefix}-processor`,
    INSTANCE_ID: 'test-0',
    PORT: '0',
    GRPC_ENABLED: 'false',
    HOST: '127.0.0.1',
    TOPIC_PARTITIONS: '3',
    KAFKA_SESSION_TIMEOUT_MS: '6000',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    DATABASE_URL: db.url,
    HUB_ENCRYPTION_KEYS: hub.keySpec,
    INBOUND_SOURCE_CACHE_TTL_MS: '0',
    INBOUND_BODY_LIMIT_BYTES: String(64 * 1024),
  });
  processor = await startEventProcessor(config, pino({ level: config.LOG_LEVEL }));
  await waitFor(() => processor.directory.get(sub.id), { what: 'the subscription in the event-processor' });
  sources = createInboundSourceService({
    repository: new InboundSourceRepositoryPrisma(db.prisma),
    box: hub.box,
    rotationOverlapMs: 3600_000,
    publicBaseUrl: `http://127.0.0.1:${processor.port}`,
  });
});

afterAll(async () => {
  await processor?.stop();
  await hub?.stop();
  await receiver?.close();
  await db?.drop();
});

async function aSource(
  verification: CreateInboundSourceInput['verification'],
  more: Partial<CreateInboundSourceInput> = {},
) {
  const { record, secret } = await sources.create(OPERATOR, {
    tenantId: tenant,
    name: `src-${verification.scheme}`,
    verification,
    allowedCidrs: [],
    mapping: {},
    ...more,
  });
  return { id: record.id, secret: secret ?? '', url: sources.view(record).url };
}

async function send(url: string, req: { headers: Record<string, string>; body: string }) {
  const res = await fetch(url, { method: 'POST', headers: req.headers, body: req.body });
  return {
    status: res.status,
    type: res.headers.get('content-type') ?? '',
    retryAfter: res.headers.get('retry-after'),
    body: (await res.json()) as Record<string, unknown>,
  };
}

const deliveredWithId = (id: string) => receiver.received.filter((r) => r.headers['webhook-id'] === id);

const VERIFICATIONS: [VendorScheme, CreateInboundSourceInput['verification'], Partial<CreateInboundSourceInput>][] = [
  ['STANDARD_WEBHOOKS', { scheme: 'STANDARD_WEBHOOKS', toleranceSeconds: 300 }, {}],
  ['GITHUB', { scheme: 'GITHUB' }, {}],
  ['STRIPE', { scheme: 'STRIPE', toleranceSeconds: 300 }, {}],
  ['SLACK', { scheme: 'SLACK', toleranceSeconds: 300 }, {}],
  [
    'HMAC_SHA256',
    { scheme: 'HMAC_SHA256', header: 'X-Signature', encoding: 'hex', prefix: 'sha256=' },
    { dedupe: { jsonPointer: '/deliveryId' }, mapping: { eventType: { jsonPointer: '/event' } } },
  ],
  [
    'BASIC',
    { scheme: 'BASIC', username: 'vendor' },
    { dedupe: { jsonPointer: '/deliveryId' }, mapping: { eventType: { jsonPointer: '/event' } } },
  ],
  ['BEARER', { scheme: 'BEARER' }, { dedupe: null, mapping: { eventType: { value: 'crm.changed' } } }],
];

describe('inbound webhooks (event-processor POST /v1/inbound/{sourceId})', () => {
  it.each(VERIFICATIONS)(
    '%s: a request signed as the vendor signs it is delivered to the tenant subscriber',
    async (scheme, verification, more) => {
      const source = await aSource(verification, more);
      const deliveryId = `d-${randomUUID()}`;
      const req = vendorRequest(scheme, source.secret, { deliveryId });
      const res = await send(source.url, req);
      expect(res).toMatchObject({ status: 202, body: { id: expect.any(String) } });
      const id = res.body.id as string;
      if (more.dedupe !== null) expect(id).toBe(inboundEventId(source.id, deliveryId));

      const [delivered] = await waitFor(() => (deliveredWithId(id).length > 0 ? deliveredWithId(id) : undefined), {
        what: `delivery of ${scheme} ${id}`,
        timeoutMs: 30_000,
      });
      expect(delivered!.body.toString()).toBe(req.body);
      expect(delivered!.headers).toMatchObject({
        'ce-id': id,
        'ce-tenantid': tenant,
        'ce-inboundsource': source.id,
        'ce-source': expect.stringContaining(`/inbound/${source.id}`),
        'content-type': 'application/json',
      });
      const expectedType = {
        GITHUB: 'issues',
        HMAC_SHA256: 'contact.updated',
        BASIC: 'contact.updated',
        BEARER: 'crm.changed',
      }[scheme as string];
      expect(delivered!.headers['ce-type']).toBe(expectedType ?? (scheme === 'SLACK' ? 'app_mention' : 'invoice.paid'));
    },
  );

  it('NONE: accepted from an allow-listed address only', async () => {
    const source = await aSource(
      { scheme: 'NONE' },
      { allowedCidrs: ['127.0.0.0/8', '::1/128'], mapping: { eventType: { value: 'ping' } } },
    );
    const res = await send(source.url, { headers: { 'content-type': 'application/json' }, body: '{"n":1}' });
    expect(res).toMatchObject({ status: 202 });
    await waitFor(() => deliveredWithId(res.body.id as string).length === 1, { what: 'the NONE delivery' });
  });

  it('refuses a tampered body, a wrong secret, a stale timestamp, a disallowed IP and an unknown source; produces none of them', async () => {
    const stripe = await aSource({ scheme: 'STRIPE', toleranceSeconds: 300 });
    const fenced = await aSource({ scheme: 'GITHUB' }, { allowedCidrs: ['10.0.0.0/8'] });
    const valid = vendorRequest('STRIPE', stripe.secret, { deliveryId: `evt_${randomUUID()}` });
    const refusals = [
      ['tampered body', stripe.url, { ...valid, body: valid.body.replace('invoice.paid', 'invoice.void') }, 401],
      ['wrong secret', stripe.url, vendorRequest('STRIPE', 'whsec_wrong', { deliveryId: 'evt_w' }), 401],
      [
        'stale timestamp',
        stripe.url,
        vendorRequest('STRIPE', stripe.secret, { deliveryId: 'evt_s', at: new Date(Date.now() - 301_000) }),
        401,
      ],
      ['no signature', stripe.url, { headers: { 'content-type': 'application/json' }, body: valid.body }, 401],
      ['disallowed IP', fenced.url, vendorRequest('GITHUB', fenced.secret, { deliveryId: 'gh-ip' }), 403],
      ['unknown source', stripe.url.replace(stripe.id, randomUUID()), valid, 404],
    ] as const;
    for (const [what, url, req, status] of refusals) {
      const res = await send(url, req);
      expect({ what, status: res.status, type: res.type }).toEqual({
        what,
        status,
        type: expect.stringMatching(/application\/problem\+json/),
      });
    }
    const metrics = await (await fetch(`http://127.0.0.1:${processor.port}/metrics`)).text();
    expect(metrics).toMatch(/hub_inbound_refused_total\{reason="bad_signature"\} [2-9]/);
    expect(metrics).toMatch(/hub_inbound_refused_total\{reason="timestamp_out_of_tolerance"\} [1-9]/);
    expect(metrics).toMatch(/hub_inbound_refused_total\{reason="ip_not_allowed"\} [1-9]/);

    // The sentinel: the valid request, sent last. Same tenant = same key = same partition as anything refused.
    const accepted = await send(stripe.url, valid);
    expect(accepted.status).toBe(202);
    const records = await consumeUntil(ingestTopic, (r) => r.headers.ce_id === accepted.body.id);
    const fromTheseSources = records.filter((r) => [stripe.id, fenced.id].includes(r.headers.ce_inboundsource ?? ''));
    expect(fromTheseSources.map((r) => r.headers.ce_id)).toEqual([accepted.body.id]);
  });

  it('a vendor retry with the same delivery id fans out once', async () => {
    const gh = await aSource({ scheme: 'GITHUB' });
    const deliveryId = `gh-${randomUUID()}`;
    const req = vendorRequest('GITHUB', gh.secret, { deliveryId });
    const first = await send(gh.url, req);
    const [again, concurrent1, concurrent2] = await Promise.all([
      send(gh.url, req),
      send(gh.url, req),
      send(gh.url, req),
    ]);
    const id = inboundEventId(gh.id, deliveryId);
    expect(first).toMatchObject({ status: 202, body: { id } });
    for (const r of [again, concurrent1, concurrent2])
      expect(r).toMatchObject({ status: 200, body: { id, duplicate: true } });

    const sentinel = await send(gh.url, vendorRequest('GITHUB', gh.secret, { deliveryId: `gh-${randomUUID()}` }));
    const records = await consumeUntil(ingestTopic, (r) => r.headers.ce_id === sentinel.body.id);
    expect(records.filter((r) => r.headers.ce_id === id)).toHaveLength(1);
    await waitFor(() => deliveredWithId(sentinel.body.id as string).length === 1, { what: 'the sentinel delivery' });
    await waitFor(() => deliveredWithId(id).length === 1, { what: 'the one delivery of the retried event' });
  });

  it('answers poison with 4xx and keeps serving: oversized body, signed invalid JSON, a header bomb', async () => {
    const stripe = await aSource({ scheme: 'STRIPE', toleranceSeconds: 300 });
    const big = vendorRequest('STRIPE', stripe.secret, {
      deliveryId: 'evt_big',
      body: JSON.stringify({ id: 'evt_big', type: 'x', pad: 'x'.repeat(70 * 1024) }),
    });
    expect(await send(stripe.url, big)).toMatchObject({ status: 413, type: expect.stringMatching(/problem\+json/) });
    const notJson = vendorRequest('STRIPE', stripe.secret, {
      deliveryId: 'evt_bad',
      body: '{"id": "evt_bad", "type":',
    });
    const bad = await send(stripe.url, notJson);
    expect(bad).toMatchObject({ status: 400, body: { errors: [{ path: 'dedupe' }, { path: 'mapping.eventType' }] } });
    const bomb: Record<string, string> = { ...notJson.headers };
    for (let i = 0; i < 400; i++) bomb[`x-bomb-${i}`] = 'y'.repeat(100);
    const bombed = await fetch(stripe.url, { method: 'POST', headers: bomb, body: notJson.body }).then(
      (r) => r.status,
      () => 'closed',
    );
    expect(bombed).toBe(431);

    // Still serving: a valid delivery is accepted, and it is the only record of this source on the ingest topic.
    const ok = await send(stripe.url, vendorRequest('STRIPE', stripe.secret, { deliveryId: `evt_${randomUUID()}` }));
    expect(ok.status).toBe(202);
    const records = await consumeUntil(ingestTopic, (r) => r.headers.ce_id === ok.body.id);
    expect(records.filter((r) => r.headers.ce_inboundsource === stripe.id).map((r) => r.headers.ce_id)).toEqual([
      ok.body.id,
    ]);
  });

  it('each accepted request has one WebhookDelivered fact (direction inbound); a duplicate or a refused one none', async () => {
    const gh = await aSource({ scheme: 'GITHUB' });
    const factsTopic = topicNames(hub.prefix).facts.webhooks;
    const a = vendorRequest('GITHUB', gh.secret, { deliveryId: `gh-${randomUUID()}` });
    const first = await send(gh.url, a);
    expect(first.status).toBe(202);
    expect((await send(gh.url, a)).status).toBe(200); // the vendor's retry: a duplicate, not a new acceptance
    const refused = [
      { ...a, body: a.body.replace('opened', 'closed') }, // tampered: the signature does not match
      vendorRequest('GITHUB', 'wrong-secret', { deliveryId: `gh-${randomUUID()}` }),
    ];
    for (const r of refused) expect((await send(gh.url, r)).status).toBe(401);
    const second = await send(gh.url, vendorRequest('GITHUB', gh.secret, { deliveryId: `gh-${randomUUID()}` }));
    expect(second.status).toBe(202);
    // The sentinel, accepted last: same tenant = same key = same partition as every fact before it.
    const sentinel = await send(gh.url, vendorRequest('GITHUB', gh.secret, { deliveryId: `gh-${randomUUID()}` }));
    expect(sentinel.status).toBe(202);
    const accepted = [first, second, sentinel].map((r) => r.body.id as string);

    const records = (
      await consumeUntil(factsTopic, (r) => JSON.parse(r.value!.toString()).data.payload.webhookEventId === accepted[2])
    ).filter((r) => JSON.parse(r.value!.toString()).subject === gh.id);
    const facts = records.map((r) => {
      const e = JSON.parse(r.value!.toString('utf8')) as FactCloudEvent;
      expect(validateFact(e)).toEqual([]);
      expect(r.key).toBe(tenant);
      expect(r.headers).toMatchObject({
        'cs-event-type': FACT_TYPES.delivered,
        'cs-tenant-id': tenant,
        'cs-trace-id': e.data.traceId,
        'cs-correlation-id': e.data.correlationId,
        'cs-schema-version': '1',
      });
      return e;
    });
    // once per accepted request, in the order accepted; nothing for the duplicate or the refused ones
    expect(facts.map((e) => e.data.payload.webhookEventId)).toEqual(accepted);
    expect(new Set(facts.map((e) => e.id)).size).toBe(3);
    expect(facts[0]).toMatchObject({
      type: FACT_TYPES.delivered,
      source: '//integration-hub/inbound',
      subject: gh.id,
      correlationid: accepted[0],
      data: {
        fact: 'WebhookDelivered',
        tenantId: tenant,
        payload: { direction: 'inbound', webhookEventId: accepted[0], inboundSourceId: gh.id },
      },
    });
    // linked to the event it became: the same trace as the event's traceparent on the ingest topic
    const events = (await consumeUntil(ingestTopic, (r) => r.headers.ce_id === accepted[2])).filter(
      (r) => r.headers.ce_inboundsource === gh.id,
    );
    expect(events.map((r) => r.headers.ce_id)).toEqual(accepted); // accepted <=> event <=> fact
    for (const [i, e] of facts.entries()) expect(events[i]!.headers.ce_traceparent).toContain(e.data.traceId);
  });
});
