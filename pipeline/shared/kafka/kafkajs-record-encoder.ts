/**
 * kafkajs 2.2.4 encodes each record of a produce request (`protocol/recordBatch/record/v0`) as a tree of its
 * protocol `Encoder`s: one for the record, one per header, each grown as it is written, every varint a `Buffer.from`
 * of a byte array, and each header's encoder copied into the record's. Profiled at saturation (2026-12-02,
 * BENCHMARKS.md 12:30 section), kafkajs's produce encoding was 32% of the event-processor's busy time (one outbox
 * record per delivery, ~12 headers each) and most of the cost of the ledger writer's facts (one per delivery).
 *
 * `encodeRecord` writes the same bytes in one pass into one buffer of the exact size: the lengths first (UTF-8
 * byte lengths of the strings), then every field in place. The record stays an `Encoder` (the record batch copies
 * encoders), with that buffer. A value kafkajs's own encoder would refuse or treat differently (a timestamp delta
 * beyond ±2^52, an offset delta that is not a 32-bit integer) goes to kafkajs's function, as does anything while
 * the patch is not applied.
 *
 * Applied as kafkajs-crc32c.ts is: kafkajs loads its produce request lazily, at the first produce, and binds the
 * record encoder then (`require('../../../recordBatch/record/v0')`), so the module's export is replaced in Node's
 * module cache when this file loads (with the Kafka client, before any produce); if the produce request was loaded
 * already, or the module is not the known form, kafkajs is left alone.
 */

import { replaceKafkajsModule } from './kafkajs-patch';

// biome-ignore lint/suspicious/noExplicitAny: kafkajs's internal class has no types.
type Encoder = any;
type HeaderValue = Buffer | string | null | undefined;
export interface KafkajsRecordInput {
  offsetDelta?: number;
  timestampDelta?: number;
  key?: Buffer | string | null;
  value?: Buffer | string | null;
  headers?: Record<string, HeaderValue | HeaderValue[]>;
}

const RECORD_MODULE = 'kafkajs/src/protocol/recordBatch/record/v0';
const PRODUCE_REQUEST_MODULE = 'kafkajs/src/protocol/requests/produce/v3/request';
const MAX_SAFE_DELTA = 2 ** 52;

/** Zig-zag of a 32-bit integer, as an unsigned 32-bit number (what kafkajs's writeVarInt writes). */
const zigZag32 = (n: number) => ((n << 1) ^ (n >> 31)) >>> 0;
/** Zig-zag of an integer within ±2^52 as a 64-bit varlong has it (exact in a double). */
const zigZag64 = (n: number) => (n >= 0 ? n * 2 : -n * 2 - 1);
/** Bytes of the unsigned LEB128 of `u` (0 <= u < 2^53). */
function uvarSize(u: number): number {
  let n = 1;
  while (u >= 0x80) {
    u = Math.floor(u / 0x80);
    n++;
  }
  return n;
}
function putUVar(buf: Buffer, o: number, u: number): number {
  while (u >= 0x80) {
    buf[o++] = (u % 0x80) | 0x80;
    u = Math.floor(u / 0x80);
  }
  buf[o++] = u;
  return o;
}
/** A length-prefixed field: -1 for null, else its length and bytes (strings as UTF-8, anything else as String()). */
const asField = (v: unknown): Buffer | string | null =>
  v === null || v === undefined ? null : Buffer.isBuffer(v) ? v : String(v);
const fieldLength = (v: Buffer | string | null) =>
  v === null ? -1 : typeof v === 'string' ? Buffer.byteLength(v, 'utf8') : v.length;
const fieldSize = (len: number) => uvarSize(zigZag32(len)) + Math.max(0, len);
function putField(buf: Buffer, o: number, v: Buffer | string | null, len: number): number {
  o = putUVar(buf, o, zigZag32(len));
  if (v === null) return o;
  if (typeof v === 'string') buf.write(v, o, len, 'utf8');
  else v.copy(buf, o);
  return o + len;
}

/** What kafkajs's record module exports once applied; `fallback` is kafkajs's own function. */
export function recordEncoder(EncoderClass: new () => Encoder, fallback: (r: KafkajsRecordInput) => Encoder) {
  return function encodeRecord(r: KafkajsRecordInput): Encoder {
    const offsetDelta = r.offsetDelta ?? 0;
    const timestampDelta = r.timestampDelta ?? 0;
    if (
      !Number.isInteger(offsetDelta) ||
      (offsetDelta | 0) !== offsetDelta ||
      !Number.isInteger(timestampDelta) ||
      Math.abs(timestampDelta) > MAX_SAFE_DELTA
    )
      return fallback(r);
    const key = asField(r.key);
    const value = asField(r.value);
    const keyLen = fieldLength(key);
    const valueLen = fieldLength(value);
    // Headers in kafkajs's order: the object's keys, an array value as one header per element.
    const names: string[] = [];
    const values: (Buffer | string | null)[] = [];
    const headers = r.headers ?? {};
    for (const name of Object.keys(headers)) {
      const v = headers[name];
      if (Array.isArray(v))
        for (const x of v) {
          names.push(name);
          values.push(asField(x));
        }
      else {
        names.push(name);
        values.push(asField(v));
      }
    }
    const nameLens = names.map((n) => Buffer.byteLength(n, 'utf8'));
    const valueLens = values.map(fieldLength);
    let body =
      1 + // attributes
      uvarSize(zigZag64(timestampDelta)) +
      uvarSize(zigZag32(offsetDelta)) +
      fieldSize(keyLen) +
      fieldSize(valueLen) +
      uvarSize(zigZag32(names.length));
    for (let i = 0; i < names.length; i++) body += fieldSize(nameLens[i]!) + fieldSize(valueLens[i]!);
    const size = uvarSize(zigZag32(body)) + body;
    const buf = Buffer.allocUnsafe(size);
    let o = putUVar(buf, 0, zigZag32(body));
    buf[o++] = 0;
    o = putUVar(buf, o, zigZag64(timestampDelta));
    o = putUVar(buf, o, zigZag32(offsetDelta));
    o = putField(buf, o, key, keyLen);
    o = putField(buf, o, value, valueLen);
    o = putUVar(buf, o, zigZag32(names.length));
    for (let i = 0; i < names.length; i++) {
      o = putField(buf, o, names[i]!, nameLens[i]!);
      o = putField(buf, o, values[i]!, valueLens[i]!);
    }
    const enc = new EncoderClass();
    enc.buf = buf;
    enc.offset = o;
    return enc;
  };
}

/** Puts `encodeRecord` in place of kafkajs's record module; false when kafkajs is left alone (see the top). */
export function applyKafkajsRecordEncoder(): boolean {
  let EncoderClass: new () => Encoder;
  try {
    EncoderClass = require('kafkajs/src/protocol/encoder');
  } catch {
    return false;
  }
  return replaceKafkajsModule<(r: KafkajsRecordInput) => Encoder>(
    RECORD_MODULE,
    PRODUCE_REQUEST_MODULE,
    (original) => recordEncoder(EncoderClass, original),
    // The known form: a function of one record that returns an Encoder holding the record's bytes.
    (original) => String(original).includes('writeVarIntArray(headersArray.map(Header))'),
  );
}

applyKafkajsRecordEncoder();
