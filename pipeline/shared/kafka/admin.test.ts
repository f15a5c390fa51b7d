import type { Admin } from 'kafkajs';
import { ensureTopics } from './admin';

/** An Admin whose createTopics fails as kafkajs's wait for leaders does on a KRaft broker not caught up yet. */
function adminCreatingLate(listedAfterCalls: number) {
  let lists = 0;
  const created = new Set<string>();
  const admin = {
    listTopics: async () => {
      lists++;
      return lists > listedAfterCalls ? [...created] : [];
    },
    createTopics: async ({ topics }: { topics: { topic: string }[] }) => {
      for (const t of topics) created.add(t.topic);
      throw Object.assign(new Error('This server does not host this topic-partition'), {
        type: 'UNKNOWN_TOPIC_OR_PARTITION',
      });
    },
  } as unknown as Admin;
  return { admin, lists: () => lists };
}

describe('ensureTopics', () => {
  it('takes topics the broker created but did not list yet when kafkajs gave up waiting for their leaders', async () => {
    const { admin, lists } = adminCreatingLate(3);
    await expect(ensureTopics(admin, [{ topic: 'a' }, { topic: 'b' }], { listedWithinMs: 5_000 })).resolves.toEqual([
      'a',
      'b',
    ]);
    expect(lists()).toBe(4);
  });

  it("rethrows kafkajs's error when the topics are still not listed after the bound", async () => {
    const { admin } = adminCreatingLate(Number.POSITIVE_INFINITY);
    await expect(ensureTopics(admin, [{ topic: 'a' }], { listedWithinMs: 250 })).rejects.toThrow(
      'This server does not host this topic-partition',
    );
  });
});
