import { createHmac } from 'node:crypto';
import pino from 'pino';
import { anInboundSource } from '../../test/fixtures/inbound-sources';
import { generateHubKeySpec, parseHubKeys, SecretBox } from '../shared/crypto/secret-box';
import { createApp, type HubApp } from '../shared/http/create-app';
import type { InboundSourceRecord } from '../shared/inbound/inbound-source';
import { topicNames } from '../shared/topics';
import { type InboundDedupe, registerHttpInbound } from './http-inbound';
import type { IngestPublisher } from './ingest-publisher';
import { createEventProcessorMetrics } from './metrics';

const box = new SecretBox(parseHubKeys(generateHubKeySpec('t')));
const SECRET = 'gh-secret-123456';
const github = (o: Partial<InboundSourceRecord> = {}): InboundSourceRecord => {
  const id = o.id ?? '01900000-0000-7000-8000-0000000000a1';
  return anInboundSource({ id, secrets: { current: box.seal(SECRET, id) }, ...o });
};

let app: HubApp;
let published: Parameters<IngestPublisher['publish']>[0];
let publishedFacts: NonNullable<Parameters<IngestPublisher['publish']>[1]>[number][];
let failProduce: boolean;
let sources: Map<string, InboundSourceRecord>;
let metrics: ReturnType<typeof createEventProcessorMetrics>;

/** The dedupe port's contract in memory: a delivery id counts once its produce resolved. */
function memoryDedupe(): InboundDedupe {
  const seen = new Set<string>();
  return {
    async acceptOnce(sourceId, deliveryId, _eventId, produce) {
      const key = `${sourceId}/${deliveryId}`;
      if (seen.has(key)) return 'duplicate';
      await produce();
      seen.add(key);
      return 'accepted';
    },
    prune: async () => 0,
  };
}

beforeEach(async () => {
  published = [];
  publishedFacts = [];
  failProduce = false;
  sources = new Map();
  metrics = createEventProcessorMetrics();
  app = await createApp({ name: 'event-processor', logger: pino({ level: 'silent' }), docs: false });
  await registerHttpInbound(app, {
    sources: { get: async (id) => sources.get(id) },
    dedupe: memoryDedupe(),
    publisher: {
      publish: async (records, facts = []) => {
        if (failProduce) throw new Error('broker unavailable');
        published.push(...records);
        publishedFacts.push(...facts);
      },
    },
    facts: { topics: topicNames('hub').facts, mode: { kind: 'all' } },
    box,
    bodyLimitBytes: 2048,
    maxEventBytes: 4096,
    rateLimitPerMinute: 5,
    metrics,
    retryAfterSeconds: 7,
  });
  await app.ready();
});
afterEach(() => app.close());

function githubRequest(source: InboundSourceRecord, body: string, deliveryId = 'd-1') {
  return app.inject({
    method: 'POST',
    url: `/v1/inbound/${source.id}`,
    headers: {
      'content-type': 'application/json',
      'x-github-event': 'push',
      'x-github-delivery': deliveryId,
      'x-hub-signature-256': `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`,
    },
    payload: body,
  });
}

