import type { FactRecord } from '../shared/facts/fact';
import { groupByBytes } from '../shared/group-by-bytes';
import { FACTS_REQUEST_BYTES, factBytes } from './fact-producer.kafka';

const fact = (bytes: number, i: number): FactRecord =>
  ({
    topic: 'hub.facts.webhooks.v1',
    key: `t${i % 3}`,
    value: Buffer.alloc(bytes, 'a'),
    headers: { 'cs-event-type': 'WebhookDelivered' },
    event: {} as never,
  }) as FactRecord;

describe('fact produce requests', () => {
  it('keeps every request under the limit (a broker refuses a record batch over 1 MiB), in order, none lost', () => {
    const facts = Array.from({ length: 3000 }, (_, i) => fact(1000, i));
    const parts = groupByBytes(facts, factBytes, FACTS_REQUEST_BYTES);
    expect(parts.length).toBeGreaterThan(1);
    for (const p of parts) expect(p.reduce((n, f) => n + f.value.length, 0)).toBeLessThanOrEqual(FACTS_REQUEST_BYTES);
    expect(parts.flat()).toEqual(facts);
  });

  it('sends a fact larger than the limit on its own, and nothing for no facts', () => {
    const big = fact(FACTS_REQUEST_BYTES + 1, 0);
    expect(groupByBytes([fact(10, 1), big, fact(10, 2)], factBytes, FACTS_REQUEST_BYTES).map((p) => p.length)).toEqual([
      1, 1, 1,
    ]);
    expect(groupByBytes([], factBytes, FACTS_REQUEST_BYTES)).toEqual([]);
  });
});
