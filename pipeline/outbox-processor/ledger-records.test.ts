import { aSnapshot } from '../../test/fixtures/subscriptions';
import { permanent, retriable } from '../shared/errors';
import { decodeLedgerMessage, encodeLedgerRecord } from '../shared/ledger/ledger-record';
import { ledgerRecordsOf } from './ledger-records';

const item = {
  event: {
    specversion: '1.0' as const,
    id: 'evt-1',
    source: '//x',
    type: 'user.created',
    extensions: {},
    data: Buffer.alloc(0),
  },
  subscriptionId: aSnapshot().id,
  tenantId: 'tenant-a',
};
const message = {
  key: null,
  value: null,
  timestamp: '0',
  attributes: 0,
  offset: '7',
  headers: { 'hub-received-at': '2026-12-01T10:00:00.000Z' },
};
const at = new Date('2026-12-01T10:00:01.000Z');
const tries = [
  {
    at: new Date('2026-12-01T10:00:00.500Z'),
    durationMs: 12.4,
    status: 503,
    errorCode: 'DELIVERY.HTTP_503',
    responseSnippet: 'Bearer abc.def',
  },
  { at: new Date('2026-12-01T10:00:00.800Z'), durationMs: 3, status: 204, responseSnippet: '' },
];

describe('ledger records of an outbox outcome', () => {
  it('records the delivery with every attempt inside it (snippet masked), on the event’s day partition', () => {
    const [r] = ledgerRecordsOf(item, message, { type: 'delivered', attempts: 2, status: 204, tries }, at);
    expect(r).toMatchObject({
      kind: 'delivery',
      status: 'DELIVERED',
      attempts: 2,
      lastStatusCode: 204,
      at: at.toISOString(),
      receivedAt: '2026-12-01T10:00:00.000Z',
    });
    const inline = (r as { tries: Record<string, unknown>[] }).tries;
    expect(inline).toHaveLength(2);
    expect(inline[0]).toMatchObject({
      source: 'OUTBOX',
      attempt: 1,
      durationMs: 12,
      statusCode: 503,
      errorCode: 'DELIVERY.HTTP_503',
      responseSnippet: 'Bearer [redacted]',
    });
    expect(new Set(inline.map((x) => x.attemptId)).size).toBe(2);
  });
  it.each([
    [{ type: 'skipped', code: 'GATE.TENANT_MISMATCH', reason: 'x' }, 'SKIPPED'],
    [{ type: 'held', reason: 'subscription paused' }, 'HELD'],
    [{ type: 'parkBehind', held: false }, 'RETRYING'],
    [{ type: 'parkBehind', held: true }, 'HELD'],
    [
      {
        type: 'deadLetter',
        failure: retriable('DELIVERY.HTTP_503', 'x'),
        attempts: 3,
        firstAttemptAt: at,
        lastAttemptAt: at,
      },
      'RETRYING',
    ],
    [
      {
        type: 'deadLetter',
        failure: permanent('DELIVERY.HTTP_410', 'gone'),
        attempts: 1,
        firstAttemptAt: at,
        lastAttemptAt: at,
      },
      'FAILED',
    ],
  ] as const)('maps %o to %s', (outcome, status) => {
    const r = ledgerRecordsOf(item, message, outcome as never, at);
    expect(r.at(-1)).toMatchObject({ kind: 'delivery', status });
  });

  it("carries the event's W3C trace id, and encodes without the fields it does not have", () => {
    const traced = {
      ...item,
      event: { ...item.event, extensions: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' } },
    };
    const [r] = ledgerRecordsOf(traced, message, { type: 'delivered', attempts: 2, status: 204, tries }, at);
    expect(r).toMatchObject({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736' });
    // No traceparent, no attempts: neither key is written (the topic's schema has them optional, not null).
    const [bare] = ledgerRecordsOf(item, message, { type: 'held', reason: 'subscription paused' }, at);
    const json = JSON.parse(encodeLedgerRecord(bare!).toString());
    expect(Object.keys(json)).not.toContain('traceId');
    expect(Object.keys(json)).not.toContain('tries');
    expect(decodeLedgerMessage(encodeLedgerRecord(bare!)).invalid).toEqual([]);
  });
});
