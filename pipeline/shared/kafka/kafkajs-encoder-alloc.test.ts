import { randomBytes } from 'node:crypto';
import { applyKafkajsEncoderAlloc } from './kafkajs-encoder-alloc';

// kafkajs's internals: the encoder the patch changes, and a record batch's encoder and decoder (a produce's records).
const Encoder = require('kafkajs/src/protocol/encoder');
const Record = require('kafkajs/src/protocol/recordBatch/record/v0');
const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0');
const decodeRecordBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder');
const Decoder = require('kafkajs/src/protocol/decoder');

describe('kafkajs encoder growth without zero-fill', () => {
  it('is applied to the kafkajs installed', () => {
    expect(applyKafkajsEncoderAlloc()).toBe(true);
  });

  it('starts empty: no ArrayBuffer of its own until the first write', () => {
    const enc = new Encoder();
    expect(enc.buf.length).toBe(0);
    enc.writeInt32(7);
    expect(enc.buffer.readInt32BE(0)).toBe(7);
    expect(enc.buffer.length).toBe(4);
  });

  it('grows without Buffer.alloc, and holds exactly the bytes written', () => {
    const enc = new Encoder();
    const alloc = jest.spyOn(Buffer, 'alloc');
    try {
      const pieces = [randomBytes(300), randomBytes(5000), randomBytes(70_000), randomBytes(3)];
      for (const p of pieces) enc.writeBytes(p);
      expect(alloc).not.toHaveBeenCalled();
      const expected = new Encoder();
      for (const p of pieces) expected.writeBytes(p);
      expect(Buffer.compare(enc.buffer, expected.buffer)).toBe(0);
      // Length-prefixed pieces, in order, nothing else.
      const d = new Decoder(enc.buffer);
      for (const p of pieces) expect(Buffer.compare(d.readBytes(), p)).toBe(0);
      expect(d.canReadBytes(1)).toBe(false);
    } finally {
      alloc.mockRestore();
    }
  });

  it('encodes record batches that decode to the records produced (ledger-sized values, headers)', async () => {
    const values = [randomBytes(2200), Buffer.from('x'.repeat(600)), randomBytes(100_000)];
    const records = values.map((value, i) =>
      Record({ offsetDelta: i, key: Buffer.from(`tenant-${i}`), value, headers: { 'hub-tenant-id': `t${i}` } }),
    );
    const batch = await RecordBatch({ records, lastOffsetDelta: values.length - 1 });
    const decoded = await decodeRecordBatch(new Decoder(batch.buffer));
    expect(decoded.records.map((r: { value: Buffer }) => r.value.toString('hex'))).toEqual(
      values.map((v) => v.toString('hex')),
    );
    expect(decoded.records.map((r: { headers: Record<string, Buffer> }) => String(r.headers['hub-tenant-id']))).toEqual(
      ['t0', 't1', 't2'],
    );
  });
});
