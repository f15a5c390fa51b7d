import { randomBytes } from 'node:crypto';
import { applyKafkajsCrc32c, crc32c, kafkajsChecksum } from './kafkajs-crc32c';

// kafkajs's own byte-at-a-time implementation, the reference.
const reference: (b: Buffer) => number = require('kafkajs/src/protocol/recordBatch/crc32C/crc32C');

describe('CRC32C, eight bytes per step', () => {
  it('gives the known check value of "123456789"', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
  });

  it("equals kafkajs's checksum for every length from 0 to 600 and for large buffers", () => {
    for (let len = 0; len <= 600; len++) {
      const b = randomBytes(len);
      expect(crc32c(b)).toBe(reference(b));
    }
    for (const len of [4093, 65_536, 1_000_003]) {
      const b = randomBytes(len);
      expect(crc32c(b)).toBe(reference(b));
    }
    // A slice that does not start at its ArrayBuffer's start.
    const big = randomBytes(1000);
    expect(crc32c(big.subarray(3, 997))).toBe(reference(big.subarray(3, 997)));
  });

  it("is what kafkajs's record batch encoder uses once applied", async () => {
    expect(applyKafkajsCrc32c()).toBe(true);
    expect(require('kafkajs/src/protocol/recordBatch/crc32C')).toBe(kafkajsChecksum);
    // The encoder loads after the patch (as at a service's first produce) and its batches carry our checksum,
    // which kafkajs's own function confirms over the bytes it covers.
    const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0');
    const Record = require('kafkajs/src/protocol/recordBatch/record/v0');
    const batch: Buffer = (await RecordBatch({ records: [Record({ value: randomBytes(5000) })] })).buffer;
    // firstOffset(8) length(4) partitionLeaderEpoch(4) magic(1) crc(4), then the body the crc covers.
    const crc = batch.readUInt32BE(17);
    expect(crc).toBe(reference(batch.subarray(21)));
  });
});
