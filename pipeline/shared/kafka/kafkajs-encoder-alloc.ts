/**
 * kafkajs 2.2.4's protocol `Encoder` grows its buffer with `Buffer.alloc`, which zero-fills every new buffer before
 * the old bytes are copied over it; a produce request is built by nesting encoders (record, record batch, partition,
 * topic, request), each growing by doubling, so a record's bytes are zero-filled several times over. Profiled in the
 * event-processor at saturation (bench `--profile`), Buffer allocation was its largest single cost (8% of its CPU,
 * most of it these fills), and it grows with the bytes produced (the delivery ledger's records).
 *
 * The fix: grow with `Buffer.allocUnsafe`. Safe because an Encoder only ever writes at its own `offset`, moving
 * forward, and hands out `buf.slice(0, offset)`: a byte it did not write is never read. Applied once, at load,
 * through patchKafkajsMethod; a kafkajs whose `ensureAvailable` differs is left alone.
 */
import { patchKafkajsMethod } from './kafkajs-patch';

// biome-ignore lint/suspicious/noExplicitAny: kafkajs's internal class has no types.
type Encoder = any;

export function applyKafkajsEncoderAlloc(): boolean {
  return patchKafkajsMethod(
    'kafkajs/src/protocol/encoder',
    'ensureAvailable',
    () =>
      function ensureAvailable(this: Encoder, length: number): void {
        if (this.offset + length > this.buf.length) {
          // biome-ignore lint/suspicious/noExplicitAny: the class's static helper.
          const newBuffer = Buffer.allocUnsafe((this.constructor as any).nextPowerOfTwo(this.offset + length));
          this.buf.copy(newBuffer, 0, 0, this.offset);
          this.buf = newBuffer;
        }
      },
    (original) => String(original).includes('Buffer.alloc(newLength)'),
  );
}

applyKafkajsEncoderAlloc();
