import type { LedgerAttempt, LedgerDelivery, LedgerEvent } from './ledger-record';
import {
  admissibility,
  createPartitionSql,
  dayOfPartition,
  daysOf,
  deliveryKeyOf,
  nextDay,
  partitionName,
  prepareBatch,
  retentionCutoff,
  startDays,
  utcDay,
} from './ledger-store';

const received = '2026-12-01T10:00:00.000Z';
const event = (o: Partial<LedgerEvent> = {}): LedgerEvent => ({
  kind: 'event',
  at: '2026-12-01T10:00:00.100Z',
  eventId: 'e1',
  tenantId: 't1',
  type: 'user.created',
  source: '//identity',
  match: { sourceService: 'identity', eventType: 'user.created', resourceType: 'user', operationType: 'create' },
  domain: 'user-lifecycle',
  receivedAt: received,
  subscriptionIds: ['s1', 's2'],
  payload: { headers: {}, body: '' },
  ...o,
});
const attempt = (o: Partial<LedgerAttempt> = {}): LedgerAttempt => ({
  kind: 'attempt',
  at: '2026-12-01T10:00:01.000Z',
  attemptId: '00000000-0000-4000-8000-000000000001',
  eventId: 'e1',
  tenantId: 't1',
  subscriptionId: 's1',
  receivedAt: received,
  source: 'OUTBOX',
  attempt: 1,
  durationMs: 5,
  statusCode: 200,
  errorCode: null,
  responseSnippet: null,
  ...o,
});
const delivery = (o: Partial<LedgerDelivery> = {}): LedgerDelivery => ({
  kind: 'delivery',
  at: '2026-12-01T10:00:01.000Z',
  eventId: 'e1',
  tenantId: 't1',
  subscriptionId: 's1',
  receivedAt: received,
  status: 'DELIVERED',
  reason: null,
  attempts: 1,
  lastStatusCode: 200,
  nextAttemptAt: null,
  ...o,
});

describe('ledger day partitions', () => {
  it('names, bounds and parses UTC days', () => {
    expect(utcDay(new Date('2026-12-01T23:59:59.999Z'))).toBe('2026-12-01');
    expect(utcDay('2026-12-02T00:30:00+01:00')).toBe('2026-12-01');
    expect(nextDay('2026-12-31')).toBe('2027-01-01');
    expect(nextDay('2028-02-28')).toBe('2028-02-29');
    expect(partitionName('LedgerEvent', '2026-12-01')).toBe('LedgerEvent_20261201');
    expect(createPartitionSql('LedgerAttempt', '2026-12-31')).toBe(
      `CREATE TABLE IF NOT EXISTS "LedgerAttempt_20261231" PARTITION OF "LedgerAttempt" FOR VALUES FROM ('2026-12-31') TO ('2027-01-01')`,
    );
    expect(dayOfPartition('LedgerDelivery', 'LedgerDelivery_20261201')).toBe('2026-12-01');
    expect(dayOfPartition('LedgerEvent', 'LedgerDelivery_20261201')).toBeUndefined();
    expect(dayOfPartition('LedgerEvent', 'LedgerEvent_2026120')).toBeUndefined();
    expect(dayOfPartition('LedgerEvent', 'LedgerEvent_20261399')).toBeUndefined();
    expect(startDays(new Date('2026-12-31T23:00:00Z'))).toEqual(['2026-12-31', '2027-01-01']);
  });

  it('refuses anything but a day where it builds SQL', () => {
    expect(() => partitionName('LedgerEvent', "2026-12-01'); DROP TABLE x; --")).toThrow(/not a day/);
    expect(() => createPartitionSql('LedgerEvent', '2026-13-45')).toThrow(/not a day/);
    expect(() => nextDay('2026-02-30')).toThrow(/not a day/);
  });

  it('lists the distinct days of a batch', () => {
    expect(
      daysOf([
        event({ receivedAt: '2026-12-02T00:00:00.000Z' }),
        attempt(),
        delivery({ receivedAt: '2026-12-01T23:59:59.999Z' }),
      ]),
    ).toEqual(['2026-12-01', '2026-12-02']);
  });

  it('keeps whole days within the retention', () => {
    const now = new Date('2026-12-15T10:00:00Z');
    expect(retentionCutoff(now, 14)).toBe('2026-12-01');
    // One check per batch, as the writer makes it.
    const admissible = admissibility(now, 14);
    expect(admissible(delivery({ receivedAt: '2026-12-01T00:00:00.000Z' }))).toEqual({ ok: true });
    expect(admissible(delivery({ receivedAt: '2026-11-30T23:59:59.999Z' }))).toEqual({
      ok: false,
      expired: true,
    });
    expect(admissible(delivery({ receivedAt: '2026-12-16T09:00:00.000Z' }))).toEqual({ ok: true });
    expect(admissible(delivery({ receivedAt: '2026-12-16T11:00:00.000Z' }))).toMatchObject({
      ok: false,
      expired: false,
      reason: expect.stringMatching(/ahead/),
    });
    expect(admissible(delivery({ receivedAt: '+275760-01-01T00:00:00.000Z' }))).toMatchObject({
      ok: false,
      expired: false,
    });
  });
});

