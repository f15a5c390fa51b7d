/** The overview's consumer lag from the broker (overview-stats.ts). */
import type { Admin } from 'kafkajs';
import type { GroupLag } from './overview-stats';

/**
 * Consumer lag of every group with committed offsets on topics named `<prefix>.…` or on `extraTopics` (the
 * ingest topics), cached for `ttlMs` so a console left open does not query the broker on every refresh.
 */
export function kafkaGroupLag(admin: Admin, prefix: string, extraTopics: string[] = [], ttlMs = 5_000) {
  let cached: { at: number; value: GroupLag[] } | undefined;
  const ours = (topic: string) => topic.startsWith(`${prefix}.`) || extraTopics.includes(topic);
  return async (): Promise<GroupLag[] | undefined> => {
    if (cached && Date.now() - cached.at < ttlMs) return cached.value;
    try {
      const { groups } = await admin.listGroups();
      const ends = new Map<string, Map<number, bigint>>();
      const endOf = async (topic: string) => {
        let e = ends.get(topic);
        if (!e) {
          const offsets = await admin.fetchTopicOffsets(topic);
          e = new Map(offsets.map((o) => [o.partition, BigInt(o.high)]));
          ends.set(topic, e);
        }
        return e;
      };
      const out: GroupLag[] = [];
      for (const { groupId } of groups) {
        const committed = await admin.fetchOffsets({ groupId });
        let lag = 0n;
        let any = false;
        for (const t of committed) {
          if (!ours(t.topic)) continue;
          const end = await endOf(t.topic);
          for (const p of t.partitions) {
            if (p.offset === '-1') continue;
            any = true;
            const behind = (end.get(p.partition) ?? 0n) - BigInt(p.offset);
            if (behind > 0n) lag += behind;
          }
        }
        if (any) out.push({ groupId, lag: Number(lag) });
      }
      out.sort((a, b) => (a.groupId < b.groupId ? -1 : 1));
      cached = { at: Date.now(), value: out };
      return out;
    } catch {
      return undefined;
    }
  };
}
