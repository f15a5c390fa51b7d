/**
 * kafkajs 2.2.4 decodes each fetched record (`protocol/recordBatch/record/v0/decoder`) with its headers folded by
 * `reduce((obj, h) => ({ ...obj, [h.key]: … }), {})`: a new object per header, each a copy of the last (quadratic in
 * the headers, and objects V8 keeps in dictionary mode), and its timestamp and offset through `Long` objects (one
 * per varlong byte, then `add` and `toString`). Profiled at saturation (2026-12-02, BENCHMARKS.md 16:25 section) it
 * was the ledger writer's largest function after the garbage collector (it reads every outbox record, ~12 headers
 * each), and the outbox-processor pays it for every delivery.
 *
 * `decodeRecord` returns the same object: the headers assigned into one object in the same order with the same
 * folding of repeated keys (a second value makes an array; a key an object already answers for, such as
 * `toString`, folds the same way as in kafkajs), the timestamp and offset as the same decimal strings computed in
 * doubles while they are exact (a varlong of more than 7 bytes, or a base or sum beyond 2^53, goes to kafkajs's
 * function, as does anything while the patch is not applied).
 *
 * Applied as kafkajs-record-encoder.ts is: the record batch decoder binds this module when it loads (with the first
 * fetch response), so the export is replaced in Node's module cache when this file loads (with the Kafka client);
 * if the batch decoder was loaded already, or the module is not the known form, kafkajs is left alone.
 */

import { replaceKafkajsModule } from './kafkajs-patch';

// biome-ignore lint/suspicious/noExplicitAny: kafkajs's internal class has no types.
type KafkajsDecoder = any;
type HeaderValue = Buffer | null;
type Headers = Record<string, HeaderValue | HeaderValue[]>;
type DecodeFn = (d: KafkajsDecoder, ctx?: BatchContext) => unknown;
export interface BatchContext {
  firstOffset?: string;
  firstTimestamp?: string;
  magicByte?: number;
  isControlBatch?: boolean;
  timestampType?: number;
  maxTimestamp?: string;
}

const RECORD_DECODER_MODULE = 'kafkajs/src/protocol/recordBatch/record/v0/decoder';
const BATCH_DECODER_MODULE = 'kafkajs/src/protocol/recordBatch/v0/decoder';
/** kafkajs's TimestampTypes.LOG_APPEND_TIME */
const LOG_APPEND_TIME = 1;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** A decimal integer string as a double, when that is exact (else undefined). */
function exactNumber(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) && String(n) === s ? n : undefined;
}

/** `base + delta` as kafkajs's `Long.fromValue(base).add(delta).toString()`, or undefined when not exact in doubles. */
function addExact(base: string | undefined, delta: number): string | undefined {
  const b = exactNumber(base);
  if (b === undefined) return undefined;
  const sum = b + delta;
  return Math.abs(sum) <= MAX_SAFE ? String(sum) : undefined;
}

/** Where the last `readVarInt` ended (one module-level slot: the decoder is synchronous). */
let varIntEnd = 0;
/** kafkajs's `readVarInt` (zig-zag, at most 5 bytes) at `o` of `buf`; sets `varIntEnd`. */
function readVarInt(buf: Buffer, o: number): number {
  let result = 0;
  let shift = 0;
  let byte: number;
  do {
    byte = buf[o++] as number;
    result += (byte & 0x7f) << shift;
    shift += 7;
  } while (byte >= 0x80);
  varIntEnd = o;
  return (result >>> 1) ^ -(result & 1);
}

/** What kafkajs's record decoder module exports once applied; `fallback` is kafkajs's own function. */
export function recordDecoder(fallback: DecodeFn): DecodeFn {
  return function decodeRecord(decoder: KafkajsDecoder, batchContext: BatchContext = {}) {
    const start = decoder.offset;
    const {
      firstOffset,
      firstTimestamp,
      magicByte,
      isControlBatch = false,
      timestampType,
      maxTimestamp,
    } = batchContext;
    const attributes = decoder.readInt8();
    // The timestamp delta, a zig-zag varlong: exact in a double up to 7 bytes (49 bits).
    const buf: Buffer = decoder.buffer;
    let u = 0;
    let scale = 1;
    let bytes = 0;
    let byte: number;
    do {
      byte = buf[decoder.offset++] as number;
      u += (byte & 0x7f) * scale;
      scale *= 0x80;
      bytes++;
    } while (byte >= 0x80 && bytes < 7);
    if (byte >= 0x80) {
      decoder.offset = start;
      return fallback(decoder, batchContext);
    }
    const timestampDelta = u % 2 === 0 ? u / 2 : -(u + 1) / 2;
    let timestamp: string | undefined;
    if (timestampType === LOG_APPEND_TIME && maxTimestamp) timestamp = maxTimestamp;
    else timestamp = addExact(firstTimestamp, timestampDelta);
    const offsetDelta = decoder.readVarInt();
    const offset = addExact(firstOffset, offsetDelta);
    if (timestamp === undefined || offset === undefined) {
      decoder.offset = start;
      return fallback(decoder, batchContext);
    }
    const key = decoder.readVarIntBytes();
    const value = decoder.readVarIntBytes();
    const headers: Headers = {};
    const count = decoder.readVarInt();
    let o: number = decoder.offset;
    for (let i = 0; i < count; i++) {
      // kafkajs's header decoder: the key as a string (a null key is named "null", as a computed key names it), the
      // value as a view of the fetched bytes (null for -1). Read in place: no Buffer per key.
      let len = readVarInt(buf, o);
      o = varIntEnd;
      const name = len === -1 ? 'null' : buf.toString('utf8', o, o + len);
      if (len > 0) o += len;
      len = readVarInt(buf, o);
      o = varIntEnd;
      const v: HeaderValue = len === -1 ? null : buf.subarray(o, o + len);
      if (len > 0) o += len;
      const before = (headers as Record<string, unknown>)[name];
      const next = before === undefined ? v : Array.isArray(before) ? before.concat([v]) : [before, v];
      // An own property even for "__proto__", as an object literal's computed key makes it.
      if (name === '__proto__')
        Object.defineProperty(headers, name, { value: next, enumerable: true, writable: true, configurable: true });
      else headers[name] = next as HeaderValue | HeaderValue[];
    }
    decoder.offset = o;
    return {
      magicByte,
      attributes,
      timestamp,
      offset,
      key,
      value,
      headers,
      isControlRecord: isControlBatch,
      batchContext,
    };
  };
}

/** Puts `decodeRecord` in place of kafkajs's record decoder; false when kafkajs is left alone (see the top). */
export const applyKafkajsRecordDecoder = (): boolean =>
  replaceKafkajsModule<DecodeFn>(
    RECORD_DECODER_MODULE,
    BATCH_DECODER_MODULE,
    recordDecoder,
    // The known form: kafkajs 2.x's decoder, folding the headers by spreading.
    (original) => String(original).includes('readVarIntArray(HeaderDecoder).reduce'),
  );

applyKafkajsRecordDecoder();
