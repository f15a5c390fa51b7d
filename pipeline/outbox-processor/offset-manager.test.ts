import { OffsetManager, type TopicPartitionOffset } from './offset-manager';

/** A commit function that records what it was asked to commit, and can be told to fail. */
function committer() {
  const commits: TopicPartitionOffset[][] = [];
  let failuresLeft = 0;
  return {
    commits,
    failNext(n = 1) {
      failuresLeft = n;
    },
    commit: async (offsets: TopicPartitionOffset[]) => {
      if (failuresLeft > 0) {
        failuresLeft--;
        throw new Error('The coordinator is not aware of this member');
      }
      commits.push(offsets);
    },
  };
}

const silent = { warn: () => {} };

function manager(c = committer(), log: { warn: (o: unknown) => void } = silent) {
  return { c, m: new OffsetManager({ commit: c.commit, commitIntervalMs: 0, log }) };
}

describe('OffsetManager', () => {
  it('commits only over the contiguous prefix when records complete out of order', async () => {
    const { c, m } = manager();
    const [a, b, d] = ['5', '6', '7'].map((o) => m.received('t', 0, o));
    m.complete(d!, 'delivered');
    m.complete(b!, 'deadLettered');
    await m.commit();
    expect(c.commits).toEqual([]);
    m.complete(a!, 'skipped');
    await m.commit();
    expect(c.commits).toEqual([[{ topic: 't', partition: 0, offset: '8' }]]);
    expect(m.pending()).toBe(0);
  });

  it('lets every terminal outcome advance the offset', async () => {
    const { c, m } = manager();
    const outcomes = ['delivered', 'deadLettered', 'skipped', 'held', 'parked'] as const;
    const tickets = outcomes.map((o, i) => ({ o, ticket: m.received('t', 0, String(i)) }));
    for (const { o, ticket } of tickets) m.complete(ticket, o);
    await m.commit();
    expect(c.commits).toEqual([[{ topic: 't', partition: 0, offset: '5' }]]);
  });

  it('holds a partition at a record that never completes while other partitions advance', async () => {
    const { c, m } = manager();
    m.received('t', 0, '10'); // never completes
    const p0later = m.received('t', 0, '11');
    const p1 = [m.received('t', 1, '3'), m.received('t', 1, '4')];
    m.complete(p0later, 'delivered');
    for (const t of p1) m.complete(t, 'delivered');
    await m.commit();
    expect(c.commits).toEqual([[{ topic: 't', partition: 1, offset: '5' }]]);
    expect(m.pending('t', 0)).toBe(2);
    // Nothing new: no empty commit.
    await m.commit();
    expect(c.commits).toHaveLength(1);
  });

  it('ignores completions of records received before a new generation (revoke / re-join)', async () => {
    const { c, m } = manager();
    const old = m.received('t', 0, '1');
    m.newGeneration();
    expect(m.isCurrent(old)).toBe(false);
    m.complete(old, 'delivered');
    await m.flush();
    expect(c.commits).toEqual([]);
    // The new owner's fetch starts again from the committed offset; it tracks afresh.
    const again = m.received('t', 0, '1');
    expect(m.isCurrent(again)).toBe(true);
    m.complete(again, 'delivered');
    await m.flush();
    expect(c.commits).toEqual([[{ topic: 't', partition: 0, offset: '2' }]]);
  });

  it('drops what advanced but was not committed when the group is joined again', async () => {
    const { c, m } = manager();
    m.complete(m.received('t', 0, '1'), 'delivered');
    m.newGeneration();
    await m.flush();
    expect(c.commits).toEqual([]);
  });

  it('tries a failed commit again with the next one, the newest offset winning', async () => {
    const warnings: unknown[] = [];
    const { c, m } = manager(committer(), { warn: (o: unknown) => warnings.push(o) });
    c.failNext();
    m.complete(m.received('t', 0, '1'), 'delivered');
    m.complete(m.received('t', 1, '7'), 'delivered');
    await m.commit();
    expect(c.commits).toEqual([]);
    expect(warnings).toHaveLength(1);
    m.complete(m.received('t', 0, '2'), 'delivered');
    await m.commit();
    expect(c.commits).toEqual([
      [
        { topic: 't', partition: 0, offset: '3' },
        { topic: 't', partition: 1, offset: '8' },
      ],
    ]);
  });

  it('does not retry a failed commit across a new generation', async () => {
    const { c, m } = manager();
    c.failNext();
    m.complete(m.received('t', 0, '1'), 'delivered');
    const failing = m.commit();
    m.newGeneration(); // the rebalance that made the commit fail
    await failing;
    await m.commit();
    expect(c.commits).toEqual([]);
  });

  it('joins a running commit, and flush commits what completed during it', async () => {
    let release!: () => void;
    const commits: TopicPartitionOffset[][] = [];
    const m = new OffsetManager({
      commitIntervalMs: 0,
      log: silent,
      commit: async (o) => {
        commits.push(o);
        if (commits.length === 1) await new Promise<void>((r) => (release = r));
      },
    });
    m.complete(m.received('t', 0, '1'), 'delivered');
    const first = m.commit();
    expect(m.commit()).toBe(first);
    m.complete(m.received('t', 0, '2'), 'delivered');
    const flushed = m.flush();
    release();
    await flushed;
    expect(commits).toEqual([[{ topic: 't', partition: 0, offset: '2' }], [{ topic: 't', partition: 0, offset: '3' }]]);
  });

  it('commits on its timer, and close commits the rest and stops the timer', async () => {
    const commits: TopicPartitionOffset[][] = [];
    let committed!: () => void;
    const firstCommit = new Promise<void>((r) => (committed = r));
    const m = new OffsetManager({
      commitIntervalMs: 10,
      log: silent,
      commit: async (o) => {
        commits.push(o);
        committed();
      },
    });
    m.complete(m.received('t', 0, '1'), 'delivered');
    await firstCommit;
    expect(commits).toEqual([[{ topic: 't', partition: 0, offset: '2' }]]);
    m.complete(m.received('t', 0, '2'), 'delivered');
    await m.close();
    expect(commits).toEqual([[{ topic: 't', partition: 0, offset: '2' }], [{ topic: 't', partition: 0, offset: '3' }]]);
  });
});
