/**
 * One-dimensional Postgres arrays in the binary wire format (array_send / array_recv), for statements that take a
 * column of many rows as one parameter (`unnest($1::text[], …)`). node-postgres sends a Buffer parameter in binary
 * format, so an array built here reaches Postgres as it is: no array literal to build and escape in the client
 * (`{"…","…"}`: a regular-expression pass over every element), none to parse in the server (array_in).
 *
 *   int32 ndim (1, or 0 when empty) · int32 has-nulls · int32 element type OID · [int32 length · int32 lower bound 1]
 *   then per element: int32 byte length (-1 for NULL) · the element's binary form
 *
 * The element type OID must be the one the statement casts the parameter to (`$1::text[]` takes text, 25; Postgres
 * refuses another with "wrong element type"). Text travels as UTF-8 (text_recv checks the encoding); int4 as a
 * big-endian 32-bit integer.
 */

/** pg_type OIDs of the element types encoded here. */
export const OID = { text: 25, int4: 23 } as const;

const HEADER = 20;

function header(length: number, nulls: boolean, oid: number, bytes: number): { buf: Buffer; at: number } {
  const empty = length === 0;
  const buf = Buffer.allocUnsafe((empty ? 12 : HEADER) + bytes);
  buf.writeInt32BE(empty ? 0 : 1, 0);
  buf.writeInt32BE(nulls ? 1 : 0, 4);
  buf.writeInt32BE(oid, 8);
  if (empty) return { buf, at: 12 };
  buf.writeInt32BE(length, 12);
  buf.writeInt32BE(1, 16);
  return { buf, at: HEADER };
}

/** A `text[]` parameter (NULL elements for null / undefined). */
export function textArray(values: readonly (string | null | undefined)[]): Buffer {
  let bytes = 0;
  let nulls = false;
  const lengths = new Array<number>(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v == null) {
      nulls = true;
      lengths[i] = -1;
      bytes += 4;
    } else {
      const n = Buffer.byteLength(v, 'utf8');
      lengths[i] = n;
      bytes += 4 + n;
    }
  }
  const h = header(values.length, nulls, OID.text, bytes);
  const buf = h.buf;
  let at = h.at;
  for (let i = 0; i < values.length; i++) {
    const n = lengths[i]!;
    buf.writeInt32BE(n, at);
    at += 4;
    if (n > 0) at += buf.write(values[i] as string, at, n, 'utf8');
  }
  return buf;
}

/** An `int4[]` parameter (NULL elements for null / undefined); every value an integer within int4's range. */
export function int4Array(values: readonly (number | null | undefined)[]): Buffer {
  let nulls = false;
  let bytes = 0;
  for (const v of values) {
    if (v == null) {
      nulls = true;
      bytes += 4;
    } else {
      if (!Number.isInteger(v) || v < -2147483648 || v > 2147483647) throw new RangeError(`not an int4: ${v}`);
      bytes += 8;
    }
  }
  const h = header(values.length, nulls, OID.int4, bytes);
  const buf = h.buf;
  let at = h.at;
  for (const v of values) {
    if (v == null) {
      buf.writeInt32BE(-1, at);
      at += 4;
    } else {
      buf.writeInt32BE(4, at);
      buf.writeInt32BE(v, at + 4);
      at += 8;
    }
  }
  return buf;
}
