import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { EventProcessor } from '../../pipeline/event-processor/main';
import { schemaUri } from '../../pipeline/event-processor/schema-decoder.confluent';
import { LEDGER_EVENT_HEADER } from '../../pipeline/shared/ledger/ledger-from-outbox';
import { HUB_HEADERS } from '../../pipeline/shared/topics';
import { type RegisteredPlatformSchemas, registerPlatformSchemas } from '../../scripts/register-schemas';
import {
  aRawEvent,
  binaryRecord,
  type FixtureRecord,
  forRegistry,
  poisonCases,
  type RawPlatformEvent,
  rawRecord,
  structuredRecord,
} from '../fixtures/platform-events';
import { aSnapshot } from '../fixtures/subscriptions';
import { consumeAll, uniqueName } from '../support/kafka';
import { testRegistry, testRegistryUrl } from '../support/schema-registry';
import { aScenario, produceIngest, publishSubscriptions, startProcessor } from './harness';

// The real registry of the test run (Apicurio, Confluent API): this file's schemas under its own subjects.
const registryUrl = testRegistryUrl();
let registry: SchemaRegistry;
let ids: RegisteredPlatformSchemas;
let processor: EventProcessor | undefined;

beforeAll(async () => {
  registry = testRegistry();
  ids = await registerPlatformSchemas(registry, uniqueName('formats'));
});
afterEach(async () => {
  await processor?.stop();
  processor = undefined;
});

function wireHeader(schemaId: number): Buffer {
  const b = Buffer.alloc(5);
  b.writeInt32BE(schemaId, 1);
  return b;
}

async function registryRecord(schemaId: number, e: RawPlatformEvent): Promise<FixtureRecord> {
  return { key: e.tenantId, value: await registry.encode(schemaId, forRegistry(e)), headers: {} };
}

