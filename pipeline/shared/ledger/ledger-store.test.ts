import type { LedgerAttempt, LedgerDelivery, LedgerEvent } from './ledger-record';
import {
  admissible,
  createPartitionSql,
  dayOfPartition,
  daysOf,
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
    expect(admissible(delivery({ receivedAt: '2026-12-01T00:00:00.000Z' }), now, 14)).toEqual({ ok: true });
    expect(admissible(delivery({ receivedAt: '2026-11-30T23:59:59.999Z' }), now, 14)).toEqual({
      ok: false,
      expired: true,
    });
    expect(admissible(delivery({ receivedAt: '2026-12-16T09:00:00.000Z' }), now, 14)).toEqual({ ok: true });
    expect(admissible(delivery({ receivedAt: '2026-12-16T11:00:00.000Z' }), now, 14)).toMatchObject({
      ok: false,
      expired: false,
      reason: expect.stringMatching(/ahead/),
    });
    expect(admissible(delivery({ receivedAt: '+275760-01-01T00:00:00.000Z' }), now, 14)).toMatchObject({
      ok: false,
      expired: false,
    });
  });
});

describe('prepareBatch', () => {
  it('writes each event, attempt and placeholder once, however often a record came', () => {
    const b = prepareBatch([event(), event(), attempt(), attempt(), event({ subscriptionIds: ['s1', 's1'] })]);
    expect(b.events).toHaveLength(1);
    expect(b.events[0]).toMatchObject({ eventId: 'e1', fanOut: 2 });
    expect(b.outcomes.flatMap((o) => o.attempts)).toHaveLength(1);
    // s1's attempt is an outcome of the batch: no PENDING row for it first.
    expect(b.placeholders.map((p) => p.subscriptionId)).toEqual(['s2']);
    expect(b.placeholders[0]).toMatchObject({ tenantId: 't1', receivedAt: received });
    expect(b.outcomes[0]).toMatchObject({ subscriptionId: 's1', tenantId: 't1' });
    expect(b.outcomes[0]!.delivery).toBeUndefined();
  });

  it('keeps the latest delivery record per key (a tie: the later one)', () => {
    const b = prepareBatch([
      delivery({ at: '2026-12-01T10:00:05.000Z', status: 'DELIVERED' }),
      delivery({ at: '2026-12-01T10:00:02.000Z', status: 'RETRYING' }),
      delivery({ subscriptionId: 's2', at: '2026-12-01T10:00:03.000Z', status: 'RETRYING' }),
      delivery({ subscriptionId: 's2', at: '2026-12-01T10:00:03.000Z', status: 'FAILED' }),
    ]);
    expect(b.outcomes.map((o) => [o.subscriptionId, o.delivery?.status])).toEqual([
      ['s1', 'DELIVERED'],
      ['s2', 'FAILED'],
    ]);
  });

  it('treats one instant written two ways as one key, at millisecond precision', () => {
    const b = prepareBatch([
      delivery({ receivedAt: '2026-12-01T11:00:00+01:00', nextAttemptAt: '2026-12-01T10:05:00Z' }),
      delivery({ at: '2026-12-01T10:00:09.000Z' }),
      attempt({ receivedAt: '2026-12-01T10:00:00Z' }),
    ]);
    expect(b.outcomes).toHaveLength(1);
    expect(b.outcomes[0]).toMatchObject({ eventId: 'e1', subscriptionId: 's1', receivedAt: received });
    expect(b.outcomes[0]!.delivery).toMatchObject({ at: '2026-12-01T10:00:09.000Z', receivedAt: received });
    expect(b.outcomes[0]!.attempts.map((a) => a.receivedAt)).toEqual([received]);
    expect(
      prepareBatch([delivery({ nextAttemptAt: '2026-12-01T11:05:00+01:00' })]).outcomes[0]!.delivery!.nextAttemptAt,
    ).toBe('2026-12-01T10:05:00.000Z');
  });

  it('has one outcome per delivery with an attempt or a record in the batch, sorted by key', () => {
    const b = prepareBatch([
      event({ eventId: 'e2', subscriptionIds: ['s9'] }),
      attempt({ eventId: 'e1', subscriptionId: 's3' }),
      delivery({ eventId: 'e1', subscriptionId: 's1' }),
    ]);
    expect(
      b.outcomes.map((k) => `${k.eventId}/${k.subscriptionId}/${k.attempts.length}/${k.delivery?.status}`),
    ).toEqual(['e1/s1/0/DELIVERED', 'e1/s3/1/undefined']);
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
    expect(b.outcomes).toHaveLength(1);
    expect(b.outcomes[0]!.attempts).toHaveLength(1);
    expect(b.outcomes[0]!.attempts[0]).toMatchObject({
      kind: 'attempt',
      eventId: 'e4',
      subscriptionId: 's1',
      statusCode: 204,
    });
  });

  it('writes no PENDING row for a delivery whose outcome is in the same batch', () => {
    const e = event({ eventId: 'e3', subscriptionIds: ['s1', 's2'] });
    const b = prepareBatch([e, delivery({ eventId: 'e3', subscriptionId: 's1', receivedAt: e.receivedAt })]);
    expect(b.placeholders.map((k) => k.subscriptionId)).toEqual(['s2']);
    expect(b.outcomes.map((k) => k.subscriptionId)).toEqual(['s1']);
  });
});
