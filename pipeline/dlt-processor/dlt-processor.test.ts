import { toKafkaBinary } from '../shared/cloudevents/envelope';
import { safeSnippet } from '../shared/delivery/snippet';
import { parseDltRecord } from '../shared/parked/parse-dlt-record';
import { HUB_HEADERS } from '../shared/topics';

const now = new Date('2026-01-01T00:00:00Z');
const record = (extra: Record<string, string> = {}, drop: string[] = []) => {
  const { headers, value } = toKafkaBinary(
    {
      specversion: '1.0',
      id: 'e1',
      source: '//s',
      type: 'user.created',
      extensions: { tenantid: 't1' },
      data: Buffer.from('{}'),
    },
    {
      [HUB_HEADERS.subscriptionId]: 'sub-1',
      [HUB_HEADERS.tenantId]: 't1',
      [HUB_HEADERS.domain]: 'user-lifecycle',
      [HUB_HEADERS.dltAttempts]: '3',
      [HUB_HEADERS.dltLastStatus]: '503',
      [HUB_HEADERS.dltLastErrorCode]: 'DELIVERY.HTTP_503',
      [HUB_HEADERS.dltFirstAttemptAt]: '2025-12-31T23:59:00.000Z',
      ...extra,
    },
  );
  for (const d of drop) delete headers[d];
  return { offset: '5', key: Buffer.from('t1'), value, headers };
};

describe('parseDltRecord', () => {
  it('reads a well-formed DLT record as a pending failure', () => {
    const f = parseDltRecord('hub.dlt.user-lifecycle.v1', 0, record(), now);
    expect(f).toMatchObject({
      eventId: 'e1',
      subscriptionId: 'sub-1',
      tenantId: 't1',
      status: 'PENDING',
      attempts: 3,
      lastStatusCode: 503,
    });
    expect(f.firstFailedAt.toISOString()).toBe('2025-12-31T23:59:00.000Z');
  });
  it('marks a permanent failure FAILED with a reason', () => {
    const f = parseDltRecord(
      'hub.dlt.user-lifecycle.v1',
      0,
      record({ [HUB_HEADERS.dltLastErrorCode]: 'DELIVERY.HTTP_410' }),
      now,
    );
    expect(f.status).toBe('FAILED');
    expect(f.reason).toMatch(/410/);
  });
  it('stores a malformed record as FAILED under a synthetic id instead of dropping it', () => {
    const f = parseDltRecord('hub.dlt.access.v1', 2, record({}, ['ce_id']), now);
    expect(f).toMatchObject({ status: 'FAILED', eventId: 'hub.dlt.access.v1:2:5', domain: 'user-lifecycle' });
    expect(f.reason).toMatch(/ce_id/);
    const g = parseDltRecord(
      'hub.dlt.access.v1',
      2,
      { offset: '9', key: null, value: Buffer.from('garbage'), headers: {} },
      now,
    );
    expect(g).toMatchObject({ status: 'FAILED', domain: 'access', tenantId: 'unknown' });
  });
  it('stores a record without hub-subscription-id as FAILED with the reason', () => {
    const f = parseDltRecord('hub.dlt.policy.v1', 1, record({}, ['hub-subscription-id']), now);
    expect(f).toMatchObject({ status: 'FAILED', eventId: 'e1', subscriptionId: 'unknown:hub.dlt.policy.v1:1:5' });
    expect(f.reason).toMatch(/hub-subscription-id/);
  });
  it('defuses values Postgres would refuse: NUL characters, oversized ids, out-of-range numbers and dates', () => {
    const nul = parseDltRecord(
      'hub.dlt.policy.v1',
      0,
      record({ 'hub-tenant-id': 't\u00001', ce_type: 'a\u0000b' }),
      now,
    );
    expect(nul).toMatchObject({ tenantId: 't1', eventType: 'ab', status: 'PENDING' });
    expect(JSON.stringify(nul.ceHeaders)).not.toContain('\\u0000');
    const long = parseDltRecord('hub.dlt.policy.v1', 0, record({ ce_id: 'x'.repeat(5000) }), now);
    expect(long).toMatchObject({ status: 'FAILED', eventId: 'hub.dlt.policy.v1:0:5' });
    expect(long.reason).toMatch(/event id longer than/);
    const odd = parseDltRecord(
      'hub.dlt.policy.v1',
      0,
      record({
        'hub-dlt-last-status': '99999999999',
        'hub-domain': 'nonsense',
        'hub-dlt-first-attempt-at': '-271821-04-20T00:00:00Z',
      }),
      now,
    );
    expect(odd).toMatchObject({ lastStatusCode: null, domain: 'policy', firstFailedAt: now });
  });
});

describe('safeSnippet', () => {
  it('truncates and masks what looks like a credential echoed back by the subscriber', () => {
    const echoed = JSON.stringify({
      headers: {
        authorization: 'Bearer abc.def.ghi',
        'webhook-signature': 'v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=',
      },
      password: 'hunter2',
      note: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
    });
    const s = safeSnippet(echoed)!;
    expect(s).not.toMatch(/abc\.def|hunter2|K5oZfzN95Z9|MfKQ9r8/);
    expect(s).toMatch(/\[redacted\]/);
    expect(safeSnippet('x'.repeat(5000))).toHaveLength(512);
    expect(safeSnippet('')).toBeNull();
    expect(safeSnippet('gone')).toBe('gone');
  });

  it('replaces NUL characters, which Postgres text refuses', () => {
    expect(safeSnippet('bad\u0000body\u0000')).toBe('bad\uFFFDbody\uFFFD');
  });
});
