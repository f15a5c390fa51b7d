import { aRawEvent, binaryRecord, rawRecord } from '../../test/fixtures/platform-events';
import { aSnapshot } from '../../test/fixtures/subscriptions';
import { fromKafkaBinary } from '../shared/cloudevents/envelope';
import { LEDGER_EVENT_HEADER, ledgerRecordsOfOutbox } from '../shared/ledger/ledger-from-outbox';
import { memoryDirectory } from '../shared/subscriptions/directory';
import type { SubscriptionSnapshot } from '../shared/subscriptions/snapshot';
import { topicNames } from '../shared/topics';
import { decodeInput, type IngestRecord } from './decode-input';
import { createEventHandler } from './handler';
import { isValidTraceparent } from './traceparent';

const topics = topicNames('hub');
const source = { topic: 'platform.events.v1', partition: 2, offset: '41' };

function handle(snapshots: SubscriptionSnapshot[], record: IngestRecord) {
  const handler = createEventHandler({ directory: memoryDirectory(snapshots), topics, now: () => 1_500 });
  return handler({ record, decoded: decodeInput(record), source, receivedAt: 1_000 });
}

describe('createEventHandler', () => {
  it('marks the first outbox record of an event for the ledger, which reads the event row and payload from it', () => {
    const handler = createEventHandler({
      directory: memoryDirectory([aSnapshot({ id: 'sub-1' }), aSnapshot({ id: 'sub-2' })]),
      topics,
      now: () => 1_500,
      ledger: true,
    });
    const r = handler({ record: rawRecord(), decoded: decodeInput(rawRecord()), source, receivedAt: 1_000 });
    expect(r.matches).toBe(2);
    // Nothing of the ledger's own in the transaction: only the outbox records.
    expect(r.records.map((x) => x.topic)).toEqual(['hub.outbox.user-lifecycle.v1', 'hub.outbox.user-lifecycle.v1']);
    const [first, second] = r.records;
    expect(second!.headers[LEDGER_EVENT_HEADER]).toBeUndefined();
    // What the ledger writer makes of them (ledger-from-outbox.ts).
    const fromFirst = ledgerRecordsOfOutbox(first!);
    if (!('records' in fromFirst)) throw new Error(fromFirst.reason);
    const [ev] = fromFirst.records;
    expect(ev).toMatchObject({
      kind: 'event',
      eventId: first!.headers.ce_id,
      tenantId: 'tenant-a',
      domain: 'user-lifecycle',
      subscriptionIds: ['sub-1'],
      fanOut: 2,
      receivedAt: new Date(1_500).toISOString(),
      ingest: source,
    });
    if (ev?.kind !== 'event') throw new Error('not an event record');
    expect(ev.payload.body).toEqual(first!.value);
    expect(Object.keys(ev.payload.headers).some((k) => k.startsWith('hub-'))).toBe(false);
    expect(fromKafkaBinary(ev.payload.headers, ev.payload.body as Buffer).ok).toBe(true);
    expect(ledgerRecordsOfOutbox(second!)).toEqual({
      records: [expect.objectContaining({ kind: 'delivery', subscriptionId: 'sub-2', status: 'PENDING', attempts: 0 })],
    });
  });

  it('leaves the outbox records unmarked with the ledger off', () => {
    const r = handle([aSnapshot({ id: 'sub-1' })], rawRecord());
    expect(r.records[0]!.headers[LEDGER_EVENT_HEADER]).toBeUndefined();
  });

  it('fans a USER CREATE out to both matching subscriptions on the user-lifecycle outbox, keyed by tenant', () => {
    const r = handle([aSnapshot({ id: 'sub-1' }), aSnapshot({ id: 'sub-2' })], rawRecord());
    expect(r.outcome.type).toBe('delivered');
    expect(r.matches).toBe(2);
    expect(r.domain).toBe('user-lifecycle');
    expect(r.records.map((x) => [x.topic, x.key, x.headers['hub-subscription-id']])).toEqual([
      ['hub.outbox.user-lifecycle.v1', 'tenant-a', 'sub-1'],
      ['hub.outbox.user-lifecycle.v1', 'tenant-a', 'sub-2'],
    ]);
    for (const rec of r.records) {
      expect(rec.headers['hub-tenant-id']).toBe('tenant-a');
      expect(rec.headers['hub-domain']).toBe('user-lifecycle');
      const back = fromKafkaBinary(rec.headers, rec.value);
      if (!back.ok) throw new Error(back.reason);
      expect(back.event.id).toBe('evt-1');
      expect(back.event.extensions.traceparent).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-/);
      expect(JSON.parse(back.event.data.toString())).toEqual(aRawEvent().payload);
    }
  });

  it('audits EVENT_RECEIVED and EVENT_PROCESSED with the number of matches and the duration', () => {
    const r = handle([aSnapshot()], rawRecord());
    expect(r.audit).toEqual([
      expect.objectContaining({ stage: 'EVENT_RECEIVED', eventId: 'evt-1', tenantId: 'tenant-a' }),
      expect.objectContaining({
        stage: 'EVENT_PROCESSED',
        eventId: 'evt-1',
        tenantId: 'tenant-a',
        matches: 1,
        durationMs: 500,
        traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      }),
    ]);
  });

  it('matches wildcard subscriptions', () => {
    const wildcard = aSnapshot({
      id: 'sub-any-user',
      match: { sourceService: '*', eventType: '*', resourceType: 'USER', operationType: '*' },
    });
    const r = handle([wildcard], rawRecord(aRawEvent({ operationType: 'DELETE', eventType: 'user.deleted' })));
    expect(r.records.map((x) => x.headers['hub-subscription-id'])).toEqual(['sub-any-user']);
  });

  it('fans out to paused subscriptions too (the outbox holds their deliveries until resume)', () => {
    const r = handle([aSnapshot({ id: 'paused', status: 'PAUSED' }), aSnapshot({ id: 'active' })], rawRecord());
    expect(r.records.map((x) => x.headers['hub-subscription-id']).sort()).toEqual(['active', 'paused']);
  });

  it('produces nothing and audits 0 matches when no subscription matches', () => {
    const r = handle([aSnapshot({ match: { ...aSnapshot().match, operationType: 'DELETE' } })], rawRecord());
    expect(r.outcome.type).toBe('skipped');
    expect(r.records).toEqual([]);
    expect(r.audit[1]).toMatchObject({ stage: 'EVENT_PROCESSED', matches: 0, outcome: 'no-match' });
  });

  it("never sends a tenant's event to another tenant's subscription", () => {
    const r = handle([aSnapshot({ id: 'b-sub', tenantId: 'tenant-b' })], rawRecord());
    expect(r.records).toEqual([]);
  });

  it('routes by the routing table and falls back to its default domain', () => {
    const any = [aSnapshot({ match: { sourceService: '*', eventType: '*', resourceType: '*', operationType: '*' } })];
    const group = handle(
      any,
      rawRecord(aRawEvent({ resourceType: 'GROUP', eventType: 'group.member_added', operationType: 'UPDATE' })),
    );
    expect(group.records[0]?.topic).toBe('hub.outbox.access.v1');
    const policy = handle(any, rawRecord(aRawEvent({ resourceType: 'POLICY', eventType: 'policy.updated' })));
    expect(policy.records[0]?.topic).toBe('hub.outbox.policy.v1');
    const unknown = handle(any, rawRecord(aRawEvent({ resourceType: 'SPACESHIP', eventType: 'spaceship.launched' })));
    expect(unknown.domain).toBe('organization');
    expect(unknown.records[0]?.topic).toBe('hub.outbox.organization.v1');
  });

  it('derives a traceparent when the source event has none, the same for every retry', () => {
    const record = binaryRecord(aRawEvent({ traceId: undefined }));
    const a = handle([aSnapshot()], record).records[0]!;
    const b = handle([aSnapshot()], record).records[0]!;
    const tp = a.headers.ce_traceparent as string;
    expect(isValidTraceparent(tp)).toBe(true);
    expect(b.headers.ce_traceparent).toBe(tp);
  });

  it('quarantines poison with the original key, value and headers plus the reason and source position', () => {
    const record = { key: 'tenant-x', value: Buffer.from('{oops'), headers: { 'x-origin': 'crm' } };
    const r = handle([aSnapshot()], record);
    expect(r.outcome).toMatchObject({ type: 'deadLetter', failure: { code: 'INGEST.BAD_JSON', kind: 'permanent' } });
    expect(r.records).toHaveLength(1);
    const q = r.records[0]!;
    expect(q.topic).toBe('hub.quarantine.v1');
    expect(q.key).toBe('tenant-x');
    expect(q.value).toBe(record.value);
    expect(q.headers).toMatchObject({
      'x-origin': 'crm',
      'hub-quarantine-code': 'INGEST.BAD_JSON',
      'hub-source-topic': 'platform.events.v1',
      'hub-source-partition': '2',
      'hub-source-offset': '41',
    });
    expect(String(q.headers['hub-quarantine-reason'])).toMatch(/not JSON/);
    expect(r.audit).toEqual([
      expect.objectContaining({
        stage: 'EVENT_ERROR',
        eventId: 'platform.events.v1/2/41',
        tenantId: 'tenant-x',
        errorCode: 'INGEST.BAD_JSON',
      }),
    ]);
  });

  it('audits poison without a readable tenant under "unknown"', () => {
    const r = handle([], { key: null, value: Buffer.from('[]') });
    expect(r.audit[0]).toMatchObject({ stage: 'EVENT_ERROR', tenantId: 'unknown', errorCode: 'INGEST.NOT_AN_OBJECT' });
    expect(r.records[0]?.key).toBeNull();
  });

  it('names the event id and tenant of a poison binary event in its audit entry when they are readable', () => {
    const rec = binaryRecord(aRawEvent(), { ce_specversion: '0.3' });
    const r = handle([], rec);
    expect(r.audit[0]).toMatchObject({ stage: 'EVENT_ERROR', eventId: 'evt-1', tenantId: 'tenant-a' });
  });
});
