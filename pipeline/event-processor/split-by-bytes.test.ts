import { groupByBytes } from '../shared/group-by-bytes';
import type { ProducedRecord } from './handler';
import { MAX_REQUEST_BYTES, requestBytes } from './ingest.kafka';

const rec = (bytes: number, i = 0): ProducedRecord => ({
  topic: 'outbox',
  key: `t-${i}`,
  value: Buffer.alloc(bytes, 'x'),
  headers: { ce_id: `e-${i}` },
});

describe('produce requests inside one transaction', () => {
  it('keeps every request under the budget and every record in order, exactly once', () => {
    // A fan-out of 10 over a 500-record chunk of ~1.3 KB events: ~6.5 MB, far above the broker's 1 MiB limit.
    const records = Array.from({ length: 5000 }, (_, i) => rec(1300, i));
    const parts = groupByBytes(records, requestBytes, MAX_REQUEST_BYTES);
    expect(parts.length).toBeGreaterThan(12);
    for (const p of parts) {
      const bytes = p.reduce((n, r) => n + r.value!.length, 0);
      expect(bytes).toBeLessThanOrEqual(MAX_REQUEST_BYTES);
    }
    expect(parts.flat()).toEqual(records);
  });

  it('gives a record larger than the budget a request of its own', () => {
    const parts = groupByBytes([rec(10), rec(600 * 1024), rec(10)], requestBytes, MAX_REQUEST_BYTES);
    expect(parts.map((p) => p.length)).toEqual([1, 1, 1]);
  });

  it('sends nothing for no records', () => {
    expect(groupByBytes([], requestBytes, MAX_REQUEST_BYTES)).toEqual([]);
  });
});
