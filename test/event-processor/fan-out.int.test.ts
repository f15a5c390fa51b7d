import type { EventProcessor } from '../../pipeline/event-processor/main';
import { fromKafkaBinary } from '../../pipeline/shared/cloudevents/envelope';
import { aRawEvent, rawRecord } from '../fixtures/platform-events';
import { aSnapshot } from '../fixtures/subscriptions';
import { consumeAll, waitFor } from '../support/kafka';
import { aScenario, type ProcessorScenario, produceIngest, publishSubscriptions, startProcessor } from './harness';

let processor: EventProcessor | undefined;
afterEach(async () => {
  await processor?.stop();
  processor = undefined;
});

/** The audit entries of the audit topic's records (CloudEvents JSON batches, one per tenant and flush). */
async function auditOf(s: ProcessorScenario, count: number) {
  const entries: Record<string, unknown>[] = [];
  await waitFor(
    async () => {
      const records = await consumeAll(s.topics.audit, { count: 1, timeoutMs: 20_000 });
      entries.length = 0;
      for (const r of records) {
        expect(r.headers['content-type']).toBe('application/cloudevents-batch+json');
        for (const e of JSON.parse(r.value!.toString()) as { data: Record<string, unknown> }[]) entries.push(e.data);
      }
      return entries.length >= count;
    },
    { timeoutMs: 20_000, what: `${count} audit entries` },
  );
  return entries;
}

describe('event-processor fan-out', () => {
  it('sends a USER CREATE with two matching subscriptions to exactly two outbox records on user-lifecycle', async () => {
    const s = aScenario('seed');
    await publishSubscriptions(s, [aSnapshot({ id: 'sub-1' }), aSnapshot({ id: 'sub-2' })]);
    processor = await startProcessor(s);
    expect(processor.directory.size()).toBe(2);
    await produceIngest(s, [rawRecord(aRawEvent({ eventId: 'evt-seed' }))]);

    const out = await consumeAll(s.topics.allOutbox(), { count: 2, settleMs: 1500 });
    expect(out).toHaveLength(2);
    expect(out.map((r) => r.headers['hub-subscription-id']).sort()).toEqual(['sub-1', 'sub-2']);
    for (const r of out) {
      expect(r.topic).toBe(s.topics.outbox('user-lifecycle'));
      expect(r.key).toBe('tenant-a');
      expect(r.headers.ce_id).toBe('evt-seed');
      expect(r.headers['hub-tenant-id']).toBe('tenant-a');
      expect(r.headers.ce_traceparent).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
      const ev = fromKafkaBinary(r.headers, r.value);
      expect(ev.ok && JSON.parse(ev.event.data.toString())).toEqual(aRawEvent().payload);
    }
    const audit = await auditOf(s, 2);
    expect(audit).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ stage: 'EVENT_RECEIVED', eventId: 'evt-seed', tenantId: 'tenant-a' }),
        expect.objectContaining({ stage: 'EVENT_PROCESSED', eventId: 'evt-seed', matches: 2 }),
      ]),
    );
  });

  it('fans out a chunk whose outbox records for one partition exceed the broker limit (1 MiB), all exactly once', async () => {
    // One tenant = one outbox partition; 100 events x 20 subscriptions x ~2 KB = ~4 MB in one transaction. Sent as
    // one produce request it is refused (MESSAGE_TOO_LARGE) and the consumer stopped for good.
    const s = aScenario('large-fanout');
    const subs = Array.from({ length: 20 }, (_, i) => aSnapshot({ id: `big-${i}` }));
    await publishSubscriptions(s, subs);
    processor = await startProcessor(s);
    const events = Array.from({ length: 100 }, (_, i) =>
      rawRecord(aRawEvent({ eventId: `evt-big-${i}`, payload: { userId: `u-${i}`, bio: 'x'.repeat(2000) } })),
    );
    await produceIngest(s, events);
    const out = await consumeAll(s.topics.allOutbox(), { count: 2000, settleMs: 1500, timeoutMs: 60_000 });
    expect(out).toHaveLength(2000);
    const pairs = new Set(out.map((r) => `${r.headers.ce_id}|${r.headers['hub-subscription-id']}`));
    expect(pairs.size).toBe(2000);
  });

  it('honours wildcards, includes paused subscriptions (held downstream), keeps tenants apart and audits a no-match as 0 matches', async () => {
    const s = aScenario('match');
    await publishSubscriptions(s, [
      aSnapshot({
        id: 'a-any-user',
        match: { sourceService: '*', eventType: '*', resourceType: 'USER', operationType: '*' },
      }),
      aSnapshot({ id: 'a-paused', status: 'PAUSED' }),
      aSnapshot({ id: 'b-exact', tenantId: 'tenant-b' }),
      aSnapshot({
        id: 'b-everything',
        tenantId: 'tenant-b',
        match: { sourceService: '*', eventType: '*', resourceType: '*', operationType: '*' },
      }),
    ]);
    processor = await startProcessor(s);
    await produceIngest(s, [
      rawRecord(aRawEvent({ eventId: 'a-create' })),
      rawRecord(aRawEvent({ eventId: 'a-delete', eventType: 'user.deleted', operationType: 'DELETE' })),
      rawRecord(
        aRawEvent({
          eventId: 'a-nomatch',
          resourceType: 'POLICY',
          eventType: 'policy.updated',
          operationType: 'UPDATE',
        }),
      ),
      rawRecord(aRawEvent({ eventId: 'b-create', tenantId: 'tenant-b' })),
    ]);

    // a-create -> a-any-user + a-paused; a-delete -> a-any-user; a-nomatch -> none; b-create -> b-exact + b-everything
    const out = await consumeAll(s.topics.allOutbox(), { count: 5, settleMs: 1500 });
    const pairs = out.map((r) => `${r.headers.ce_id}->${r.headers['hub-subscription-id']}`).sort();
    expect(pairs).toEqual([
      'a-create->a-any-user',
      'a-create->a-paused',
      'a-delete->a-any-user',
      'b-create->b-everything',
      'b-create->b-exact',
    ]);
    for (const r of out) expect(r.key).toBe(r.headers['hub-tenant-id']);
    expect(
      out.filter((r) => r.key === 'tenant-a').every((r) => r.headers['hub-subscription-id']!.startsWith('a-')),
    ).toBe(true);

    const audit = await waitFor(
      async () => {
        const entries = await auditOf(s, 8);
        return entries.find((e) => e.stage === 'EVENT_PROCESSED' && e.eventId === 'a-nomatch') ? entries : undefined;
      },
      { timeoutMs: 20_000, what: 'audit of the no-match event' },
    );
    expect(audit.find((e) => e.stage === 'EVENT_PROCESSED' && e.eventId === 'a-nomatch')).toMatchObject({
      matches: 0,
      outcome: 'no-match',
    });
  });
});
