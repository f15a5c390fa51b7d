/**
 * FailureStorePrisma.recordAttempt against the real Postgres: a scheduled step written twice — the scheduler tries a
 * write again when its first try failed, and a first try can fail after its COMMIT went through (the connection
 * dropped before the answer) — is recorded once, by the attempt's id:
 * - one DeliveryAttempt row, `attempts` counted once, the step's ledger records queued once;
 * - the second write answers "applied" when the first one applied the step's state;
 * - a second write that comes after the row has moved on (claimed again for its next step) changes nothing.
 */
import { randomUUID } from 'node:crypto';
import type { LedgerRecord } from '../../pipeline/shared/ledger/ledger-record';
import { FailureStorePrisma } from '../../pipeline/shared/parked/failure-store.prisma';
import type { NewFailure } from '../../pipeline/shared/parked/parse-dlt-record';
import { createTestDatabase, type TestDatabase } from '../support/db';

const row = (eventId: string): NewFailure => ({
  eventId,
  subscriptionId: 'sub-1',
  tenantId: 'tenant-a',
  domain: 'access',
  eventType: 'user.created',
  sourceTopic: 'outbox',
  sourcePartition: 0,
  sourceOffset: '1',
  ceHeaders: { ce_id: eventId },
  body: Buffer.from('{}'),
  failureHeaders: {},
  status: 'PENDING',
  reason: 'HTTP 503',
  attempts: 1,
  lastStatusCode: 503,
  lastErrorCode: 'DELIVERY.HTTP_503',
  firstFailedAt: new Date(),
  lastFailedAt: new Date(),
  nextAttemptAt: new Date(Date.now() - 1000),
});

const ledgerOf = (eventId: string, attemptId: string, status: 'RETRYING' | 'DELIVERED'): LedgerRecord[] => [
  {
    kind: 'attempt',
    at: new Date().toISOString(),
    attemptId,
    eventId,
    tenantId: 'tenant-a',
    subscriptionId: 'sub-1',
    receivedAt: new Date().toISOString(),
    source: 'SCHEDULED',
    attempt: 2,
    durationMs: 5,
    statusCode: status === 'DELIVERED' ? 204 : 503,
    errorCode: null,
    responseSnippet: null,
  },
  {
    kind: 'delivery',
    at: new Date().toISOString(),
    eventId,
    tenantId: 'tenant-a',
    subscriptionId: 'sub-1',
    receivedAt: new Date().toISOString(),
    status,
    reason: null,
    attempts: 1,
    lastStatusCode: status === 'DELIVERED' ? 204 : 503,
    nextAttemptAt: null,
  },
];

describe('recordAttempt: a step written twice is recorded once', () => {
  let db: TestDatabase;
  let store: FailureStorePrisma;
  beforeAll(async () => {
    db = await createTestDatabase();
    store = new FailureStorePrisma(db.prisma, { recordLedger: true });
  });
  afterAll(async () => {
    await db?.drop();
  });

  /** Parks a failure and claims it: the scheduler's state before it sends the request. */
  async function claimed(eventId: string) {
    await store.persistBatch([row(eventId)]);
    const [f] = await store.claimDue('instance-1', 10, 30_000);
    expect(f?.eventId).toBe(eventId);
    return f!;
  }

  const step = (eventId: string, attemptId: string, status: 'RETRYING' | 'DELIVERED', nextAttemptAt: Date | null) =>
    [
      {
        attemptId,
        attemptedAt: new Date(),
        source: 'SCHEDULED' as const,
        statusCode: status === 'DELIVERED' ? 204 : 503,
        errorCode: null,
        durationMs: 5,
        responseSnippet: null,
      },
      {
        status,
        nextAttemptAt,
        reason: null,
        countsAsScheduled: true,
        claimedBy: 'instance-1',
        ledger: ledgerOf(eventId, attemptId, status),
      },
    ] as const;

  async function booksOf(id: string) {
    const f = await db.prisma.failedEvent.findUniqueOrThrow({ where: { id } });
    const attempts = await db.prisma.deliveryAttempt.count({ where: { failedEventId: id } });
    const outbox = await db.prisma.ledgerOutbox.findMany();
    return { f, attempts, outboxRows: outbox.length };
  }

  it('the same step twice: one attempt row, counted once, its ledger records queued once; both writes say applied', async () => {
    await db.prisma.ledgerOutbox.deleteMany();
    const f = await claimed(`evt-${randomUUID()}`);
    const start = await booksOf(f.id); // the parked row (its outbox summary attempt), no scheduled attempt yet
    const id = randomUUID();
    expect(await store.recordAttempt(f.id, ...step(f.eventId, id, 'DELIVERED', null))).toBe(true);
    const once = await booksOf(f.id);
    expect(once).toMatchObject({
      attempts: start.attempts + 1,
      outboxRows: 1,
      f: { status: 'DELIVERED', attempts: start.f.attempts + 1 },
    });
    // The scheduler's retry of a write whose COMMIT went through: nothing more is written.
    expect(await store.recordAttempt(f.id, ...step(f.eventId, id, 'DELIVERED', null))).toBe(true);
    expect(await booksOf(f.id)).toEqual(once);
  });

  it('a late second write after the row moved on (claimed again for its next step) changes nothing', async () => {
    await db.prisma.ledgerOutbox.deleteMany();
    const f = await claimed(`evt-${randomUUID()}`);
    const start = await booksOf(f.id);
    const first = randomUUID();
    expect(await store.recordAttempt(f.id, ...step(f.eventId, first, 'RETRYING', new Date(Date.now() - 1)))).toBe(true);
    // Due again at once: the same instance claims it for its next step.
    const [again] = await store.claimDue('instance-1', 10, 30_000);
    expect(again?.id).toBe(f.id);
    const before = await booksOf(f.id);
    expect(before.f).toMatchObject({ status: 'RETRYING', attempts: start.f.attempts + 1, claimedBy: 'instance-1' });
    // The first step's write, retried late: had it applied, the row would lose its claim and count one more.
    expect(await store.recordAttempt(f.id, ...step(f.eventId, first, 'RETRYING', new Date(Date.now() + 60_000)))).toBe(
      true,
    );
    expect(await booksOf(f.id)).toEqual(before);
    // The next step itself is recorded as usual.
    expect(await store.recordAttempt(f.id, ...step(f.eventId, randomUUID(), 'DELIVERED', null))).toBe(true);
    expect(await booksOf(f.id)).toMatchObject({
      attempts: start.attempts + 2,
      outboxRows: 2,
      f: { status: 'DELIVERED', attempts: start.f.attempts + 2 },
    });
  });
});
