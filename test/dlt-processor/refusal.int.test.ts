/**
 * Records Postgres refuses, and failures that are not outages: never dropped, never a stuck partition.
 * The refusing store wraps the real Prisma store (our own port), so every row still lands in Postgres.
 */
import { type FailureStore, RecordRefusedError } from '../../pipeline/shared/parked/failure-store';
import type { NewFailure } from '../../pipeline/shared/parked/parse-dlt-record';
import { waitFor } from '../support/kafka';
import { startReceiver } from '../support/receiver';
import { anEvent, startDltHarness } from './harness';

jest.setTimeout(90_000);

/** A store that fails batches containing one of `poisoned` event ids with `error()` (as long as `active()`). */
function refusing(poisoned: Set<string>, error: () => Error, active: () => boolean = () => true) {
  return (store: FailureStore): FailureStore =>
    Object.assign(Object.create(store) as FailureStore, {
      persistBatch: async (rows: NewFailure[]) => {
        if (active() && rows.some((r) => poisoned.has(r.eventId))) throw error();
        return store.persistBatch(rows);
      },
    });
}

describe('dlt-processor and records the database refuses', () => {
  it('Postgres refuses the data itself: it is translated to RecordRefusedError', async () => {
    const hub = await startDltHarness({ scheduler: false });
    try {
      const bad: NewFailure = {
        eventId: 'e-nul',
        subscriptionId: 's',
        tenantId: 't',
        domain: 'access',
        eventType: null,
        sourceTopic: 't',
        sourcePartition: 0,
        sourceOffset: '1',
        ceHeaders: { ce_id: 'a\u0000b' },
        body: Buffer.alloc(0),
        failureHeaders: {},
        status: 'FAILED',
        reason: 'x',
        attempts: 0,
        lastStatusCode: null,
        lastErrorCode: null,
        firstFailedAt: new Date(),
        lastFailedAt: new Date(),
      };
      await expect(hub.store.persistBatch([bad])).rejects.toBeInstanceOf(RecordRefusedError);
      await expect(hub.store.persistBatch([{ ...bad, eventId: 'e'.repeat(9000) }])).rejects.toBeInstanceOf(
        RecordRefusedError,
      );
    } finally {
      await hub.stop();
    }
  });

  it('a refused record becomes a FAILED placeholder; the rest of its batch and the next records are stored', async () => {
    const poisoned = new Set<string>();
    const hub = await startDltHarness({
      scheduler: false,
      consumerStore: refusing(poisoned, () => new RecordRefusedError('value refused', '22P05')),
    });
    const r = await startReceiver();
    try {
      const sub = await hub.subscribe({ endpointUrl: r.url });
      const events = Array.from({ length: 10 }, () => anEvent());
      poisoned.add(events[4]!.id);
      await hub.deadLetterMany(events, sub.id, 'DELIVERY.HTTP_500', 500);
      const after = anEvent();
      await hub.deadLetter(after, sub.id);
      await waitFor(async () => (await hub.db.prisma.failedEvent.count()) === 11, { what: '11 rows' });
      const rows = await hub.db.prisma.failedEvent.findMany();
      const ids = new Set(rows.map((x) => x.eventId));
      for (const e of [...events.filter((_, i) => i !== 4), after]) expect(ids.has(e.id)).toBe(true);
      const placeholder = rows.find((x) => x.eventId.includes('.dlt.user-lifecycle.v1:'))!;
      expect(placeholder).toMatchObject({ status: 'FAILED' });
      expect(placeholder.reason).toMatch(/could not be stored as read \(value refused\)/);
      const kept = JSON.parse(
        Buffer.from(
          (placeholder.ceHeaders as Record<string, string>)['hub-unstorable-headers-base64']!,
          'base64',
        ).toString(),
      );
      expect(kept.ce_id).toBe(events[4]!.id);
    } finally {
      await hub.stop();
      await r.close();
    }
  });

  it('a transient failure while Postgres answers pauses and retries the batch: stored once, no placeholder', async () => {
    const poisoned = new Set<string>();
    let failures = 2;
    const hub = await startDltHarness({
      scheduler: false,
      consumerStore: refusing(
        poisoned,
        () => {
          failures--;
          return new Error('Unable to start a transaction in the given time');
        },
        () => failures > 0,
      ),
    });
    const r = await startReceiver();
    try {
      const sub = await hub.subscribe({ endpointUrl: r.url });
      const events = Array.from({ length: 5 }, () => anEvent());
      poisoned.add(events[2]!.id);
      await hub.deadLetterMany(events, sub.id, 'DELIVERY.HTTP_500', 500);
      await waitFor(async () => (await hub.db.prisma.failedEvent.count()) === 5, { what: '5 rows' });
      expect(failures).toBe(0);
      const rows = await hub.db.prisma.failedEvent.findMany();
      expect(new Set(rows.map((x) => x.eventId))).toEqual(new Set(events.map((e) => e.id)));
      expect(rows.every((x) => x.status === 'PENDING')).toBe(true);
    } finally {
      await hub.stop();
      await r.close();
    }
  });

  it('a batch that keeps failing while Postgres answers is taken apart after a few rounds: no stuck partition', async () => {
    const poisoned = new Set<string>();
    const hub = await startDltHarness({
      scheduler: false,
      consumerStore: refusing(poisoned, () => new Error('some fault with no SQLSTATE')),
    });
    const r = await startReceiver();
    try {
      const sub = await hub.subscribe({ endpointUrl: r.url });
      const events = Array.from({ length: 5 }, () => anEvent());
      poisoned.add(events[1]!.id);
      await hub.deadLetterMany(events, sub.id, 'DELIVERY.HTTP_500', 500);
      const after = anEvent();
      await hub.deadLetter(after, sub.id);
      await waitFor(async () => (await hub.db.prisma.failedEvent.count()) === 6, { what: '6 rows', timeoutMs: 30_000 });
      const rows = await hub.db.prisma.failedEvent.findMany();
      expect(rows.filter((x) => x.status === 'FAILED')).toEqual([
        expect.objectContaining({ reason: expect.stringMatching(/some fault with no SQLSTATE/) }),
      ]);
      expect(rows.some((x) => x.eventId === after.id)).toBe(true);
    } finally {
      await hub.stop();
      await r.close();
    }
  });
});
