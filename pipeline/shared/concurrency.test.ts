import { KeyedSerialQueue, Semaphore } from './concurrency';

const tick = () => new Promise((r) => setImmediate(r));

describe('Semaphore', () => {
  it('never lets more than the limit run', async () => {
    const s = new Semaphore(2);
    let running = 0;
    let peak = 0;
    await Promise.all(
      Array.from({ length: 10 }, () =>
        s.run(async () => {
          running++;
          peak = Math.max(peak, running);
          await tick();
          running--;
        }),
      ),
    );
    expect(peak).toBe(2);
    expect(s.inUse).toBe(0);
  });
});

describe('KeyedSerialQueue', () => {
  it('keeps order per key and lets keys interleave, even after a failure', async () => {
    const q = new KeyedSerialQueue();
    const log: string[] = [];
    const task =
      (name: string, fail = false) =>
      async () => {
        await tick();
        log.push(name);
        if (fail) throw new Error(name);
      };
    await Promise.allSettled([
      q.run('a', task('a1', true)),
      q.run('b', task('b1')),
      q.run('a', task('a2')),
      q.run('a', task('a3')),
    ]);
    expect(log.filter((l) => l.startsWith('a'))).toEqual(['a1', 'a2', 'a3']);
    expect(log.indexOf('b1')).toBeLessThan(log.indexOf('a2'));
  });
});
