/**
 * The ledger store remembers the deliveries it has written and leaves a later PENDING proposal for one of them out
 * of its batch (prepareBatch `written`): such a proposal changes nothing on a row that exists, and after a
 * saturation run the writer's backlog is the events, whose deliveries it wrote long before.
 *
 * Observed on a real Postgres by removing a written row behind the store's back: the store that wrote it does not
 * bring it back with the event's PENDING proposal; a store that did not write it does (the memory only ever leaves
 * out work, never a row). The memory is bounded (the oldest keys forgotten first) and forgets the days that
 * retention drops.
 */
import { randomUUID } from 'node:crypto';
import type { LedgerEvent } from '../../pipeline/shared/ledger/ledger-record';
import { LedgerWriterStorePg } from '../../pipeline/shared/ledger/ledger-store.pg';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { deliveredOutcome } from '../support/ledger-records';

jest.setTimeout(60_000);

const receivedAt = new Date(Date.now() - 60_000).toISOString();
const day = receivedAt.slice(0, 10);

function anEvent(eventId: string, subscriptionIds: string[]): LedgerEvent {
  return {
    kind: 'event',
    at: receivedAt,
    eventId,
    tenantId: 'tenant-r',
    type: 'user.created',
    source: '//identity',
    match: { sourceService: 'identity', eventType: 'user.created', resourceType: 'user', operationType: 'create' },
    domain: 'user-lifecycle',
    receivedAt,
    subscriptionIds,
    payload: { headers: { ce_id: eventId }, body: Buffer.from('{}') },
  };
}

/** The outbox-processor's record of a first-try success for (eventId, subscriptionId). */
const delivered = (eventId: string, subscriptionId: string) =>
  deliveredOutcome({ eventId, tenantId: 'tenant-r', receivedAt }, subscriptionId);

describe('ledger store: deliveries remembered as written', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  /** The delivery rows of an event: subscription -> status. */
  const rowsOf = async (eventId: string) => {
    const { rows } = await db
      .pool()
      .query<{ subscriptionId: string; status: string }>(
        'SELECT "subscriptionId", status FROM "LedgerDelivery" WHERE "eventId" = $1 ORDER BY "subscriptionId"',
        [eventId],
      );
    return Object.fromEntries(rows.map((r) => [r.subscriptionId, r.status]));
  };
  const removeRows = (eventId: string) =>
    db.pool().query('DELETE FROM "LedgerDelivery" WHERE "eventId" = $1', [eventId]);

  it('leaves out the PENDING proposal of a delivery it wrote; another store writes it', async () => {
    const store = new LedgerWriterStorePg(db.pool());
    const e = randomUUID();
    await store.write([delivered(e, 'sub-a')]);
    expect(await rowsOf(e)).toEqual({ 'sub-a': 'DELIVERED' });

    // The outcome came first (as at saturation); the event's first outbox record follows. The row is removed first,
    // so that what the store sends shows: sub-a is left out, sub-b (never written) gets its PENDING row.
    await removeRows(e);
    const counts = await store.write([anEvent(e, ['sub-a', 'sub-b'])]);
    expect(counts.LedgerEvent).toBe(1);
    expect(await rowsOf(e)).toEqual({ 'sub-b': 'PENDING' });

    // A store that did not write sub-a proposes it as ever.
    const other = new LedgerWriterStorePg(db.pool());
    await other.write([anEvent(e, ['sub-a', 'sub-b'])]);
    expect(await rowsOf(e)).toEqual({ 'sub-a': 'PENDING', 'sub-b': 'PENDING' });

    // A status after PENDING, or an attempt, for a remembered delivery is always written.
    await removeRows(e);
    await store.write([delivered(e, 'sub-b')]);
    expect(await rowsOf(e)).toEqual({ 'sub-b': 'DELIVERED' });
  });

  it('remembers at most rememberDeliveries keys, forgetting the oldest first; rememberDeliveries 0 remembers none', async () => {
    const store = new LedgerWriterStorePg(db.pool(), { rememberDeliveries: 2 });
    const e = randomUUID();
    for (const sub of ['sub-1', 'sub-2', 'sub-3']) await store.write([delivered(e, sub)]);
    await removeRows(e);
    await store.write([anEvent(e, ['sub-1', 'sub-2', 'sub-3'])]);
    // sub-1 was forgotten when sub-3 was written: its PENDING row is back; sub-2 and sub-3 are still remembered.
    expect(await rowsOf(e)).toEqual({ 'sub-1': 'PENDING' });

    const none = new LedgerWriterStorePg(db.pool(), { rememberDeliveries: 0 });
    const f = randomUUID();
    await none.write([delivered(f, 'sub-1')]);
    await removeRows(f);
    await none.write([anEvent(f, ['sub-1'])]);
    expect(await rowsOf(f)).toEqual({ 'sub-1': 'PENDING' });
  });

  it('forgets the deliveries of a day that retention drops', async () => {
    const store = new LedgerWriterStorePg(db.pool());
    const e = randomUUID();
    await store.write([delivered(e, 'sub-a')]);
    await removeRows(e);
    await store.write([anEvent(e, ['sub-a'])]);
    expect(await rowsOf(e)).toEqual({}); // remembered
    // Retention drops the day (a cut-off the day after it); the event's records come again for that day.
    const nextDay = new Date(Date.parse(`${day}T00:00:00.000Z`) + 86_400_000).toISOString().slice(0, 10);
    expect(await store.dropPartitionsBefore(nextDay)).toContain(day);
    await store.write([anEvent(e, ['sub-a'])]);
    expect(await rowsOf(e)).toEqual({ 'sub-a': 'PENDING' });
  });
});
