import { aSnapshot } from '../../test/fixtures/subscriptions';
import { anOutboxItem } from '../../test/outbox-processor/items';
import { memoryDirectory } from '../shared/subscriptions/directory';
import { admitRecord } from './admit-record';

const item = anOutboxItem();

describe('admit stage', () => {
  it('admits an active subscription of the record tenant, with its snapshot', () => {
    const sub = aSnapshot();
    expect(admitRecord({ directory: memoryDirectory([sub]) }, item)).toEqual({ type: 'deliver', sub });
  });

  it('skips a record of an unknown or deleted subscription, with the gate code', () => {
    expect(admitRecord({ directory: memoryDirectory([]) }, item)).toEqual({
      type: 'refuse',
      outcome: { type: 'skipped', code: 'GATE.SUBSCRIPTION_GONE', reason: 'subscription unknown or deleted' },
    });
  });

  it("skips a record whose tenant is not the subscription's", () => {
    const admitted = admitRecord({ directory: memoryDirectory([aSnapshot({ tenantId: 'tenant-b' })]) }, item);
    expect(admitted).toMatchObject({ type: 'refuse', outcome: { type: 'skipped', code: 'GATE.TENANT_MISMATCH' } });
  });

  it('skips a record whose endpoint the gate blocks, with the check reason', () => {
    const admitted = admitRecord(
      { directory: memoryDirectory([aSnapshot()]), endpointRejection: () => 'SSRF.PRIVATE: 10.0.0.1' },
      item,
    );
    expect(admitted).toEqual({
      type: 'refuse',
      outcome: {
        type: 'skipped',
        code: 'GATE.ENDPOINT_BLOCKED',
        reason: 'endpoint not allowed: SSRF.PRIVATE: 10.0.0.1',
      },
    });
  });

  it('holds a record of a paused subscription, keeping the snapshot for its lane', () => {
    const sub = aSnapshot({ status: 'PAUSED' });
    expect(admitRecord({ directory: memoryDirectory([sub]) }, item)).toEqual({
      type: 'hold',
      sub,
      outcome: { type: 'held', reason: 'subscription paused: held until it is resumed' },
    });
  });
});
