import { randomBytes } from 'node:crypto';
import { roundTripCase } from '../../../test/support/kafkajs-produce';
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
    const { got, want } = await roundTripCase();
    expect(got).toEqual(want);
  });
});
