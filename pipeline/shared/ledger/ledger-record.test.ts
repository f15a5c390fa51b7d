import { groupByBytes } from '../group-by-bytes';
import {
  bundleEntryBytes,
  checkedLedgerRecord,
  decodeLedgerMessage,
  encodeLedgerBundle,
  encodeLedgerRecord,
  type LedgerDelivery,
  ledgerRecordSchema,
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

describe('the fast path of the ledger writer (checkedLedgerRecord)', () => {
  const attemptId = '0b6f3c1e-6a53-4f5e-9b7d-2f0e8c1a4d21';
  const inline = {
    at: '2026-12-01T10:00:01.000Z',
    attemptId,
    source: 'OUTBOX',
    attempt: 1,
    durationMs: 12,
    statusCode: 200,
    errorCode: null,
    responseSnippet: 'ok',
  };
  const withTries = { ...delivery('e1'), traceId: '4bf92f3577b34da6a3ce929d0e0e4736', tries: [inline] };
  const attempt = {
    kind: 'attempt',
    ...inline,
    eventId: 'e1',
    tenantId: 't1',
    subscriptionId: 's1',
    receivedAt: '2026-12-01T10:00:00.000Z',
  };
  const oddValues: unknown[] = [undefined, null, 42, -1, 1.5, '', 'x', 'not-a-date', [], {}, true];

  /** Each record with one field (of it or of its first inline attempt) changed, dropped, or one key added. */
  function variants(base: Record<string, unknown>): unknown[] {
    const out: unknown[] = [base];
    for (const key of Object.keys(base)) {
      for (const v of oddValues) out.push({ ...base, [key]: v });
      const { [key]: _dropped, ...rest } = base;
      out.push(rest);
    }
    out.push({ ...base, extra: 1 });
    if (Array.isArray(base.tries)) {
      const t = base.tries[0] as Record<string, unknown>;
      for (const key of Object.keys(t)) {
        for (const v of oddValues) out.push({ ...base, tries: [{ ...t, [key]: v }] });
        const { [key]: _dropped, ...rest } = t;
        out.push({ ...base, tries: [rest] });
      }
      out.push({ ...base, tries: [{ ...t, extra: 1 }] }, { ...base, tries: {} }, { ...base, tries: [null] });
    }
    return out;
  }

  it('takes the records the processors send, unchanged', () => {
    for (const r of [delivery('e1'), withTries, attempt]) expect(checkedLedgerRecord(r)).toBe(r);
  });

  it('passes only what the schema accepts, as the schema would give it; decoding gives what zod alone gives', () => {
    const all = [...variants(withTries), ...variants(attempt as Record<string, unknown>)];
    let fast = 0;
    let refused = 0;
    for (const v of all) {
      const checked = checkedLedgerRecord(v);
      const zod = ledgerRecordSchema.safeParse(v);
      if (checked) {
        fast++;
        expect(zod.success).toBe(true);
        expect(zod.data).toStrictEqual(checked);
      }
      if (!zod.success) refused++;
      // The bundle's decoding (fast path first) agrees with zod's verdict and reason.
      const decoded = decodeLedgerMessage(Buffer.from(`[${JSON.stringify(v ?? null)}]`));
      const json = JSON.parse(JSON.stringify(v ?? null));
      const viaZod = ledgerRecordSchema.safeParse(json);
      expect(decoded.records).toStrictEqual(viaZod.success ? [viaZod.data] : []);
      expect(decoded.invalid.map((i) => i.reason)).toEqual(
        viaZod.success ? [] : [viaZod.error.issues[0]?.message ?? 'invalid'],
      );
    }
    // Both ways are exercised: many variants pass the fast path, many are refused.
    expect(fast).toBeGreaterThan(10);
    expect(refused).toBeGreaterThan(100);
  });
});