describe('event-processor ingest formats', () => {
  it('yields the same outbox CloudEvent from binary, structured, raw JSON, Avro, Protobuf and JSON Schema input', async () => {
    const s = aScenario('formats', { SCHEMA_REGISTRY_URL: registryUrl });
    await publishSubscriptions(s, [aSnapshot({ id: 'sub-1' })]);
    processor = await startProcessor(s);
    const e = aRawEvent({ eventId: 'evt-formats' });
    const inputs: [string, FixtureRecord][] = [
      ['binary', binaryRecord(e)],
      ['structured', structuredRecord(e)],
      ['raw', rawRecord(e)],
      ['avro', await registryRecord(ids.avro, e)],
      ['protobuf', await registryRecord(ids.protobuf, e)],
      ['json-schema', await registryRecord(ids.json, e)],
    ];
    await produceIngest(
      s,
      inputs.map(([, r]) => r),
    );

    const out = await consumeAll(s.topics.outbox('user-lifecycle'), { count: inputs.length, settleMs: 1000 });
    expect(out).toHaveLength(inputs.length);
    // One partition in, one key out: outbox order = input order.
    const views = out
      .sort((a, b) => Number(a.offset) - Number(b.offset))
      .map((r) => {
        // When the hub ingested it (the ledger's partition key) and where the input lay (the ledger's note on the
        // event's first record) differ per record; everything else is the same. Registry-decoded events also name
        // their schema (checked below).
        const {
          [HUB_HEADERS.receivedAt]: receivedAt,
          [LEDGER_EVENT_HEADER]: ledgerNote,
          ce_dataschema: dataschema,
          ...headers
        } = r.headers;
        expect(Number.isNaN(Date.parse(String(receivedAt)))).toBe(false);
        const { ingest, ...note } = JSON.parse(String(ledgerNote));
        expect(ingest).toMatchObject({ topic: s.ingestTopic, partition: 0 });
        return { key: r.key, headers, ledgerNote: note, value: r.value!.toString('utf8'), dataschema };
      });
    const expected = views[2]!; // the raw JSON one
    expect(expected.headers).toMatchObject({
      ce_id: 'evt-formats',
      ce_source: '//identity',
      ce_type: 'user.created',
      ce_subject: 'USER/u-42',
      ce_tenantid: 'tenant-a',
      'content-type': 'application/json',
      'hub-subscription-id': 'sub-1',
    });
    expect(views.map(({ dataschema, ...v }, i) => ({ format: inputs[i]![0], ...v }))).toEqual(
      inputs.map(([format]) => ({ format, ...expected, dataschema: undefined })),
    );
    expect(views.map((v) => v.dataschema)).toEqual([
      undefined,
      undefined,
      undefined,
      schemaUri(registryUrl, ids.avro),
      schemaUri(registryUrl, ids.protobuf),
      schemaUri(registryUrl, ids.json),
    ]);
    // The URI answers with the schema: the subscriber (or an operator) can look it up.
    const res = await fetch(views[3]!.dataschema!);
    expect(((await res.json()) as { schema: string }).schema).toContain('PlatformEvent');
  });

  it('quarantines every kind of poison with its reason and processes all the good records around them', async () => {
    const s = aScenario('poison', { SCHEMA_REGISTRY_URL: registryUrl, MAX_EVENT_BYTES: String(64 * 1024) });
    await publishSubscriptions(s, [aSnapshot({ id: 'sub-1' })]);
    processor = await startProcessor(s);

    const avroOfUser = await registryRecord(ids.avro, aRawEvent());
    const poison = [
      ...poisonCases(),
      {
        name: 'registry-encoded with an unknown schema id',
        code: 'INGEST.UNKNOWN_SCHEMA',
        record: {
          key: 'tenant-a',
          // An id far past what this run registers.
          value: Buffer.concat([Buffer.from([0, 0x7f, 0xff, 0xff, 0xf0]), Buffer.from('xx')]),
          headers: {},
        },
      },
      {
        name: 'registry-encoded bytes that do not fit the Avro schema',
        code: 'INGEST.SCHEMA_DECODE',
        record: { ...avroOfUser, value: avroOfUser.value!.subarray(0, 12) },
      },
      {
        name: 'registry-encoded JSON that violates the JSON Schema',
        code: 'INGEST.SCHEMA_DECODE',
        record: {
          key: 'tenant-a',
          value: Buffer.concat([wireHeader(ids.json), Buffer.from('{"eventId":"x"}')]),
          headers: {},
        },
      },
    ];
    expect(poison.length).toBeGreaterThanOrEqual(20);
    // good, poison, good, poison, ..., good
    const records: FixtureRecord[] = [];
    const goodIds: string[] = [];
    poison.forEach((p, i) => {
      goodIds.push(`good-${i}`);
      records.push(rawRecord(aRawEvent({ eventId: `good-${i}` })), p.record);
    });
    goodIds.push('good-last');
    records.push(rawRecord(aRawEvent({ eventId: 'good-last' })));
    await produceIngest(s, records);

    const quarantined = await consumeAll(s.topics.quarantine, { count: poison.length, settleMs: 1000 });
    expect(quarantined).toHaveLength(poison.length);
    // quarantine keeps the original keys (several partitions): order by source offset
    quarantined.sort((a, b) => Number(a.headers['hub-source-offset']) - Number(b.headers['hub-source-offset']));
    const got = quarantined.map((q) => ({
      code: q.headers['hub-quarantine-code'],
      reasonGiven: (q.headers['hub-quarantine-reason'] ?? '').length > 5,
    }));
    expect(got).toEqual(poison.map((p) => ({ code: p.code, reasonGiven: true })));
    quarantined.forEach((q, i) => {
      expect(q.headers['hub-source-topic']).toBe(s.ingestTopic);
      expect(q.headers['hub-source-offset']).toBe(String(2 * i + 1));
      // the original value travels unchanged
      expect(q.value?.equals(poison[i]!.record.value ?? Buffer.alloc(0)) ?? poison[i]!.record.value === null).toBe(
        true,
      );
    });

    const out = await consumeAll(s.topics.allOutbox(), { count: goodIds.length, settleMs: 1000 });
    expect(out.map((r) => r.headers.ce_id).sort()).toEqual([...goodIds].sort());
  });
});
