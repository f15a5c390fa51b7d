import { coalesceWrites } from './coalesce-writes';

/** A store whose calls wait until released, recording what each call was given. */
function gatedStore(failOn?: (records: string[]) => Error | undefined) {
  const calls: string[][] = [];
  const gates: (() => void)[] = [];
  const write = (records: string[]) => {
    calls.push([...records]);
    return new Promise<number>((resolve, reject) => {
      gates.push(() => {
        const err = failOn?.(records);
        if (err) reject(err);
        else resolve(records.length);
      });
    });
  };
  /** Releases the oldest waiting call, then lets the coalescer start its next one. */
  const release = async () => {
    gates.shift()?.();
    for (let i = 0; i < 5; i++) await Promise.resolve();
  };
  return { calls, write, release };
}

describe('coalesceWrites', () => {
  it('writes the first batch at once and merges those that arrive meanwhile into one call', async () => {
    const s = gatedStore();
    const write = coalesceWrites(s.write, { maxRecords: 100, none: 0 });
    const a = write(['a1', 'a2']);
    expect(s.calls).toEqual([['a1', 'a2']]);
    const b = write(['b1']);
    const c = write(['c1', 'c2']);
    expect(s.calls).toHaveLength(1);
    await s.release();
    expect(await a).toBe(2);
    expect(s.calls).toEqual([
      ['a1', 'a2'],
      ['b1', 'c1', 'c2'],
    ]);
    await s.release();
    // The merged call's answer goes to its first caller, nothing to the others: the sum stays right.
    expect([await b, await c]).toEqual([3, 0]);
  });

  it('never merges past maxRecords, and never splits one batch', async () => {
    const s = gatedStore();
    const write = coalesceWrites(s.write, { maxRecords: 3, none: 0 });
    const all = [write(['a']), write(['b1', 'b2']), write(['c']), write(['d1', 'd2', 'd3', 'd4'])];
    for (let i = 0; i < 4; i++) await s.release();
    await Promise.all(all);
    expect(s.calls).toEqual([['a'], ['b1', 'b2', 'c'], ['d1', 'd2', 'd3', 'd4']]);
  });

  it('answers a refusal to the caller whose records caused it: a failed merge is written again batch by batch', async () => {
    const s = gatedStore((records) => (records.includes('bad') ? new Error('refused: bad') : undefined));
    const write = coalesceWrites(s.write, { maxRecords: 100, none: 0 });
    const a = write(['a']);
    const b = write(['b1', 'bad']);
    const c = write(['c']);
    const settled = Promise.allSettled([a, b, c]);
    for (let i = 0; i < 4; i++) await s.release();
    const [ra, rb, rc] = await settled;
    expect(ra).toEqual({ status: 'fulfilled', value: 1 });
    expect(rb).toMatchObject({ status: 'rejected', reason: new Error('refused: bad') });
    expect(rc).toEqual({ status: 'fulfilled', value: 1 });
    expect(s.calls).toEqual([['a'], ['b1', 'bad', 'c'], ['b1', 'bad'], ['c']]);
  });

  it('goes on after a failure: a later write is written', async () => {
    const s = gatedStore((records) => (records.includes('x') ? new Error('down') : undefined));
    const write = coalesceWrites(s.write, { maxRecords: 100, none: 0 });
    const x = write(['x']);
    const settledX = x.catch((e: Error) => e.message);
    await s.release();
    expect(await settledX).toBe('down');
    const y = write(['y']);
    await s.release();
    expect(await y).toBe(1);
  });

  it('runs up to `parallel` calls at once; what arrives while they run is merged into the next', async () => {
    const s = gatedStore();
    const write = coalesceWrites(s.write, { maxRecords: 100, none: 0, parallel: 2 });
    const a = write(['a']);
    const b = write(['b']);
    // Two calls in flight, each alone.
    expect(s.calls).toEqual([['a'], ['b']]);
    const c = write(['c']);
    const d = write(['d1', 'd2']);
    expect(s.calls).toHaveLength(2);
    await s.release();
    expect(await a).toBe(1);
    // A slot came free: the two waiting batches share one call while `b` still runs.
    expect(s.calls).toEqual([['a'], ['b'], ['c', 'd1', 'd2']]);
    const e = write(['e']);
    expect(s.calls).toHaveLength(3);
    for (let i = 0; i < 3; i++) await s.release();
    expect([await b, await c, await d, await e]).toEqual([1, 3, 0, 1]);
    expect(s.calls).toEqual([['a'], ['b'], ['c', 'd1', 'd2'], ['e']]);
  });

  it('with gatherMs, holds the first call for those that arrive meanwhile; a free slot gathers again', async () => {
    jest.useFakeTimers();
    try {
      const s = gatedStore();
      const write = coalesceWrites(s.write, { maxRecords: 10, none: 0, parallel: 2, gatherMs: 10 });
      const first = [write(['a']), write(['b1', 'b2']), write(['c'])];
      // Nothing written before the window ends.
      expect(s.calls).toEqual([]);
      jest.advanceTimersByTime(10);
      expect(s.calls).toEqual([['a', 'b1', 'b2', 'c']]);
      // One call runs, a slot is free: the next arrivals are gathered for the second slot.
      const second = [write(['d']), write(['e'])];
      expect(s.calls).toHaveLength(1);
      jest.advanceTimersByTime(10);
      expect(s.calls).toEqual([
        ['a', 'b1', 'b2', 'c'],
        ['d', 'e'],
      ]);
      for (let i = 0; i < 2; i++) await s.release();
      expect(await Promise.all([...first, ...second])).toEqual([4, 0, 0, 2, 0]);
    } finally {
      jest.useRealTimers();
    }
  });

  it('with gatherMs, starts at once when maxRecords are queued, and adds no wait while calls are running', async () => {
    jest.useFakeTimers();
    try {
      const s = gatedStore();
      const write = coalesceWrites(s.write, { maxRecords: 3, none: 0, gatherMs: 10 });
      const a = write(['a1', 'a2']);
      expect(s.calls).toEqual([]);
      const b = write(['b']);
      // Three queued: the window is not waited out.
      expect(s.calls).toEqual([['a1', 'a2', 'b']]);
      const c = write(['c']);
      // The slot is taken: `c` waits for it, not for a timer.
      expect(s.calls).toHaveLength(1);
      await s.release();
      expect(s.calls).toEqual([['a1', 'a2', 'b'], ['c']]);
      await s.release();
      expect([await a, await b, await c]).toEqual([3, 0, 1]);
    } finally {
      jest.useRealTimers();
    }
  });

  it('with gatherMs, a lone write after a merged call still waits out the window (what was queued is forgotten)', async () => {
    jest.useFakeTimers();
    try {
      const s = gatedStore();
      const write = coalesceWrites(s.write, { maxRecords: 4, none: 0, gatherMs: 10 });
      const first = [write(['a1', 'a2']), write(['b1'])];
      jest.advanceTimersByTime(10);
      expect(s.calls).toEqual([['a1', 'a2', 'b1']]);
      await s.release();
      await Promise.all(first);
      // Three records were queued and taken: a lone write of two does not reach maxRecords (4), so it waits.
      const next = write(['c1', 'c2']);
      expect(s.calls).toHaveLength(1);
      jest.advanceTimersByTime(10);
      expect(s.calls).toEqual([
        ['a1', 'a2', 'b1'],
        ['c1', 'c2'],
      ]);
      await s.release();
      expect(await next).toBe(2);
    } finally {
      jest.useRealTimers();
    }
  });

  it('with splitOnFailure false, answers a failed merged call to all its callers and writes nothing again', async () => {
    const s = gatedStore(() => new Error('broker away'));
    const write = coalesceWrites(s.write, { maxRecords: 100, none: 0, splitOnFailure: false });
    const a = write(['a']);
    const b = write(['b']);
    const c = write(['c']);
    const settled = Promise.allSettled([a, b, c]);
    for (let i = 0; i < 2; i++) await s.release();
    const [ra, rb, rc] = await settled;
    expect([ra.status, rb.status, rc.status]).toEqual(['rejected', 'rejected', 'rejected']);
    expect(s.calls).toEqual([['a'], ['b', 'c']]);
  });
});
