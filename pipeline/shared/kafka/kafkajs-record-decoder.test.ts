import { randomBytes } from 'node:crypto';
import { roundTripCase } from '../../../test/support/kafkajs-produce';
import { applyKafkajsRecordDecoder, type BatchContext } from './kafkajs-record-decoder';

const RECORD_DECODER_MODULE = 'kafkajs/src/protocol/recordBatch/record/v0/decoder';
const Decoder = require('kafkajs/src/protocol/decoder');
type DecodeFn = (d: unknown, ctx?: BatchContext) => unknown;

/** kafkajs's own record decoder, the reference: a fresh copy of its module, loaded where the patch is not. */
function kafkajsOwn(): DecodeFn {
  let decode: DecodeFn | undefined;
  jest.isolateModules(() => {
    decode = require(RECORD_DECODER_MODULE);
  });
  return decode!;
}

const pick = <T>(xs: T[], i: number) => xs[i % xs.length]!;

const Encoder = require('kafkajs/src/protocol/encoder');
type Pair = [string | null, Buffer | string | null];

/**
 * Header lists of every shape, as [key, value] pairs on the wire: repeated keys, keys a plain object answers for
 * (`toString`, `__proto__`), null keys and values (which kafkajs's producer cannot write, another client can), UTF-8.
 */
const headerLists: Pair[][] = [
  [],
  [['hub-tenant-id', 't1']],
  [
    ['ce_id', 'evt-1'],
    ['ce_type', 'com.example.user.created'],
    ['ce_source', '/svc'],
    ['ce_specversion', '1.0'],
    ['hub-ledger-event', JSON.stringify({ fanOut: 3 })],
    ['hub-received-at', new Date().toISOString()],
    ['cs-trace-id', 'é'.repeat(40)],
    ['bin', randomBytes(64)],
    ['empty', ''],
    ['1', 'numeric key'],
  ],
  [
    ['multi', 'a'],
    ['ünï', 'cödé'],
    ['multi', 'bb'],
    ['multi', Buffer.from('ccc')],
    ['twice', 'x'],
    ['twice', 'y'],
  ],
  [
    ['toString', 'shadowed'],
    ['constructor', 'c1'],
    ['constructor', 'c2'],
    ['hasOwnProperty', 'h'],
  ],
  [
    ['__proto__', 'p'],
    ['a', '1'],
    ['__proto__', 'q'],
  ],
  [
    ['nul', null],
    [null, 'a null key'],
    ['nuls', null],
    ['nuls', 'v'],
    ['nuls', null],
  ],
];

/** A record body as a record batch holds it (after its length), written field by field as the protocol says. */
function recordBody(r: {
  timestampDelta: number;
  offsetDelta: number;
  key: Buffer | string | null;
  value: Buffer | string | null;
  headers: Pair[];
}): Buffer {
  const e = new Encoder()
    .writeInt8(0)
    .writeVarLong(r.timestampDelta)
    .writeVarInt(r.offsetDelta)
    .writeVarIntBytes(r.key)
    .writeVarIntBytes(r.value)
    .writeVarInt(r.headers.length);
  for (const [k, v] of r.headers) e.writeVarIntString(k).writeVarIntBytes(v);
  return e.buffer;
}

function encodedRecords(n: number): Buffer[] {
  const keys = [null, 'tenant-1', 'ключ-🔑', '', randomBytes(200)];
  const values = [null, Buffer.alloc(0), randomBytes(1300), 'text value ✓', randomBytes(20_000)];
  const deltas = [0, 1, 63, 64, 8191, 8192, 2 ** 20, 2 ** 31 - 1];
  // Up to 7 varlong bytes the replacement computes; beyond (2^48 and more after zig-zag) kafkajs's function does.
  const tsDeltas = [0, 1, -1, 5, 1000, -70_000, 2 ** 33 + 7, -(2 ** 40), 2 ** 47, 2 ** 48, -(2 ** 50), 2 ** 52];
  return Array.from({ length: n }, (_, i) =>
    recordBody({
      offsetDelta: pick(deltas, i),
      timestampDelta: pick(tsDeltas, i * 7),
      key: pick(keys, i * 3),
      value: pick(values, i * 5),
      headers: pick(headerLists, i * 11),
    }),
  );
}

