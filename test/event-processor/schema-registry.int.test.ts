/**
 * Registry-encoded ingest against a real schema registry (Apicurio Registry, Confluent API, started once per run by
 * the global setup) and the real broker, through the event-processor's real ingest path.
 *
 *   Avro evolution:    a record written with v1, produced after v2 was registered, and a v2 record -> both delivered.
 *   Protobuf interop:  the second message of a .proto file with an imported type, framed as Confluent's Java
 *                      serializer frames it (message-index array) -> delivered intact as JSON to a real subscriber.
 *   Bad input:         message indexes that name no message, bytes that are not that message -> quarantined with
 *                      their reason, the records around them delivered.
 *   Registry down:     records wait (the partition is paused and probed, none is quarantined, no ERROR line, no
 *                      consumer crash or restart) and are delivered once the registry is back.
 * Formats side by side and the framing poison cases: formats.int.test.ts.
 */
import { type SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import protobuf from 'protobufjs';
import type { EventProcessor } from '../../pipeline/event-processor/main';
import { schemaUri } from '../../pipeline/event-processor/schema-decoder.confluent';
import { readPlatformSchemas } from '../../scripts/register-schemas';
import { aRawEvent, type FixtureRecord, forRegistry, rawRecord } from '../fixtures/platform-events';
import { aSnapshot } from '../fixtures/subscriptions';
import { type Harness, startHarness } from '../outbox-processor/harness';
import { consumeAll, uniqueName, waitFor } from '../support/kafka';
import { type Receiver, startReceiver } from '../support/receiver';
import {
  confluentProtobufValue,
  type RegistryProxy,
  startRegistryProxy,
  testRegistry,
  testRegistryUrl,
} from '../support/schema-registry';
import {
  aScenario,
  captureLogs,
  type ProcessorScenario,
  produceIngest,
  publishSubscriptions,
  startProcessor,
} from './harness';

/**
 * How long the registry stays away in the outage scenario. The acceptance figure is 30 s; a run can
 * shorten it (e.g. REGISTRY_OUTAGE_MS=5000 while iterating) — the scenario is the same, only longer than the
 * processor's own retries (about 1.5 s per attempt, then probes with a backoff of up to 5 s).
 */
const OUTAGE_MS = Number(process.env.REGISTRY_OUTAGE_MS ?? 30_000);
jest.setTimeout(120_000 + OUTAGE_MS);

const registryUrl = testRegistryUrl();
let registry: SchemaRegistry;
let processor: EventProcessor | undefined;

beforeAll(() => {
  registry = testRegistry();
});
afterEach(async () => {
  await processor?.stop();
  processor = undefined;
});

const record = (value: Buffer, key = 'tenant-a'): FixtureRecord => ({ key, value, headers: {} });

async function scenario(name: string, env: Record<string, string> = {}): Promise<ProcessorScenario> {
  const s = aScenario(name, { SCHEMA_REGISTRY_URL: registryUrl, ...env });
  await publishSubscriptions(s, [aSnapshot({ id: 'sub-1' })]);
  return s;
}

describe('registry-encoded ingest against a real schema registry', () => {
  it('delivers an Avro record written with v1 after v2 is registered, and one written with v2', async () => {
    const s = await scenario('avro-evolution');
    const subject = `${s.ingestTopic}-value`;
    const v1 = JSON.parse(readPlatformSchemas().avro) as { fields: unknown[] };
    const v2 = { ...v1, fields: [...v1.fields, { name: 'region', type: ['null', 'string'], default: null }] };
    const id1 = (await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(v1) }, { subject })).id;
    const written = await registry.encode(id1, forRegistry(aRawEvent({ eventId: 'evt-v1' })));
    // v2 adds an optional field: a compatible change the registry accepts under the same subject.
    const id2 = (await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(v2) }, { subject })).id;
    expect(id2).not.toBe(id1);
    const latest = await fetch(`${registryUrl}/subjects/${encodeURIComponent(subject)}/versions/latest`);
    expect(((await latest.json()) as { version: number }).version).toBe(2);
    const newer = await registry.encode(id2, {
      ...forRegistry(aRawEvent({ eventId: 'evt-v2', payload: { userId: 'u-43' } })),
      region: 'eu',
    });

    processor = await startProcessor(s);
    await produceIngest(s, [record(written), record(newer)]);
    const out = await consumeAll(s.topics.outbox('user-lifecycle'), { count: 2 });
    out.sort((a, b) => Number(a.offset) - Number(b.offset));
    expect(
      out.map((r) => ({ id: r.headers.ce_id, dataschema: r.headers.ce_dataschema, data: r.value?.toString() })),
    ).toEqual([
      { id: 'evt-v1', dataschema: schemaUri(registryUrl, id1), data: JSON.stringify(aRawEvent().payload) },
      { id: 'evt-v2', dataschema: schemaUri(registryUrl, id2), data: JSON.stringify({ userId: 'u-43' }) },
    ]);
    // dataschema/versions names the subject and version the record was written with.
    const versions = await fetch(`${out[0]!.headers.ce_dataschema}/versions`);
    expect(await versions.json()).toEqual([{ subject, version: 1 }]);
  });

  describe('Protobuf in the Confluent wire format', () => {
    const common = `syntax = "proto3";
package acme.common.v1;
message UserPayload {
  string user_id = 1;
  string email = 2;
}
`;
    // UserCreated is the second message of its file (index [1]) and uses a type from an import.
    const events = `syntax = "proto3";
package acme.events.v1;
import "acme/common/v1/user.proto";
message Heartbeat {
  string at = 1;
}
message UserCreated {
  string event_id = 1;
  string source_service = 2;
  string event_type = 3;
  string resource_type = 4;
  string resource_id = 5;
  string operation_type = 6;
  string tenant_id = 7;
  string occurred_at = 8;
  acme.common.v1.UserPayload payload = 9;
  message Audit {
    string actor = 1;
  }
}
`;
    let hub: Harness;
    let subscriber: Receiver;
    let eventsId: number;
    let userCreated: protobuf.Type;
    const userCreatedOf = (eventId: string) => {
      // The platform event's fields, but the payload as a message of the imported file, not JSON text.
      const { traceId, correlationId, ...fields } = aRawEvent({ eventId });
      return userCreated.encode(userCreated.fromObject(fields)).finish();
    };

    beforeAll(async () => {
      hub = await startHarness();
      subscriber = await startReceiver();
      await hub.subscribe({ endpointUrl: `${subscriber.url}/hook` });
      const commonSubject = `${hub.prefix}-acme/common/v1/user.proto`;
      await registry.register({ type: SchemaType.PROTOBUF, schema: common }, { subject: commonSubject });
      eventsId = (
        await registry.register(
          {
            type: SchemaType.PROTOBUF,
            schema: events,
            references: [{ name: 'acme/common/v1/user.proto', subject: commonSubject, version: 1 }],
          },
          { subject: `${hub.prefix}-events-value` },
        )
      ).id;
      // The producer's side, as a Java producer has it: the generated classes of both files.
      const root = new protobuf.Root();
      protobuf.parse(common, root);
      protobuf.parse(events, root);
      userCreated = root.lookupType('acme.events.v1.UserCreated');
    });
    afterAll(async () => {
      await hub?.stop();
      await subscriber?.close();
    });

    /** The event-processor on the harness's topics, so its outbox records reach the harness's outbox-processor. */
    async function processorOnHub(name: string): Promise<ProcessorScenario> {
      const base = aScenario(name, { SCHEMA_REGISTRY_URL: registryUrl, TOPIC_PREFIX: hub.prefix });
      const s = { ...base, prefix: hub.prefix, topics: hub.topics };
      await publishSubscriptions(s, []);
      return s;
    }

    it('delivers the second message of a .proto file, with an imported type, intact as JSON to a subscriber', async () => {
      const s = await processorOnHub('pb-deliver');
      processor = await startProcessor(s);
      await produceIngest(s, [record(confluentProtobufValue(eventsId, [1], userCreatedOf('evt-pb-second')))]);

      const got = await consumeAll(s.topics.outbox('user-lifecycle'), { count: 1 });
      expect(got[0]!.headers.ce_id).toBe('evt-pb-second');
      const delivery = await waitFor(() => subscriber.received.find((r) => r.headers['ce-id'] === 'evt-pb-second'), {
        what: 'the delivery',
        timeoutMs: 30_000,
      });
      expect(delivery.headers).toMatchObject({
        'ce-id': 'evt-pb-second',
        'ce-type': 'user.created',
        'ce-source': '//identity',
        'ce-subject': 'USER/u-42',
        'ce-tenantid': 'tenant-a',
        'ce-dataschema': schemaUri(registryUrl, eventsId),
        'content-type': 'application/json',
      });
      expect(JSON.parse(delivery.body.toString('utf8'))).toEqual({ userId: 'u-42', email: 'ada@example.com' });
    });

    it('quarantines indexes that name no message and bytes that are not that message, and delivers the rest', async () => {
      const s = await processorOnHub('pb-poison');
      processor = await startProcessor(s);
      const good = (id: string) => record(confluentProtobufValue(eventsId, [1], userCreatedOf(id)));
      const poison = [
        { value: confluentProtobufValue(eventsId, [2], userCreatedOf('x')), reason: /names no message/ },
        { value: confluentProtobufValue(eventsId, [1, 5], userCreatedOf('x')), reason: /level 1 has 1/ },
        // Field 15 with wire type 7, which does not exist (protobufjs reads short strings leniently, not this).
        { value: confluentProtobufValue(eventsId, [1], Buffer.from([0x7f, 0x01])), reason: /invalid wire type 7/ },
      ];
      await produceIngest(s, [good('pb-1'), ...poison.map((p) => record(p.value)), good('pb-2')]);

      const quarantined = await consumeAll(s.topics.quarantine, { count: poison.length });
      quarantined.sort((a, b) => Number(a.headers['hub-source-offset']) - Number(b.headers['hub-source-offset']));
      expect(quarantined.map((q) => q.headers['hub-quarantine-code'])).toEqual(
        poison.map(() => 'INGEST.SCHEMA_DECODE'),
      );
      quarantined.forEach((q, i) => {
        expect(q.headers['hub-quarantine-reason']).toMatch(poison[i]!.reason);
        expect(q.value?.equals(poison[i]!.value)).toBe(true);
      });
      // The good ones around them reach the subscriber (the outbox topic is shared with the test above).
      await waitFor(() => ['pb-1', 'pb-2'].every((id) => subscriber.received.some((r) => r.headers['ce-id'] === id)), {
        what: 'pb-1 and pb-2 delivered',
        timeoutMs: 30_000,
      });
    });
  });

  describe('while the registry is down', () => {
    let proxy: RegistryProxy;
    beforeAll(async () => {
      proxy = await startRegistryProxy();
    });
    afterAll(async () => {
      await proxy?.close();
    });

    it(`keeps the records waiting through a ${OUTAGE_MS / 1000} s outage without an ERROR or a consumer restart, quarantines none, and delivers them once it is back`, async () => {
      const s = await scenario('registry-down', { SCHEMA_REGISTRY_URL: proxy.url, LOG_LEVEL: 'info' });
      const logs = captureLogs();
      // Schemas registered directly (not through the proxy); the processor has never seen them.
      const subject = `${s.ingestTopic}-value`;
      const id = (await registry.register({ type: SchemaType.AVRO, schema: readPlatformSchemas().avro }, { subject }))
        .id;
      const ids = Array.from({ length: 5 }, (_, i) => `evt-outage-${i}`);
      const encoded = await Promise.all(ids.map((eventId) => registry.encode(id, forRegistry(aRawEvent({ eventId })))));

      proxy.down();
      const outageStarted = Date.now();
      processor = await startProcessor(s, {}, logs.destination);
      await produceIngest(
        s,
        encoded.map((v) => record(v)),
      );
      // Positive sentinels: the processor paused the partition (its WARN) and keeps probing the registry.
      const away = await waitFor(() => logs.lines.find((l) => /does not answer/.test(l.msg)), {
        what: 'the WARN that the registry does not answer',
        timeoutMs: 30_000,
      });
      expect(away).toMatchObject({ level: 40, partition: 0 });
      expect(away.msg).toContain(proxy.url.replace(/\/+$/, ''));
      await waitFor(() => proxy.refused >= 3, {
        what: 'the processor to probe the unreachable registry',
        timeoutMs: 30_000,
      });
      const rest = OUTAGE_MS - (Date.now() - outageStarted);
      if (rest > 0) await new Promise((r) => setTimeout(r, rest)); // the outage itself, not an assertion
      const refusedDuringOutage = proxy.refused;
      proxy.up();

      const out = await consumeAll(s.topics.outbox('user-lifecycle'), { count: ids.length, timeoutMs: 60_000 });
      expect(out.map((r) => r.headers.ce_id).sort()).toEqual([...ids].sort());
      // Then a poison record behind them, same key: quarantine keeps the key, so had any of them been quarantined it
      // would sit before the sentinel in the same quarantine partition.
      const sentinel = uniqueName('sentinel');
      await produceIngest(s, [{ ...rawRecord(aRawEvent({ eventId: sentinel })), value: Buffer.from('not json') }]);
      const quarantined = await consumeAll(s.topics.quarantine, { count: 1 });
      expect(quarantined.map((q) => q.headers['hub-quarantine-code'])).toEqual(['INGEST.BAD_JSON']);
      expect(refusedDuringOutage).toBeGreaterThanOrEqual(3);
      // Waiting is not failing: no ERROR line, one WARN and one INFO for the outage, the consumer never crashed
      // (a crash is what restarts it) and joined its group once.
      expect(logs.lines.filter((l) => l.level >= 50)).toEqual([]);
      expect(logs.lines.filter((l) => /does not answer/.test(l.msg))).toHaveLength(1);
      expect(logs.lines.filter((l) => /registry answers again/.test(l.msg))).toHaveLength(1);
      expect(logs.lines.filter((l) => /joined the ingest consumer group/.test(l.msg))).toHaveLength(1);
      expect((await processor.metrics.consumerCrashes.get()).values[0]?.value ?? 0).toBe(0);
    });
  });
});
