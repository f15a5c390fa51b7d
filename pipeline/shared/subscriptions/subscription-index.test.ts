import { aSnapshot } from '../../../test/fixtures/subscriptions';
import { SubscriptionIndex } from './subscription-index';

const event = {
  tenantId: 'tenant-a',
  sourceService: 'identity',
  eventType: 'user.created',
  resourceType: 'USER',
  operationType: 'CREATE',
};

describe('SubscriptionIndex', () => {
  it('matches exact and wildcard keys of the same tenant only', () => {
    const index = new SubscriptionIndex();
    index.apply('exact', aSnapshot({ id: 'exact' }));
    index.apply(
      'wild',
      aSnapshot({
        id: 'wild',
        match: { sourceService: '*', eventType: '*', resourceType: 'USER', operationType: '*' },
      }),
    );
    index.apply('other-op', aSnapshot({ id: 'other-op', match: { ...aSnapshot().match, operationType: 'DELETE' } }));
    index.apply('other-tenant', aSnapshot({ id: 'other-tenant', tenantId: 'tenant-b' }));
    expect(
      index
        .match(event)
        .map((s) => s.id)
        .sort(),
    ).toEqual(['exact', 'wild']);
    expect(index.match({ ...event, tenantId: 'tenant-b' }).map((s) => s.id)).toEqual(['other-tenant']);
    expect(index.match({ ...event, tenantId: 'tenant-c' })).toEqual([]);
  });

  it('skips paused subscriptions unless asked', () => {
    const index = new SubscriptionIndex();
    index.apply('p', aSnapshot({ id: 'p', status: 'PAUSED' }));
    expect(index.match(event)).toEqual([]);
    expect(index.match(event, { includePaused: true }).map((s) => s.id)).toEqual(['p']);
  });

  it('re-files a subscription whose key changed and forgets a deleted one', () => {
    const index = new SubscriptionIndex();
    index.apply('s', aSnapshot({ id: 's' }));
    index.apply('s', aSnapshot({ id: 's', version: 2, match: { ...aSnapshot().match, eventType: 'user.deleted' } }));
    expect(index.match(event)).toEqual([]);
    expect(index.match({ ...event, eventType: 'user.deleted' }).map((s) => s.id)).toEqual(['s']);
    index.apply('s', null);
    expect(index.size).toBe(0);
    expect(index.match({ ...event, eventType: 'user.deleted' })).toEqual([]);
  });

  it('ignores a replayed older version', () => {
    const index = new SubscriptionIndex();
    index.apply('s', aSnapshot({ id: 's', version: 3, endpointUrl: 'https://new.example/h' }));
    index.apply('s', aSnapshot({ id: 's', version: 2, endpointUrl: 'https://old.example/h' }));
    expect(index.get('s')?.endpointUrl).toBe('https://new.example/h');
  });

  it('returns each subscription once when the event carries a literal *', () => {
    const index = new SubscriptionIndex();
    index.apply('w', aSnapshot({ id: 'w', match: { ...aSnapshot().match, operationType: '*' } }));
    expect(index.match({ ...event, operationType: '*' }).map((s) => s.id)).toEqual(['w']);
  });
});
