import pino from 'pino';
import { RecordRefusedError } from '../shared/parked/failure-store';
import { createBatchWriter, MAX_STRIKES } from './persist-batch';

/** A writer over a scripted Postgres: `fail(records)` returns the error a write of them throws, if any. */
function scripted(fail: (records: string[]) => Error | undefined, up = () => true) {
  const stored: string[] = [];
  const pauses: { err: string; answersPing: boolean }[] = [];
  const writer = createBatchWriter<string>({
    write: async (records) => {
      const err = fail(records);
      if (err) throw err;
      stored.push(...records);
    },
    alive: async () => up(),
    pauseUntilBack: (err, answersPing) => pauses.push({ err: (err as Error).message, answersPing }),
    log: pino({ level: 'silent' }),
    takenApart: 'taken apart',
  });
  return { writer, stored, pauses };
}

const refusedOf = () => {
  const refused: string[] = [];
  return { refused, onRefused: (r: string) => void refused.push(r) };
};

describe('createBatchWriter', () => {
  it('writes a batch in one call and lets its offsets advance', async () => {
    const { writer, stored, pauses } = scripted(() => undefined);
    expect(await writer.persist(['a', 'b'], 0, '10', () => {})).toBe(true);
    expect(stored).toEqual(['a', 'b']);
    expect(pauses).toEqual([]);
  });

  it('pauses without advancing while Postgres is away, and never takes the batch apart for it', async () => {
    const { writer, stored, pauses } = scripted(
      () => new Error('connection refused'),
      () => false,
    );
    for (let round = 0; round < MAX_STRIKES + 2; round++)
      expect(await writer.persist(['a'], 0, '10', () => {})).toBe(false);
    expect(stored).toEqual([]);
    expect(pauses).toHaveLength(MAX_STRIKES + 2);
    expect(pauses.every((p) => p.answersPing === false)).toBe(true);
  });

  it('takes a batch that keeps failing while Postgres answers apart after MAX_STRIKES rounds', async () => {
    // A batch with 'bad' fails as a whole with an error we cannot name; 'bad' alone is refused.
    const { writer, stored, pauses } = scripted((rs) =>
      rs.includes('bad')
        ? rs.length > 1
          ? new Error('timeout')
          : new RecordRefusedError('bad value', '22021')
        : undefined,
    );
    const { refused, onRefused } = refusedOf();
    for (let round = 1; round < MAX_STRIKES; round++)
      expect(await writer.persist(['a', 'bad', 'c'], 'p', '10', onRefused)).toBe(false);
    expect(pauses).toHaveLength(MAX_STRIKES - 1);
    expect(await writer.persist(['a', 'bad', 'c'], 'p', '10', onRefused)).toBe(true);
    expect(stored).toEqual(['a', 'c']);
    expect(refused).toEqual(['bad']);
  });

  it('counts strikes per batch: a different first offset starts over', async () => {
    const { writer, pauses } = scripted(() => new Error('timeout'));
    for (let round = 1; round < MAX_STRIKES; round++) await writer.persist(['a'], 0, '10', () => {});
    expect(await writer.persist(['b'], 0, '11', () => {})).toBe(false);
    expect(pauses).toHaveLength(MAX_STRIKES);
  });

  it('counts each batch on its own: a later batch of the partition failing in the same rounds does not reset it', async () => {
    // Each round the batch at 10 (with the bad record) fails, and so does the batch handed on after it (at 12).
    const { writer, stored } = scripted((rs) =>
      rs.includes('bad') || rs.includes('d') ? new Error('timeout') : undefined,
    );
    for (let round = 1; round < MAX_STRIKES; round++) {
      expect(await writer.persist(['a', 'bad'], 0, '10', () => {})).toBe(false);
      expect(await writer.persist(['d'], 0, '12', () => {})).toBe(false);
    }
    // The fifth round of the batch at 10 takes it apart ('bad' alone still fails: handed to onRefused).
    const refused: string[] = [];
    expect(await writer.persist(['a', 'bad'], 0, '10', (r) => void refused.push(r))).toBe(true);
    expect(stored).toEqual(['a']);
    expect(refused).toEqual(['bad']);
  });

  it('writes a refused batch record by record at once, handing what is still refused to onRefused', async () => {
    const { writer, stored, pauses } = scripted((rs) =>
      rs.includes('bad') ? new RecordRefusedError('invalid byte sequence', '22021') : undefined,
    );
    const { refused, onRefused } = refusedOf();
    expect(await writer.persist(['a', 'bad', 'c'], 0, '10', onRefused)).toBe(true);
    expect(stored).toEqual(['a', 'c']);
    expect(refused).toEqual(['bad']);
    expect(pauses).toEqual([]);
  });

  it('writes the records of a batch taken apart through writeAlone when there is one', async () => {
    const batches: string[][] = [];
    const singles: string[][] = [];
    const writer = createBatchWriter<string>({
      write: async (records) => {
        batches.push(records);
        if (records.includes('bad')) throw new RecordRefusedError('invalid byte sequence', '22021');
      },
      writeAlone: async (records) => {
        singles.push(records);
        if (records.includes('bad')) throw new RecordRefusedError('invalid byte sequence', '22021');
      },
      alive: async () => true,
      pauseUntilBack: () => {},
      log: pino({ level: 'silent' }),
      takenApart: 'taken apart',
    });
    const { refused, onRefused } = refusedOf();
    expect(await writer.persist(['a', 'bad', 'c'], 0, '10', onRefused)).toBe(true);
    expect(batches).toEqual([['a', 'bad', 'c']]);
    expect(singles).toEqual([['a'], ['bad'], ['c']]);
    expect(refused).toEqual(['bad']);
  });

  it('pauses when Postgres goes away while the batch is written record by record', async () => {
    let up = true;
    const { writer, stored, pauses } = scripted(
      (rs) => {
        if (rs.includes('bad')) return new RecordRefusedError('refused', '22021');
        if (rs.includes('c')) {
          up = false;
          return new Error('connection lost');
        }
        return undefined;
      },
      () => up,
    );
    expect(await writer.persist(['a', 'bad', 'c'], 0, '10', () => {})).toBe(false);
    expect(stored).toEqual(['a']);
    expect(pauses).toEqual([{ err: 'connection lost', answersPing: false }]);
  });

  it('pauses when handling a refused record fails (the placeholder cannot be written)', async () => {
    const { writer, pauses } = scripted(() => new RecordRefusedError('refused', '22021'));
    const ok = await writer.persist(['bad'], 0, '10', async () => {
      throw new Error('placeholder refused too');
    });
    expect(ok).toBe(false);
    expect(pauses).toEqual([{ err: 'placeholder refused too', answersPing: true }]);
  });
});