const contexts: BatchContext[] = [
  { firstOffset: '0', firstTimestamp: '1764000000000', magicByte: 2, timestampType: 0, maxTimestamp: '1764000000500' },
  { firstOffset: '123456789', firstTimestamp: '0', magicByte: 2, isControlBatch: true, timestampType: 0 },
  { firstOffset: '42', firstTimestamp: '1764000000000', magicByte: 2, timestampType: 1, maxTimestamp: '1764000009999' },
  // Beyond 2^53: kafkajs's function computes these.
  { firstOffset: '9007199254740993', firstTimestamp: '1764000000000', magicByte: 2, timestampType: 0 },
  { firstOffset: '7', firstTimestamp: '9007199254740000', magicByte: 2, timestampType: 0 },
  { firstOffset: '-1', firstTimestamp: '-1', magicByte: 2, timestampType: 0 },
];

describe('kafkajs record decoder without spreads', () => {
  it('is applied to the kafkajs installed, before its record batch decoder loads', () => {
    expect(applyKafkajsRecordDecoder()).toBe(true);
    expect(String(require(RECORD_DECODER_MODULE))).not.toContain('reduce');
    expect(String(kafkajsOwn())).toContain('readVarIntArray(HeaderDecoder).reduce');
    // The batch decoder, loading now (as at a service's first fetch), binds the replacement.
    require('kafkajs/src/protocol/recordBatch/v0/decoder');
    expect(applyKafkajsRecordDecoder()).toBe(true);
  });

  it("answers exactly kafkajs's record for every shape of record and batch", () => {
    applyKafkajsRecordDecoder();
    const ours: DecodeFn = require(RECORD_DECODER_MODULE);
    const own = kafkajsOwn();
    let compared = 0;
    for (const body of encodedRecords(300))
      for (const ctx of contexts) {
        const a = new Decoder(body);
        const b = new Decoder(body);
        const got = ours(a, ctx) as { headers: object };
        const want = own(b, ctx) as { headers: object };
        expect(got).toEqual(want);
        // The same keys in the same order, own properties alike (toEqual alone would not tell the order).
        expect(Reflect.ownKeys(got.headers)).toEqual(Reflect.ownKeys(want.headers));
        expect(Object.getPrototypeOf(got.headers)).toBe(Object.getPrototypeOf(want.headers));
        expect(a.offset).toBe(b.offset);
        compared++;
      }
    expect(compared).toBe(300 * contexts.length);
  });

  it('folds repeated header keys as kafkajs does', () => {
    applyKafkajsRecordDecoder();
    const ours: DecodeFn = require(RECORD_DECODER_MODULE);
    const body = recordBody({
      timestampDelta: 0,
      offsetDelta: 0,
      key: null,
      value: 'v',
      headers: [
        ['a', '1'],
        ['a', '2'],
        ['b', '4'],
        ['a', '3'],
        ['toString', 't'],
      ],
    });
    const r = ours(new Decoder(body), contexts[0]) as { headers: Record<string, unknown>; offset: string };
    expect(r.offset).toBe('0');
    expect((r.headers.a as Buffer[]).map(String)).toEqual(['1', '2', '3']);
    expect(String(r.headers.b)).toBe('4');
    // kafkajs's own quirk, kept: the inherited toString is taken as an earlier value of the key.
    expect((r.headers.toString as unknown as unknown[])[0]).toBe(Object.prototype.toString);
  });

  it('decodes the record batches of produce requests to the records produced', async () => {
    applyKafkajsRecordDecoder();
    const { got, want } = await roundTripCase();
    expect(got).toEqual(want);
  });
});
