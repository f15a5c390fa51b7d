/**
 * The message-index array of the Confluent Protobuf wire format, and the message type it names.
 *
 *   00 | schema id (4 bytes, big-endian) | message indexes | protobuf payload
 *
 * The indexes are zig-zag varints: first their count, then one index per nesting level, each the position of a
 * message among the messages (not enums or services) declared at that level of the .proto file. `[1]` is the
 * second top-level message, `[1, 0]` the first message nested in it. The common case, `[0]`, is written as the
 * single byte 0 (a count of 0). Confluent's serializers (Java `MessageIndexes`, and the Go, .NET and Python ones)
 * always write the array.
 *
 * Pure: no I/O, no protobufjs import (the caller hands in the file's message tree).
 */

export type MessageIndexes = { ok: true; indexes: number[]; payloadOffset: number } | { ok: false; reason: string };

/** Deeper than any real .proto nests; a bound so a corrupt count cannot make us loop over the whole value. */
const MAX_DEPTH = 32;

/** Reads one unsigned varint (at most 5 bytes: the indexes are 32-bit) from `buf` at `offset`. */
function readVarint(buf: Buffer, offset: number): { value: number; next: number } | undefined {
  let value = 0;
  for (let i = 0; i < 5; i++) {
    if (offset + i >= buf.length) return undefined;
    const byte = buf[offset + i]!;
    value += (byte & 0x7f) * 2 ** (7 * i);
    if ((byte & 0x80) === 0) return { value, next: offset + i + 1 };
  }
  return undefined;
}

const zigZag = (n: number) => (n % 2 === 0 ? n / 2 : -(n + 1) / 2);

/** Reads the index array that starts at `offset` (5, right after the magic byte and the schema id). */
export function readMessageIndexes(value: Buffer, offset = 5): MessageIndexes {
  const count = readVarint(value, offset);
  if (!count) return { ok: false, reason: 'the Protobuf message-index array is cut short' };
  const n = zigZag(count.value);
  if (n === 0) return { ok: true, indexes: [0], payloadOffset: count.next };
  if (n < 0 || n > MAX_DEPTH)
    return { ok: false, reason: `the Protobuf message-index count is ${n}; expected 0-${MAX_DEPTH}` };
  const indexes: number[] = [];
  let at = count.next;
  for (let i = 0; i < n; i++) {
    const v = readVarint(value, at);
    if (!v) return { ok: false, reason: 'the Protobuf message-index array is cut short' };
    const index = zigZag(v.value);
    if (index < 0) return { ok: false, reason: `the Protobuf message index ${index} is negative` };
    indexes.push(index);
    at = v.next;
  }
  return { ok: true, indexes, payloadOffset: at };
}

/**
 * The index array, or none: @kafkajs/confluent-schema-registry (and producers built on it) write the message
 * right after the schema id, without indexes, always as the file's first message. The two framings are told
 * apart by the byte after the schema id: a Protobuf message never starts with a byte below 8 (that would be a
 * field number 0), and a Confluent index count of 0-3 is written as 0x00, 0x02, 0x04 or 0x06. So a byte below 8 is
 * an index array, and a byte of 8 or more is the first byte of an index-less message. The one case this reads
 * wrongly is a Confluent record of a message nested three levels deep or more (4+ indexes); such records are
 * refused or misread, never silently taken for another framing's.
 */
export function readProtobufFraming(value: Buffer, offset = 5): MessageIndexes & { indexless?: boolean } {
  if (offset >= value.length) return { ok: false, reason: 'the value ends after the schema id' };
  if (value[offset]! >= 8) return { ok: true, indexes: [0], payloadOffset: offset, indexless: true };
  return readMessageIndexes(value, offset);
}

/** Writes an index array the way Confluent's serializers do (`[0]` as the single byte 0). For tests and tools. */
export function writeMessageIndexes(indexes: number[]): Buffer {
  if (indexes.length === 1 && indexes[0] === 0) return Buffer.from([0]);
  const bytes: number[] = [];
  const varint = (n: number) => {
    let z = n >= 0 ? n * 2 : -n * 2 - 1;
    while (z >= 0x80) {
      bytes.push((z % 0x80) | 0x80);
      z = Math.floor(z / 0x80);
    }
    bytes.push(z);
  };
  varint(indexes.length);
  for (const i of indexes) varint(i);
  return Buffer.from(bytes);
}

/**
 * A Protobuf value framed as Confluent's serializers (Java KafkaProtobufSerializer and the others) frame it: magic
 * byte 0, the schema id, the message-index array (`[0]` as one 0 byte), then the message.
 * @kafkajs/confluent-schema-registry's own encode() leaves the indexes out. For tests, the demo and the bench.
 */
export function confluentProtobufValue(schemaId: number, indexes: number[], message: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head.writeInt32BE(schemaId, 1);
  return Buffer.concat([head, writeMessageIndexes(indexes), message]);
}

/** A message declared in a .proto file, with the messages nested in it, in declaration order. */
export interface MessageNode {
  fullName: string;
  nested: MessageNode[];
}

/** The full name of the message that `indexes` point at among the file's top-level messages, or why none. */
export function messageAt(
  topLevel: MessageNode[],
  indexes: number[],
): { ok: true; fullName: string } | { ok: false; reason: string } {
  let level = topLevel;
  let node: MessageNode | undefined;
  for (const [depth, i] of indexes.entries()) {
    node = level[i];
    if (!node)
      return {
        ok: false,
        reason: `message index [${indexes.join(', ')}] names no message: level ${depth} has ${level.length}`,
      };
    level = node.nested;
  }
  return node ? { ok: true, fullName: node.fullName } : { ok: false, reason: 'empty message index' };
}