describe('prepareBatch', () => {
  const keys = (b: ReturnType<typeof prepareBatch>) =>
    b.deliveries.map((d) => `${d.eventId}/${d.subscriptionId}/${d.delivery?.status ?? '-'}`);

  it('writes each event, attempt and delivery once, however often a record came', () => {
    const b = prepareBatch([event(), event(), attempt(), attempt(), event({ subscriptionIds: ['s1', 's1'] })]);
    expect(b.events).toHaveLength(1);
    expect(b.events[0]).toMatchObject({ eventId: 'e1', fanOut: 2 });
    expect(b.attempts).toHaveLength(1);
    // s1 (the event's and the attempt's) is one row; s2 is the event's PENDING row.
    expect(keys(b)).toEqual(['e1/s1/-', 'e1/s2/-']);
    expect(b.deliveries[1]).toMatchObject({ tenantId: 't1', receivedAt: received });
  });

  it('leaves out a PENDING-only proposal for a delivery written before, and nothing else', () => {
    const written = new Set([
      deliveryKeyOf({ eventId: 'e1', subscriptionId: 's1', receivedAt: received }),
      deliveryKeyOf({ eventId: 'e1', subscriptionId: 's2', receivedAt: received }),
      deliveryKeyOf({ eventId: 'e2', subscriptionId: 's1', receivedAt: received }),
      deliveryKeyOf({ eventId: 'e3', subscriptionId: 's1', receivedAt: received }),
    ]);
    const b = prepareBatch(
      [
        // e1/s1, e1/s2: the event's fan-out, both written before -> left out; the event row stays
        event(),
        // e2/s1: a PENDING delivery record (an outbox record after the event's first) -> left out
        delivery({ eventId: 'e2', status: 'PENDING', at: received }),
        // e3/s1: written before, but the batch has an attempt for it -> kept (its attempt count grows)
        event({ eventId: 'e3', subscriptionIds: ['s1'] }),
        attempt({ eventId: 'e3' }),
        // e4/s1: not written before -> its PENDING row
        event({ eventId: 'e4', subscriptionIds: ['s1'] }),
        // e5/s1: a PENDING delivery record for a delivery not written before -> kept
        delivery({ eventId: 'e5', status: 'PENDING', at: received }),
      ],
      { written: (k) => written.has(k) },
    );
    expect(b.events.map((e) => e.eventId)).toEqual(['e1', 'e3', 'e4']);
    expect(keys(b)).toEqual(['e3/s1/-', 'e4/s1/-', 'e5/s1/PENDING']);
    expect(b.deliveries.map((d) => d.key)).toEqual(b.deliveries.map((d) => deliveryKeyOf(d)));
    // a status other than PENDING for a written key is always kept
    const later = prepareBatch([delivery({ eventId: 'e2', status: 'DELIVERED' })], { written: (k) => written.has(k) });
    expect(keys(later)).toEqual(['e2/s1/DELIVERED']);
    // without `written`, every proposal is there
    expect(keys(prepareBatch([event()]))).toEqual(['e1/s1/-', 'e1/s2/-']);
  });

  it('keeps the latest delivery record per key (a tie: the later one)', () => {
    const b = prepareBatch([
      delivery({ at: '2026-12-01T10:00:05.000Z', status: 'DELIVERED' }),
      delivery({ at: '2026-12-01T10:00:02.000Z', status: 'RETRYING' }),
      delivery({ subscriptionId: 's2', at: '2026-12-01T10:00:03.000Z', status: 'RETRYING' }),
      delivery({ subscriptionId: 's2', at: '2026-12-01T10:00:03.000Z', status: 'FAILED' }),
    ]);
    expect(keys(b)).toEqual(['e1/s1/DELIVERED', 'e1/s2/FAILED']);
  });

  it('treats one instant written two ways as one key, at millisecond precision', () => {
    const b = prepareBatch([
      delivery({ receivedAt: '2026-12-01T11:00:00+01:00', nextAttemptAt: '2026-12-01T10:05:00Z' }),
      delivery({ at: '2026-12-01T10:00:09.000Z' }),
      attempt({ receivedAt: '2026-12-01T10:00:00Z' }),
    ]);
    expect(b.deliveries).toHaveLength(1);
    expect(b.deliveries[0]).toMatchObject({ eventId: 'e1', subscriptionId: 's1', receivedAt: received });
    expect(b.deliveries[0]!.delivery).toMatchObject({ at: '2026-12-01T10:00:09.000Z', receivedAt: received });
    expect(b.attempts.map((a) => a.receivedAt)).toEqual([received]);
    expect(
      prepareBatch([delivery({ nextAttemptAt: '2026-12-01T11:05:00+01:00' })]).deliveries[0]!.delivery!.nextAttemptAt,
    ).toBe('2026-12-01T10:05:00.000Z');
  });

  it('stores the attempts a delivery record carries as attempt rows (once, however often it is redelivered)', () => {
    const d = delivery({ eventId: 'e4', subscriptionId: 's1' });
    const withTries = {
      ...d,
      tries: [
        {
          at: d.at,
          attemptId: '0f8fad5b-d9cb-469f-a165-70867728950e',
          source: 'OUTBOX' as const,
          attempt: 1,
          durationMs: 3,
          statusCode: 204,
          errorCode: null,
          responseSnippet: null,
        },
      ],
    };
    const b = prepareBatch([withTries, withTries]);
    expect(keys(b)).toEqual(['e4/s1/DELIVERED']);
    expect(b.attempts).toHaveLength(1);
    expect(b.attempts[0]).toMatchObject({ kind: 'attempt', eventId: 'e4', subscriptionId: 's1', statusCode: 204 });
  });

  it('has one delivery row per key whatever made it: no PENDING row apart from the outcome in the same batch', () => {
    const e = event({ eventId: 'e3', subscriptionIds: ['s1', 's2', 's3'] });
    const b = prepareBatch([
      e,
      delivery({ eventId: 'e3', subscriptionId: 's1', receivedAt: e.receivedAt }),
      attempt({ eventId: 'e3', subscriptionId: 's3', receivedAt: e.receivedAt }),
    ]);
    expect(keys(b)).toEqual(['e3/s1/DELIVERED', 'e3/s2/-', 'e3/s3/-']);
  });

  it('sorts each table by its primary key, whatever the order of the records (the lock order)', () => {
    const id = (n: number) => `00000000-0000-4000-8000-00000000000${n}`;
    const records = [
      event({ eventId: 'e2', subscriptionIds: ['s2', 's1'] }),
      attempt({ eventId: 'e1', subscriptionId: 's9', attemptId: id(3) }),
      delivery({ eventId: 'e2', subscriptionId: 's3' }),
      event({ eventId: 'e1', subscriptionIds: ['s1'], receivedAt: '2026-12-01T09:00:00.000Z' }),
      event({ eventId: 'e1', subscriptionIds: ['s1'] }),
      attempt({
        eventId: 'e2',
        subscriptionId: 's1',
        attemptId: id(1).toUpperCase(),
        receivedAt: '2026-12-01T11:00:00Z',
      }),
      attempt({ eventId: 'e2', subscriptionId: 's1', attemptId: id(1) }),
      attempt({ eventId: 'e1', subscriptionId: 's1', attemptId: id(2) }),
    ];
    for (const order of [records, [...records].reverse()]) {
      const b = prepareBatch(order);
      expect(b.events.map((e) => `${e.eventId}@${e.receivedAt.slice(11, 13)}`)).toEqual(['e1@09', 'e1@10', 'e2@10']);
      expect(b.attempts.map((a) => `${a.attemptId.slice(-1)}@${a.receivedAt.slice(11, 13)}`)).toEqual([
        '1@10',
        '1@11',
        '2@10',
        '3@10',
      ]);
      expect(b.deliveries.map((d) => `${d.eventId}/${d.subscriptionId}@${d.receivedAt.slice(11, 13)}`)).toEqual([
        'e1/s1@09',
        'e1/s1@10',
        'e1/s9@10',
        'e2/s1@10',
        'e2/s1@11',
        'e2/s2@10',
        'e2/s3@10',
      ]);
    }
  });
});
