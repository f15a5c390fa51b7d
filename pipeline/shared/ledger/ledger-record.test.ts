import { groupByBytes } from '../group-by-bytes';
import {
  bundleEntryBytes,
  decodeLedgerMessage,
  encodeLedgerBundle,
  encodeLedgerRecord,
  type LedgerDelivery,
} from './ledger-record';

const delivery = (eventId: string): LedgerDelivery => ({
  kind: 'delivery',
  at: '2026-12-01T10:00:01.000Z',
  eventId,
  tenantId: 't1',
  subscriptionId: 's1',
  receivedAt: '2026-12-01T10:00:00.000Z',
  status: 'DELIVERED',
  reason: null,
  attempts: 1,
  lastStatusCode: 200,
  nextAttemptAt: null,
});

describe('ledger bundles', () => {
  it('round-trips a bundle of records, and still reads a single record', () => {
    const bundle = encodeLedgerBundle([encodeLedgerRecord(delivery('e1')), encodeLedgerRecord(delivery('e2'))]);
    expect(decodeLedgerMessage(bundle)).toEqual({ records: [delivery('e1'), delivery('e2')], invalid: [] });
    expect(decodeLedgerMessage(encodeLedgerRecord(delivery('e3')))).toEqual({
      records: [delivery('e3')],
      invalid: [],
    });
  });

  it('keeps the valid entries of a bundle and names each invalid one by its index', () => {
    const bundle = Buffer.from(
      `[${JSON.stringify(delivery('e1'))},{"kind":"delivery"},${JSON.stringify(delivery('e2'))},42]`,
    );
    const decoded = decodeLedgerMessage(bundle);
    expect(decoded.records.map((r) => r.eventId)).toEqual(['e1', 'e2']);
    expect(decoded.invalid.map((i) => i.index)).toEqual([1, 3]);
    expect(decoded.invalid[0]!.reason).toBeTruthy();
  });

  it('refuses what is not JSON or empty, with the reason', () => {
    expect(decodeLedgerMessage(Buffer.from('{not json'))).toMatchObject({
      records: [],
      invalid: [{ index: 0, reason: expect.stringMatching(/^not JSON/) }],
    });
    expect(decodeLedgerMessage(null).invalid[0]!.reason).toBe('empty ledger record');
  });

  it('groups encoded records by size, in order, a record larger than the limit on its own', () => {
    const small = Buffer.alloc(40, 'a');
    const big = Buffer.alloc(300, 'b');
    const groups = groupByBytes([small, small, big, small, small, small], bundleEntryBytes, 100);
    expect(groups.map((g) => g.map((b) => b.length))).toEqual([[40, 40], [300], [40, 40], [40]]);
    expect(groupByBytes([], bundleEntryBytes, 100)).toEqual([]);
  });
});
