/**
 * Scenario 7 - poison corpus. The whole hub as real processes; one subscription of tenant T to a real,
 * signature-verifying subscriber.
 *
 *   Kafka:  good, poison, good, poison, ..., good  (one partition, so quarantine order = corpus order)
 *           poison = the 28 kinds of the decode-input catalogue + broken registry framing (against the real
 *           registry of the test run) + unicode edge cases -> each on `<prefix>.quarantine.v1` with its code and
 *           a reason.
 *   HTTP:   good, bad, good, bad, ..., good on POST /v1/events -> each bad body answered 4xx
 *           application/problem+json with a reason (bad JSON, bad attributes, wrong content types, oversized,
 *           unicode edge cases; and fastify's routing errors: an over-long path id, an unknown route); nothing of
 *           it reaches the ingest topic.
 *   Inbound: good, bad, good, ... on POST /v1/inbound/{sourceId} of a Stripe-signed source: an oversized signed
 *           body (413), signed invalid JSON (400), a wrong secret and a tampered body (401), an unknown source (404),
 *           a header bomb (431 from Node's parser) -> nothing produced.
 *   gRPC:   good, bad, good, ... on IngestService.PublishEvent(s) through a raw-bytes client: bytes that are not
 *           protobuf, a message above the gRPC cap, CloudEvents missing required attributes or with wrongly typed
 *           extensions -> INVALID_ARGUMENT with field violations / RESOURCE_EXHAUSTED; then one PublishStream of
 *           good, garbage, good -> acks OK, INVALID_ARGUMENT, OK. Nothing refused is produced or quarantined, and
 *           the server still answers grpc.health.v1 SERVING.
 *   Every good event (Kafka, HTTP and gRPC, some with unicode payloads and attributes) is delivered, signature valid,
 *   payload byte-identical, within 5 s of being sent. The long profile sends the corpus several rounds.
 */
import { randomUUID } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { type DemoSubscriber, startDemoSubscriber } from '../../scripts/demo/demo-subscriber';
import { registerPlatformSchemas } from '../../scripts/register-schemas';
import {
  cloudEventAttributes,
  type FixtureRecord,
  type PoisonCase,
  poisonCases,
  protoEvent,
  type RawPlatformEvent,
  rawRecord,
  structuredRecord,
} from '../fixtures/platform-events';
import { healthStatus } from '../support/grpc';
import { consumeAll, waitFor } from '../support/kafka';
import { testRegistry, testRegistryUrl } from '../support/schema-registry';
import { pick } from './profile';
import { recordScenario } from './report';
import {
  encodeEvent,
  encodeStreamFrame,
  type GrpcAnswer,
  grpcPoisonCases,
  rawIngestClient,
} from './support/grpc-poison-corpus';
import {
  type HttpPoisonCase,
  httpPoisonCases,
  type IngestResponse,
  inboundPoisonCases,
  ingestHttp,
  kafkaPoisonExtras,
} from './support/input-poison-corpus';
import { aUserCreated, type SecurityHub, startSecurityHub, USER_CREATE, untilLive } from './support/security-hub';

jest.setTimeout(300_000);

const ROUNDS = pick(1, 4);
const MAX_DELAY_MS = 5_000;
const CE_JSON = { 'content-type': 'application/cloudevents+json' };
const GRPC_LIMITS = { maxMessageBytes: 256 * 1024, maxEventBytes: 64 * 1024 };

