import { randomBytes } from 'node:crypto';
import { applyKafkajsRecordEncoder, type KafkajsRecordInput } from './kafkajs-record-encoder';

const RECORD_MODULE = 'kafkajs/src/protocol/recordBatch/record/v0';
type RecordFn = (r: KafkajsRecordInput) => { buffer: Buffer };

/** kafkajs's own record encoder, the reference: a fresh copy of its module, loaded where the patch is not. */
function kafkajsOwn(): RecordFn {
  let own: RecordFn | undefined;
  jest.isolateModules(() => {
    own = require(RECORD_MODULE);
  });
  return own!;
}

const pick = <T>(xs: T[], i: number) => xs[i % xs.length]!;

/** Records of every shape kafkajs takes: null/string/Buffer keys and values, multi-byte UTF-8, header arrays. */
function records(n: number): KafkajsRecordInput[] {
  const keys = [null, undefined, 'tenant-1', 'ключ-🔑', '', Buffer.from('k'), randomBytes(200)];
  const values = [null, Buffer.alloc(0), randomBytes(1300), 'text value ✓', 'x'.repeat(70_000), randomBytes(20_000)];
  const deltas = [0, 1, 63, 64, 8191, 8192, 2 ** 20, 2 ** 31 - 1];
  const tsDeltas = [0, 1, -1, 5, 1000, -70_000, 2 ** 33 + 7, -(2 ** 40), 2 ** 52];
  const headerSets: KafkajsRecordInput['headers'][] = [
    undefined,
    {},
    { 'hub-tenant-id': 't1' },
    {
      ce_id: 'evt-1',
      ce_type: 'com.example.user.created',
      'hub-ledger-event': JSON.stringify({ fanOut: 3 }),
      'cs-trace-id': 'é'.repeat(40),
      bin: randomBytes(64),
      empty: '',
    },
    { multi: ['a', 'bb', Buffer.from('ccc')], ünï: 'cödé' },
  ];
  return Array.from({ length: n }, (_, i) => ({
    offsetDelta: pick(deltas, i),
    timestampDelta: pick(tsDeltas, i * 7),
    key: pick(keys, i * 3),
    value: pick(values, i * 5),
    headers: pick(headerSets, i * 11),
  }));
}

describe('kafkajs record encoder in one pass', () => {
  it('is applied to the kafkajs installed, before its produce request loads', () => {
    expect(applyKafkajsRecordEncoder()).toBe(true);
    expect(String(require(RECORD_MODULE))).not.toContain('writeVarIntArray');
    expect(String(kafkajsOwn())).toContain('writeVarIntArray');
    // The produce request, loading now (as at a service's first produce), binds the replacement.
    require('kafkajs/src/protocol/requests/produce/v3/request');
    expect(applyKafkajsRecordEncoder()).toBe(true);
  });

  it("writes exactly kafkajs's bytes for every shape of record", () => {
    applyKafkajsRecordEncoder();
    const ours: RecordFn = require(RECORD_MODULE);
    const own = kafkajsOwn();
    for (const r of records(400)) expect(ours(r).buffer.equals(own(r).buffer)).toBe(true);
  });

  it("hands what it does not handle to kafkajs's own function (a fractional or 64-bit offset delta)", () => {
    applyKafkajsRecordEncoder();
    const ours: RecordFn = require(RECORD_MODULE);
    const own = kafkajsOwn();
    for (const offsetDelta of [1.5, 2 ** 31, -(2 ** 31) - 1])
      expect(ours({ offsetDelta, value: 'v' }).buffer.equals(own({ offsetDelta, value: 'v' }).buffer)).toBe(true);
  });

  it('makes produce requests whose record batches decode to the records produced', async () => {
    applyKafkajsRecordEncoder();
    const Produce = require('kafkajs/src/protocol/requests/produce/v3/request');
    const Decoder = require('kafkajs/src/protocol/decoder');
    const decodeRecordBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder');
    const messages = [
      { key: 'tenant-1', value: randomBytes(1300), headers: { ce_id: 'e1', 'hub-tenant-id': 'tenant-1' } },
      { key: null, value: 'ünïcode', headers: { multi: ['a', 'b'] } },
      { key: Buffer.from('k'), value: null, timestamp: String(Date.now() - 5) },
    ];
    const request = Produce({
      acks: -1,
      timeout: 1000,
      topicData: [{ topic: 't', partitions: [{ partition: 0, messages }] }],
    });
    const d = new Decoder((await request.encode()).buffer);
    d.readString(); // transactional id
    d.readInt16(); // acks
    d.readInt32(); // timeout
    expect(d.readInt32()).toBe(1); // topics
    expect(d.readString()).toBe('t');
    expect(d.readInt32()).toBe(1); // partitions
    expect(d.readInt32()).toBe(0);
    const batch = await decodeRecordBatch(new Decoder(d.readBytes()));
    type Decoded = { key: Buffer | null; value: Buffer | null; headers: Record<string, Buffer | Buffer[]> };
    const got = batch.records.map((r: Decoded) => ({
      key: r.key?.toString('hex') ?? null,
      value: r.value?.toString('hex') ?? null,
      headers: Object.fromEntries(
        Object.entries(r.headers).map(([k, v]) => [k, Array.isArray(v) ? v.map(String) : String(v)]),
      ),
    }));
    expect(got).toEqual([
      {
        key: Buffer.from('tenant-1').toString('hex'),
        value: messages[0]!.value!.toString('hex'),
        headers: { ce_id: 'e1', 'hub-tenant-id': 'tenant-1' },
      },
      { key: null, value: Buffer.from('ünïcode').toString('hex'), headers: { multi: ['a', 'b'] } },
      { key: Buffer.from('k').toString('hex'), value: null, headers: {} },
    ]);
  });
});
