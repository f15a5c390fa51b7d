import { randomBytes } from 'node:crypto';

/**
 * A kafkajs produce request (protocol v3, one topic, one partition) encoded and its record batch decoded again, with
 * the kafkajs modules the calling test has loaded: the round trip the record encoder and decoder patches must keep.
 */
export interface DecodedRecord {
  offset: string;
  key: string | null;
  /** Hex. */
  value: string | null;
  headers: Record<string, string | string[]>;
}

export async function produceRoundTrip(
  messages: { key?: string | Buffer | null; value: string | Buffer | null; headers?: object; timestamp?: string }[],
): Promise<DecodedRecord[]> {
  const Produce = require('kafkajs/src/protocol/requests/produce/v3/request');
  const Decoder = require('kafkajs/src/protocol/decoder');
  const decodeRecordBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder');
  const request = Produce({
    acks: -1,
    timeout: 1000,
    topicData: [{ topic: 't', partitions: [{ partition: 0, messages }] }],
  });
  const d = new Decoder((await request.encode()).buffer);
  d.readString(); // transactional id
  d.readInt16(); // acks
  d.readInt32(); // timeout
  if (d.readInt32() !== 1 || d.readString() !== 't' || d.readInt32() !== 1 || d.readInt32() !== 0)
    throw new Error('not the one topic and partition produced to');
  const batch = await decodeRecordBatch(new Decoder(d.readBytes()));
  type Decoded = { offset: string; key: Buffer | null; value: Buffer | null; headers: Record<string, unknown> };
  return batch.records.map((r: Decoded) => ({
    offset: r.offset,
    key: r.key?.toString() ?? null,
    value: r.value?.toString('hex') ?? null,
    headers: Object.fromEntries(
      Object.entries(r.headers).map(([k, v]) => [k, Array.isArray(v) ? v.map(String) : String(v)]),
    ),
  }));
}

/** Three records of different shapes through `produceRoundTrip`: what came back and what was produced. */
export async function roundTripCase(): Promise<{ got: DecodedRecord[]; want: DecodedRecord[] }> {
  const value = randomBytes(1300);
  const got = await produceRoundTrip([
    { key: 'tenant-1', value, headers: { ce_id: 'e1', 'hub-tenant-id': 'tenant-1' } },
    { key: null, value: 'ünïcode', headers: { multi: ['a', 'b'] } },
    { key: Buffer.from('k'), value: null, timestamp: String(Date.now() - 5) },
  ]);
  const want: DecodedRecord[] = [
    {
      offset: '0',
      key: 'tenant-1',
      value: value.toString('hex'),
      headers: { ce_id: 'e1', 'hub-tenant-id': 'tenant-1' },
    },
    { offset: '1', key: null, value: Buffer.from('ünïcode').toString('hex'), headers: { multi: ['a', 'b'] } },
    { offset: '2', key: 'k', value: null, headers: {} },
  ];
  return { got, want };
}
