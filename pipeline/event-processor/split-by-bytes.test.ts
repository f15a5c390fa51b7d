import { groupByBytes } from '../shared/group-by-bytes';
import { decodeLedgerMessage, encodeLedgerRecord, type LedgerAttempt } from '../shared/ledger/ledger-record';
import type { ProducedRecord } from './handler';
import { bundleLedger, MAX_REQUEST_BYTES, requestBytes } from './ingest.kafka';

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

describe('bundleLedger', () => {
  const attempt = (eventId: string): LedgerAttempt => ({
    kind: 'attempt',
    at: '2026-12-01T10:00:01.000Z',
    attemptId: '00000000-0000-4000-8000-000000000001',
    eventId,
    tenantId: 't1',
    subscriptionId: 's1',
    receivedAt: '2026-12-01T10:00:00.000Z',
    source: 'OUTBOX',
    attempt: 1,
    durationMs: 5,
    statusCode: 200,
    errorCode: null,
    responseSnippet: null,
  });
  it('bundles the ledger records of a transaction after the others, and leaves the others as they are', () => {
    const outbox = { topic: 'hub.outbox.identity', key: 't1', value: Buffer.from('x'), headers: {} };
    const ledger = (id: string) => ({
      topic: 'hub.ledger.v1',
      key: 't1',
      value: encodeLedgerRecord(attempt(id)),
      headers: {},
    });
    const out = bundleLedger([ledger('e1'), outbox, ledger('e2')], 'hub.ledger.v1');
    expect(out).toHaveLength(2);
    expect(out[0]).toBe(outbox);
    expect(out[1]!.topic).toBe('hub.ledger.v1');
    expect(decodeLedgerMessage(out[1]!.value).records.map((r) => r.eventId)).toEqual(['e1', 'e2']);
    const unchanged = [ledger('e1'), outbox];
    expect(bundleLedger(unchanged, undefined)).toBe(unchanged);
  });
});
