/**
 * kafkajs 2.2.4's protocol `Encoder` allocates with `Buffer.alloc`: 512 zero-filled bytes of a new ArrayBuffer in its
 * constructor, and a zero-filled buffer at each doubling as it grows. A produce request is built by nesting encoders
 * (two per record, then the record batch, partition, topic, request), so every record costs two fresh 512-byte
 * ArrayBuffers and its bytes are zero-filled several times over. Profiled in the event-processor at saturation
 * (bench `--profile`), Buffer allocation was its largest single cost (8% of its CPU), growing with the bytes
 * produced (the delivery ledger's records).
 *
 * The fix, two methods of the class:
 * - `ensureAvailable` grows with `Buffer.allocUnsafe` (from Node's shared pool below 4 KB). Safe because an Encoder
 *   only ever writes at its own `offset`, moving forward, each write after `ensureAvailable`, and hands out
 *   `buf.slice(0, offset)`: a byte it did not write is never read.
 * - the static `nextPowerOfTwo`, which only the constructor calls once `ensureAvailable` is replaced, answers 0: an
 *   encoder starts with an empty buffer and its first write takes a pooled one.
 * Applied once, at load, through patchKafkajsMethod; a kafkajs whose methods differ is left alone (the static one is
 * only changed when `ensureAvailable` was).
 */
import { patchKafkajsMethod } from './kafkajs-patch';

// biome-ignore lint/suspicious/noExplicitAny: kafkajs's internal class has no types.
type Encoder = any;

/** kafkajs's own rounding: the power of two above `n` (strictly). */
const nextPowerOfTwo = (n: number) => 1 << (32 - Math.clz32(n));

export function applyKafkajsEncoderAlloc(): boolean {
  const grows = patchKafkajsMethod(
    'kafkajs/src/protocol/encoder',
    'ensureAvailable',
    () =>
      function ensureAvailable(this: Encoder, length: number): void {
        if (this.offset + length > this.buf.length) {
          const newBuffer = Buffer.allocUnsafe(nextPowerOfTwo(this.offset + length));
          this.buf.copy(newBuffer, 0, 0, this.offset);
          this.buf = newBuffer;
        }
      },
    (original) => String(original).includes('Buffer.alloc(newLength)'),
  );
  if (!grows) return false;
  return patchKafkajsMethod(
    'kafkajs/src/protocol/encoder',
    'nextPowerOfTwo',
    () =>
      // Called by the constructor only now: `Buffer.alloc(0)`, no ArrayBuffer of its own.
      function nextPowerOfTwoForConstructor(): number {
        return 0;
      },
    (original) => String(original).includes('Math.clz32'),
    'static',
  );
}

applyKafkajsEncoderAlloc();