describe('POST /v1/inbound/{sourceId}', () => {
  it('produces the vendor body keyed by tenant and answers 202, then 200 duplicate for the same delivery', async () => {
    const src = github();
    sources.set(src.id, src);
    const first = await githubRequest(src, '{"ref":"main"}');
    expect(first.statusCode).toBe(202);
    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({ key: 'tenant-a', headers: { ce_type: 'push', ce_id: first.json().id } });
    expect(published[0]!.value!.toString()).toBe('{"ref":"main"}');
    // its WebhookDelivered fact (direction inbound) in the same publish
    expect(publishedFacts).toHaveLength(1);
    expect(publishedFacts[0]).toMatchObject({ topic: 'hub.facts.webhooks.v1', key: 'tenant-a' });
    expect(publishedFacts[0]!.event.data.payload).toEqual({
      direction: 'inbound',
      webhookEventId: first.json().id,
      inboundSourceId: src.id,
      deliveryId: 'd-1',
      receivedAt: expect.any(String),
    });
    const again = await githubRequest(src, '{"ref":"main"}');
    expect({ status: again.statusCode, body: again.json() }).toEqual({
      status: 200,
      body: { id: first.json().id, duplicate: true },
    });
    expect(published).toHaveLength(1);
    expect(publishedFacts).toHaveLength(1); // a duplicate is no new acceptance
  });

  it('FACTS_DELIVERED=none: the event is produced without a fact', async () => {
    const none = await createApp({ name: 'event-processor', logger: pino({ level: 'silent' }), docs: false });
    const seen: { records: number; facts: number }[] = [];
    await registerHttpInbound(none, {
      sources: { get: async (id) => sources.get(id) },
      dedupe: memoryDedupe(),
      publisher: {
        publish: async (records, facts = []) => void seen.push({ records: records.length, facts: facts.length }),
      },
      box,
      bodyLimitBytes: 2048,
      maxEventBytes: 4096,
      rateLimitPerMinute: 5,
      facts: { topics: topicNames('hub').facts, mode: { kind: 'none' } },
    });
    const src = github();
    sources.set(src.id, src);
    const body = '{"ref":"main"}';
    const res = await none.inject({
      method: 'POST',
      url: `/v1/inbound/${src.id}`,
      headers: {
        'content-type': 'application/json',
        'x-github-event': 'push',
        'x-github-delivery': 'd-none',
        'x-hub-signature-256': `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`,
      },
      payload: body,
    });
    await none.close();
    expect(res.statusCode).toBe(202);
    expect(seen).toEqual([{ records: 1, facts: 0 }]);
  });

  it('answers 503 with Retry-After when the event cannot be produced, and accepts the retry', async () => {
    const src = github();
    sources.set(src.id, src);
    failProduce = true;
    const res = await githubRequest(src, '{}');
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('7');
    expect(res.headers['content-type']).toMatch(/problem\+json/);
    failProduce = false;
    expect((await githubRequest(src, '{}')).statusCode).toBe(202);
    expect(publishedFacts.map((f) => f.event.data.payload.webhookEventId)).toEqual([published[0]!.headers.ce_id]);
  });

  it('checks in order: size, rate limit, source, IP allow-list, signature', async () => {
    const fenced = github({ allowedCidrs: ['10.0.0.0/8'] });
    sources.set(fenced.id, fenced);
    // Too large: 413 before anything else (the source is fenced, the signature would be fine).
    expect((await githubRequest(fenced, JSON.stringify({ pad: 'x'.repeat(3000) }))).statusCode).toBe(413);
    // Fenced: 403 even with a valid signature (inject comes from 127.0.0.1).
    expect((await githubRequest(fenced, '{}')).statusCode).toBe(403);
    // Unknown source: 404.
    expect((await githubRequest(github({ id: '01900000-0000-7000-8000-0000000000ff' }), '{}')).statusCode).toBe(404);
    // Rate limit per source, 5 a minute: the fenced source had 1 call so far (the 413 never reached the handler).
    for (let i = 0; i < 4; i++) expect((await githubRequest(fenced, '{}')).statusCode).toBe(403);
    const limited = await githubRequest(fenced, '{}');
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(published).toHaveLength(0);
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/hub_inbound_refused_total\{reason="ip_not_allowed"\} 5/);
    expect(text).toMatch(/hub_inbound_refused_total\{reason="rate_limited"\} 1/);
    expect(text).toMatch(/hub_inbound_refused_total\{reason="unknown_source"\} 1/);
  });

  it('answers 400 with field errors when the request lacks what the source maps, and produces nothing', async () => {
    const src = github();
    sources.set(src.id, src);
    const body = '{}';
    const res = await app.inject({
      method: 'POST',
      url: `/v1/inbound/${src.id}`,
      headers: {
        'content-type': 'application/json',
        'x-hub-signature-256': `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`,
      },
      payload: body,
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().errors.map((e: { path: string }) => e.path)).toEqual(['dedupe', 'mapping.eventType']);
    expect(published).toHaveLength(0);
  });

  it("answers Slack's signed url_verification with its challenge and produces nothing", async () => {
    const id = '01900000-0000-7000-8000-0000000000b2';
    const slack = github({
      id,
      verification: { scheme: 'SLACK', toleranceSeconds: 300 },
      secrets: { current: box.seal('slack-signing-secret', id) },
    });
    sources.set(id, slack);
    const body = JSON.stringify({ token: 't', challenge: 'ch-123', type: 'url_verification' });
    const ts = String(Math.floor(Date.now() / 1000));
    const res = await app.inject({
      method: 'POST',
      url: `/v1/inbound/${id}`,
      headers: {
        'content-type': 'application/json',
        'x-slack-request-timestamp': ts,
        'x-slack-signature': `v0=${createHmac('sha256', 'slack-signing-secret').update(`v0:${ts}:${body}`).digest('hex')}`,
      },
      payload: body,
    });
    expect({ status: res.statusCode, body: res.json() }).toEqual({ status: 200, body: { challenge: 'ch-123' } });
    expect(published).toHaveLength(0);
  });
});
