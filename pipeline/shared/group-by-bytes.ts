/**
 * Grouping by size, for everything the hub sends in pieces of bounded size (pure):
 *
 *   items (in order) + sizeOf + maxBytes ─▶ consecutive groups, each summing to at most maxBytes
 *
 * Its users: the event-processor's produce requests inside one transaction (ingest.kafka.ts), the ledger bundles
 * (ledger-record.ts: ledger-sink.kafka.ts, ingest.kafka.ts), the dlt-processor's fact requests
 * (fact-producer.kafka.ts) and the audit requests of one flush (audit.kafka.ts). The reason is the same each time:
 * kafkajs puts one request's records for a partition into one record batch, and the broker refuses a batch above
 * message.max.bytes (1 MiB by default). Each caller owns its `sizeOf` (what one item costs in its request or bundle)
 * and its limit.
 */

/**
 * Consecutive groups of `items`, in order, every item exactly once, each group's `sizeOf` sum at most `maxBytes`;
 * an item larger than `maxBytes` cannot be split and forms a group of its own (what the transport does with it is
 * the caller's concern). No items, no groups.
 */
export function groupByBytes<T>(items: readonly T[], sizeOf: (item: T) => number, maxBytes: number): T[][] {
  const groups: T[][] = [];
  let group: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const n = sizeOf(item);
    if (group.length > 0 && bytes + n > maxBytes) {
      groups.push(group);
      group = [];
      bytes = 0;
    }
    group.push(item);
    bytes += n;
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

/**
 * What one Kafka record costs in a produce request: its value, key and headers, and ~64 bytes of the record's own
 * framing (lengths, offsets, attributes). The `sizeOf` of callers whose items are whole records (facts, audit).
 */
export function producedRecordBytes(r: {
  key?: string | null;
  value: string | Buffer;
  headers?: Record<string, string>;
}): number {
  let n = Buffer.byteLength(r.value) + (r.key ? Buffer.byteLength(r.key) : 0) + 64;
  for (const k in r.headers) n += k.length + Buffer.byteLength(r.headers[k]!);
  return n;
}
