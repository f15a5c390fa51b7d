import { OffsetTracker } from './offset-tracker';

describe('OffsetTracker', () => {
  it('commits only the contiguous finished prefix of a partition', () => {
    const t = new OffsetTracker();
    for (const o of ['10', '11', '12', '13']) t.begin('t', 0, o);
    t.complete('t', 0, '12');
    expect(t.drainCommittable()).toEqual([]);
    t.complete('t', 0, '10');
    expect(t.drainCommittable()).toEqual([{ topic: 't', partition: 0, offset: '11' }]);
    t.complete('t', 0, '11');
    expect(t.drainCommittable()).toEqual([{ topic: 't', partition: 0, offset: '13' }]);
    expect(t.pending('t', 0)).toBe(1);
    t.complete('t', 0, '13');
    expect(t.drainCommittable()).toEqual([{ topic: 't', partition: 0, offset: '14' }]);
    expect(t.pending()).toBe(0);
  });

  it('keeps partitions independent and forgets revoked ones', () => {
    const t = new OffsetTracker();
    t.begin('t', 0, '1');
    t.begin('t', 1, '7');
    t.complete('t', 1, '7');
    expect(t.drainCommittable()).toEqual([{ topic: 't', partition: 1, offset: '8' }]);
    t.forget('t', 0);
    t.complete('t', 0, '1');
    expect(t.drainCommittable()).toEqual([]);
    expect(t.pending()).toBe(0);
  });

  it('handles offsets beyond 2^53', () => {
    const t = new OffsetTracker();
    t.begin('t', 0, '9007199254740993');
    t.complete('t', 0, '9007199254740993');
    expect(t.drainCommittable()[0]!.offset).toBe('9007199254740994');
  });
});
