import pino from 'pino';
import { aSnapshot } from '../../test/fixtures/subscriptions';
import { memoryAuditSink } from '../shared/audit/audit';
import { toKafkaBinary } from '../shared/cloudevents/envelope';
import type { LedgerRecord } from '../shared/ledger/ledger-record';
import { type FailureStore, RecordRefusedError, type StoredFailure } from '../shared/parked/failure-store';
import { memoryDirectory } from '../shared/subscriptions/directory';
import { type RedeliveryDeps, redeliver } from './scheduler';

const sub = aSnapshot({ id: 'sub-1', tenantId: 'tenant-a', endpointUrl: 'http://127.0.0.1:1/hook' });

function aRow(): StoredFailure {
  const bin = toKafkaBinary({
    specversion: '1.0',
    id: 'evt-1',
    source: '//identity',
    type: 'user.created',
    datacontenttype: 'application/json',
    extensions: { tenantid: 'tenant-a' },
    data: Buffer.from('{}'),
  });
  const at = new Date('2026-12-01T10:00:00.000Z');
  return {
    id: '00000000-0000-4000-8000-000000000001',
    eventId: 'evt-1',
    subscriptionId: sub.id,
    tenantId: 'tenant-a',
    domain: 'user-lifecycle',
    eventType: 'user.created',
    sourceTopic: null,
    sourcePartition: null,
    sourceOffset: null,
    ceHeaders: bin.headers,
    body: bin.value,
    failureHeaders: {},
    status: 'RETRYING',
    reason: null,
    attempts: 0,
    ordered: false,
    laneSeq: null,
    nextAttemptAt: at,
    lastStatusCode: 503,
    lastErrorCode: 'DELIVERY.HTTP_503',
    firstFailedAt: at,
    lastFailedAt: at,
    resolvedAt: null,
    createdAt: at,
    updatedAt: at,
  };
}

/** A store whose recordAttempt fails with each of `errors` in turn, then succeeds; the ledger records it was given. */
function storeFailing(errors: Error[]) {
  const calls: (LedgerRecord[] | undefined)[] = [];
  const store = {
    recordAttempt: async (_id: string, _a: unknown, next: { ledger?: LedgerRecord[] }) => {
      calls.push(next.ledger);
      const err = errors.shift();
      if (err) throw err;
      return true;
    },
    pullForward: async () => 0,
    markDelivered: async () => {},
  } as unknown as FailureStore;
  return { store, calls };
}

function deps(store: FailureStore, sent: { n: number }): RedeliveryDeps {
  return {
    store,
    directory: memoryDirectory([sub]),
    deliver: async () => {
      sent.n++;
      return { outcome: 'delivered', status: 204, durationMs: 3 };
    },
    audit: memoryAuditSink(),
    log: pino({ level: 'silent' }),
    instanceId: 'test',
    scheduleFor: () => [1000, 1000],
    retryAfterCapMs: 1000,
    leaseMs: 30_000,
    recordLedger: true,
  };
}

describe('redeliver: recording the step', () => {
  it('tries the write again while Postgres is busy, with the same ledger records (one attemptId), one request', async () => {
    const { store, calls } = storeFailing([
      new Error('Transaction API error: Unable to start a transaction in the given time.'),
    ]);
    const sent = { n: 0 };
    const out = await redeliver(deps(store, sent), aRow(), false);
    expect(out).toMatchObject({ status: 'DELIVERED', delivered: true });
    expect(sent.n).toBe(1);
    expect(calls).toHaveLength(2);
    expect(calls[1]).toBe(calls[0]);
    expect(calls[0]).toEqual([
      expect.objectContaining({ kind: 'attempt', source: 'SCHEDULED', attempt: 1, statusCode: 204 }),
      expect.objectContaining({ kind: 'delivery', status: 'DELIVERED', attempts: 1 }),
    ]);
  });

  it('does not try again a step whose data Postgres refuses', async () => {
    const { store, calls } = storeFailing([new RecordRefusedError('invalid byte sequence', '22021')]);
    await expect(redeliver(deps(store, { n: 0 }), aRow(), false)).rejects.toBeInstanceOf(RecordRefusedError);
    expect(calls).toHaveLength(1);
  });
});
