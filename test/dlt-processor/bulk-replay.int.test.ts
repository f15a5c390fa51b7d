/**
 * Bulk replay by filter, in the background, with progress. DLT_BULK_REPLAY_EVENTS sets the size (default 1000;
 * the long profile runs the 10000).
 */
import { waitFor } from '../support/kafka';
import { startReceiver } from '../support/receiver';
import { anEvent, startDltHarness } from './harness';

const N = Number(process.env.DLT_BULK_REPLAY_EVENTS ?? 1000);
jest.setTimeout(Math.max(120_000, N * 60));

describe('dlt-processor bulk replay', () => {
  it(`replays ${N} failures selected by filter; the dry run counts the same rows; others stay untouched`, async () => {
    const hub = await startDltHarness({ scheduler: false });
    let healthy = false;
    const r = await startReceiver((_q, res) => res.writeHead(healthy ? 200 : 410).end());
    const op = { authorization: `Bearer ${hub.operatorKey}` };
    try {
      const target = await hub.subscribe({ endpointUrl: r.url, tenantId: 'tenant-c' });
      const other = await hub.subscribe({ endpointUrl: r.url, tenantId: 'tenant-c' });
      const events = Array.from({ length: N }, () => anEvent('tenant-c', { type: 'user.updated' }));
      const others = Array.from({ length: 50 }, () => anEvent('tenant-c', { type: 'user.updated' }));
      await hub.deadLetterMany(events, target.id);
      await hub.deadLetterMany(others, other.id);
      await waitFor(async () => (await hub.db.prisma.failedEvent.count({ where: { status: 'FAILED' } })) === N + 50, {
        timeoutMs: Math.max(60_000, N * 10),
        what: `${N + 50} FAILED rows`,
      });
      const filter = { tenantId: 'tenant-c', subscriptionId: target.id, eventType: 'user.updated', status: 'FAILED' };
      const dry = await hub.app.inject({
        method: 'POST',
        url: '/v1/failed-events/replay',
        headers: op,
        payload: { ...filter, dryRun: true },
      });
      expect(dry.statusCode).toBe(200);
      expect(dry.json()).toEqual({ dryRun: true, count: N });
      expect(r.received).toHaveLength(0);

      healthy = true;
      const started = await hub.app.inject({
        method: 'POST',
        url: '/v1/failed-events/replay',
        headers: op,
        payload: filter,
      });
      expect(started.statusCode).toBe(202);
      const job = started.json();
      expect(started.headers.location).toBe(`/v1/replay-jobs/${job.id}`);
      expect(job).toMatchObject({ status: 'RUNNING', total: N });
      const progress: number[] = [];
      const done = await waitFor(
        async () => {
          const j = (await hub.app.inject({ url: `/v1/replay-jobs/${job.id}`, headers: op })).json();
          progress.push(j.processed);
          return j.status === 'COMPLETED' ? j : undefined;
        },
        { timeoutMs: Math.max(60_000, N * 50), intervalMs: 100, what: 'replay job COMPLETED' },
      );
      expect(done).toMatchObject({ total: N, processed: N, succeeded: N, failed: 0, error: null });
      expect(progress).toEqual([...progress].sort((a, b) => a - b));
      console.log(`[bulk replay] ${N} rows; progress samples ${progress.length}, first ${progress[0]}`);

      const ids = r.received.map((x) => x.headers['webhook-id']);
      expect(ids).toHaveLength(N);
      expect(new Set(ids)).toEqual(new Set(events.map((e) => e.id)));
      expect(await hub.db.prisma.failedEvent.count({ where: { subscriptionId: target.id, status: 'REPLAYED' } })).toBe(
        N,
      );
      expect(await hub.db.prisma.failedEvent.count({ where: { subscriptionId: other.id, status: 'FAILED' } })).toBe(50);
      // Nothing left to replay under the same filter.
      const again = await hub.app.inject({
        method: 'POST',
        url: '/v1/failed-events/replay',
        headers: op,
        payload: { ...filter, dryRun: true },
      });
      expect(again.json().count).toBe(0);
      // A tenant key cannot read an operator's job of another tenant... nor does it exist for others.
      const d = { authorization: `Bearer ${await hub.tenantKey('tenant-d')}` };
      expect((await hub.app.inject({ url: `/v1/replay-jobs/${job.id}`, headers: d })).statusCode).toBe(404);
      const c = { authorization: `Bearer ${await hub.tenantKey('tenant-c')}` };
      expect((await hub.app.inject({ url: `/v1/replay-jobs/${job.id}`, headers: c })).statusCode).toBe(200);
    } finally {
      await hub.stop();
      await r.close();
    }
  });
});