describe('reliability 7: poison corpus', () => {
  let h: SecurityHub;
  let sub: DemoSubscriber;

  beforeAll(async () => {
    sub = await startDemoSubscriber();
    h = await startSecurityHub({
      name: 'rel-poison',
      serviceEnv: {
        'event-processor': {
          SCHEMA_REGISTRY_URL: testRegistryUrl(),
          MAX_EVENT_BYTES: String(GRPC_LIMITS.maxEventBytes),
          GRPC_MAX_MESSAGE_BYTES: String(GRPC_LIMITS.maxMessageBytes),
          HTTP_BODY_LIMIT_BYTES: String(128 * 1024),
          HTTP_MAX_BATCH_EVENTS: '50',
        },
      },
    });
  }, 180_000);

  afterAll(async () => {
    await h?.stop();
    await sub?.stop();
  }, 60_000);

  it('quarantines or rejects every malformed input and delivers every good one around them within 5 s', () =>
    h.withLogs(async () => {
      const registryClient = testRegistry();
      const ids = await registerPlatformSchemas(registryClient, h.hub.topics.ingest);
      const { tenantId, key, client: tenant } = await h.tenant();
      const created = await tenant.createSubscription({ match: USER_CREATE, endpointUrl: sub.endpointUrl('poison') });
      sub.configure('poison', { secret: created.signingSecret });
      await untilLive(h, tenantId, (id) => sub.deliveredIds('poison').has(id));

      // An inbound source of the tenant (a Stripe-signed vendor), for the inbound webhook poison below.
      const sourceRes = await fetch(`${h.urls.subscriptionApi}/v1/inbound-sources`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'poison vendor', verification: { scheme: 'STRIPE', toleranceSeconds: 300 } }),
      });
      if (sourceRes.status !== 201) throw new Error(`inbound source not created: ${sourceRes.status}`);
      const sourceCreated = (await sourceRes.json()) as { id: string; secret: { value: string } };
      const source = { id: sourceCreated.id, secret: sourceCreated.secret.value };

      const sentAt = new Map<string, number>();
      const goods = new Map<string, RawPlatformEvent>();
      const good = (i: number) => {
        const e = aUserCreated(tenantId, i % 3 === 0 ? { payload: UNICODE_PAYLOAD, resourceId: 'ü-ñ-😀' } : {});
        goods.set(e.eventId, e);
        return e;
      };

      // Round after round (the long profile repeats the corpus; the scenario is about poison among good records,
      // not about one burst - bursts are scenarios 1-6): Kafka, then HTTP.
      const kafkaPoison: PoisonCase[] = [];
      const kafkaGood = new Set<string>();
      const expectedOffsets: number[] = [];
      const httpPoison: HttpPoisonCase[] = [];
      const rejected: {
        name: string;
        status: number;
        expected: number;
        problem: boolean;
        reason: string;
        /** Node's HTTP parser answers a header bomb itself (431, no body): no problem+json to expect there. */
        bare?: boolean;
      }[] = [];
      const goodHttp = async () => {
        const e = good(goods.size);
        sentAt.set(e.eventId, Date.now());
        const ok = await ingestHttp(h.urls.eventApi, key, CE_JSON, structuredRecord(e).value!);
        if (ok.status !== 202) throw new Error(`a good HTTP event was refused: ${ok.status} ${ok.text}`);
      };
      const grpcAddress = h.hub.urls['event-processor'].grpc!;
      const grpc = rawIngestClient(grpcAddress, key);
      const grpcGood = new Set<string>();
      const grpcRefused: ({ name: string; expected: status } & GrpcAnswer)[] = [];
      const streamAcks: string[] = [];
      const goodGrpc = async () => {
        const e = good(goods.size);
        grpcGood.add(e.eventId);
        sentAt.set(e.eventId, Date.now());
        const ok = await grpc.unary('PublishEvent', encodeEvent(protoEvent(e)));
        if (ok.code !== status.OK) throw new Error(`a good gRPC event was refused: ${status[ok.code]} ${ok.details}`);
      };
      for (let r = 0; r < ROUNDS; r++) {
        // Kafka: good, poison, good, ..., good on one partition.
        const round = [
          ...poisonCases((n) => `poison-${r}-${n}-${randomUUID().slice(0, 4)}`),
          ...(await kafkaPoisonExtras(registryClient, ids)),
        ];
        const records: FixtureRecord[] = [];
        const roundGood: string[] = [];
        for (const p of round) {
          const e = good(goods.size);
          roundGood.push(e.eventId);
          records.push(rawRecord(e), p.record);
        }
        const e = good(goods.size);
        roundGood.push(e.eventId);
        records.push(rawRecord(e));
        const before = await partitionEnd(h, h.hub.topics.ingest);
        for (let k = 0; k < round.length; k++) expectedOffsets.push(before + 2 * k + 1);
        kafkaPoison.push(...round);
        const t0 = Date.now();
        for (const id of roundGood) {
          kafkaGood.add(id);
          sentAt.set(id, t0);
        }
        await h.produce(records, 0);

        // HTTP: good, bad, good, ..., good.
        const bad = httpPoisonCases(tenantId);
        httpPoison.push(...bad);
        // Each bad request between good ones; its answer recorded.
        const refuse = async (
          b: { name: string; status: number; bare?: boolean },
          send: () => Promise<IngestResponse>,
        ) => {
          await goodHttp();
          const res = await send();
          const problem = parseProblem(res);
          rejected.push({
            name: b.name,
            status: res.status,
            expected: b.status,
            problem: problem !== undefined,
            reason: problem?.detail ?? problem?.title ?? '',
            bare: b.bare,
          });
        };
        for (const b of bad)
          await refuse(b, () => ingestHttp(h.urls[b.target?.service ?? 'eventApi'], key, b.headers, b.body, b.target));
        // Inbound webhooks (POST /v1/inbound/{sourceId}).
        for (const b of inboundPoisonCases(source, randomUUID().slice(0, 8)))
          await refuse(b, () => ingestHttp(h.urls.eventApi, key, b.headers, b.body, { method: 'POST', path: b.path }));
        await goodHttp();

        // gRPC: good, bad, good, ..., good; then a stream of good, garbage, good.
        for (const b of grpcPoisonCases(tenantId, GRPC_LIMITS)) {
          await goodGrpc();
          grpcRefused.push({ name: b.name, expected: b.expected, ...(await grpc.unary(b.method, b.bytes)) });
        }
        await goodGrpc();
        const streamed = [good(goods.size), good(goods.size + 1)];
        for (const e of streamed) {
          goods.set(e.eventId, e);
          grpcGood.add(e.eventId);
          sentAt.set(e.eventId, Date.now());
        }
        const { acks, end } = await grpc.stream([
          encodeStreamFrame(protoEvent(streamed[0]!)),
          Buffer.from([0x0f, 0x01, 0x02]),
          encodeStreamFrame(protoEvent(streamed[1]!)),
        ]);
        streamAcks.push(
          ...acks.map((a) => `${a.sequence}:${status[a.result?.status?.code ?? -1]}`),
          `end:${status[end.code]}`,
        );
      }
      grpc.close();
      const grpcHealth = await healthStatus(grpcAddress).catch((err: Error) => `unreachable: ${err.message}`);

      // Quarantine: exactly the Kafka poison, in order, each with its code and a reason.
      const quarantineTopic = h.hub.topics.all.find((t) => t.endsWith('.quarantine.v1'))!;
      // Too few records is a finding, not an error: read what is there and let the figures show it.
      const quarantined = await consumeAll(quarantineTopic, {
        count: kafkaPoison.length,
        settleMs: 1500,
        timeoutMs: 45_000,
      }).catch(() => consumeAll(quarantineTopic, { count: 1, settleMs: 3000, timeoutMs: 20_000 }).catch(() => []));
      quarantined.sort((a, b) => Number(a.headers['hub-source-offset']) - Number(b.headers['hub-source-offset']));
      const gotCodes = quarantined.map((q) => q.headers['hub-quarantine-code']);
      const reasons = quarantined.filter((q) => (q.headers['hub-quarantine-reason'] ?? '').length > 5).length;
      const offsetsRight = quarantined.every(
        (q, k) =>
          Number(q.headers['hub-source-offset']) === expectedOffsets[k] && q.headers['hub-source-partition'] === '0',
      );

      // Deliveries: every good id, signature valid, payload intact, delay measured from the send.
      await waitFor(
        () => {
          const got = sub.deliveredIds('poison');
          return [...goods.keys()].every((id) => got.has(id));
        },
        { timeoutMs: 30_000, intervalMs: 200, what: 'every good delivery' },
      ).catch(() => undefined); // what is missing shows in the figures and assertions below
      const delays: number[] = [];
      const byPath = { kafka: 0, http: 0, grpc: 0 };
      let intact = 0;
      for (const [id, e] of goods) {
        const r = sub.receipts('poison').find((x) => x.webhookId === id && x.status < 300);
        if (!r) continue;
        const delay = r.receivedAt.getTime() - sentAt.get(id)!;
        delays.push(delay);
        const path = kafkaGood.has(id) ? 'kafka' : grpcGood.has(id) ? 'grpc' : 'http';
        byPath[path] = Math.max(byPath[path], delay);
        const ce = cloudEventAttributes(e);
        // ce-* header values are percent-encoded outside printable ASCII (CloudEvents HTTP binding 3.1.3.2).
        const subject = decodeURIComponent(r.ce.subject ?? '');
        if (r.signatureValid && r.body === JSON.stringify(e.payload) && subject === ce.subject) intact++;
      }
      const poisonIds = new Set(kafkaPoison.map((p) => p.name));
      const delivered = goods.size - [...goods.keys()].filter((id) => !sub.deliveredIds('poison').has(id)).length;
      delays.sort((a, b) => a - b);
      const maxDelay = delays[delays.length - 1] ?? Number.POSITIVE_INFINITY;
      const wrongHttp = rejected.filter(
        (r) => r.status !== r.expected || (!r.bare && (!r.problem || r.reason.length < 5)),
      );
      // INVALID_ARGUMENT names what is wrong in a field violation; RESOURCE_EXHAUSTED says the size.
      const wrongGrpc = grpcRefused
        .filter(
          (r) =>
            r.code !== r.expected ||
            r.details.length < 5 ||
            (r.code === status.INVALID_ARGUMENT && !r.violations.some((v) => v.description.length >= 5)),
        )
        .map((r) => `${r.name}: ${status[r.code]} ${r.details} (expected ${status[r.expected]})`);
      const expectedAcks = Array.from({ length: ROUNDS }, () => [
        '0:OK',
        '1:INVALID_ARGUMENT',
        '2:OK',
        'end:OK',
      ]).flat();
      const wrongCodes = kafkaPoison
        .map((p, k) => (gotCodes[k] === p.code ? undefined : `${p.name}: ${gotCodes[k]} (expected ${p.code})`))
        .filter(Boolean);

      const pass =
        quarantined.length === kafkaPoison.length &&
        wrongCodes.length === 0 &&
        reasons === kafkaPoison.length &&
        offsetsRight &&
        wrongHttp.length === 0 &&
        wrongGrpc.length === 0 &&
        JSON.stringify(streamAcks) === JSON.stringify(expectedAcks) &&
        grpcHealth === 'SERVING' &&
        delivered === goods.size &&
        intact === goods.size &&
        maxDelay < MAX_DELAY_MS;
      recordScenario({
        id: 'poison-corpus',
        order: 7,
        title: 'Poison corpus (Kafka, HTTP and gRPC ingest)',
        pass,
        figures: {
          'kafka poison kinds': poisonIds.size,
          'kafka poison sent': kafkaPoison.length,
          quarantined: quarantined.length,
          'quarantine code mismatches': wrongCodes.length,
          'http bad bodies': httpPoison.length,
          'http rejected 4xx problem+json': rejected.length - wrongHttp.length,
          'grpc malformed requests': grpcRefused.length,
          'grpc refused with the expected status and reason': grpcRefused.length - wrongGrpc.length,
          'grpc stream acks (good, garbage, good)': streamAcks.slice(0, 4).join(' '),
          'grpc health after the corpus': grpcHealth,
          'good events': goods.size,
          delivered,
          'delivered intact & signed': intact,
          'delay p50 ms': delays[Math.floor(delays.length / 2)] ?? -1,
          'delay max ms': maxDelay,
          'delay max kafka path ms': byPath.kafka,
          'delay max http path ms': byPath.http,
          'delay max grpc path ms': byPath.grpc,
        },
        criteria:
          'every Kafka poison quarantined with its code and reason; every bad HTTP body 4xx problem+json; every malformed gRPC request INVALID_ARGUMENT (field violations) or RESOURCE_EXHAUSTED, the stream goes on, health SERVING; all good delivered intact, max delay < 5 s',
      });

      expect(wrongCodes).toEqual([]);
      expect(quarantined).toHaveLength(kafkaPoison.length);
      expect(reasons).toBe(kafkaPoison.length);
      expect(offsetsRight).toBe(true);
      expect(wrongHttp).toEqual([]);
      expect(wrongGrpc).toEqual([]);
      expect(streamAcks).toEqual(expectedAcks);
      expect(grpcHealth).toBe('SERVING');
      expect(grpcRefused.length / ROUNDS).toBeGreaterThanOrEqual(20);
      expect(kafkaPoison.length / ROUNDS + httpPoison.length / ROUNDS).toBeGreaterThanOrEqual(30);
      expect(delivered).toBe(goods.size);
      expect(intact).toBe(goods.size);
      expect(maxDelay).toBeLessThan(MAX_DELAY_MS);
    }));
});

/** Unicode a subscriber must get byte for byte: astral plane, RTL override, combining marks, U+2028, BOM, NUL. */
const UNICODE_PAYLOAD = {
  name: 'Zoë 😀 𝔘𝔫𝔦𝔠𝔬𝔡𝔢',
  rtl: 'abc\u202edcba',
  combining: 'e\u0301\u0301\u0301',
  separators: 'line\u2028para\u2029end',
  bom: '\ufeffstart',
  nul: 'a\u0000b',
  cjk: '统一码',
};

async function partitionEnd(h: SecurityHub, topic: string): Promise<number> {
  const admin = h.kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return Number(offsets.find((o) => o.partition === 0)!.high);
  } finally {
    await admin.disconnect();
  }
}

function parseProblem(res: { headers: Record<string, string>; text: string }) {
  if (!(res.headers['content-type'] ?? '').startsWith('application/problem+json')) return undefined;
  try {
    return JSON.parse(res.text) as { title?: string; detail?: string; status?: number };
  } catch {
    return undefined;
  }
}
