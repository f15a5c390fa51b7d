import { ProducerPool } from './ingest.kafka';

describe('the event-processor producer pool', () => {
  let clock = 0;
  const now = () => clock;
  beforeEach(() => {
    clock = 1_000;
  });

  it('hands the producer released last out again once it has rested (a quiet hub keeps one producer warm)', async () => {
    const pool = new ProducerPool(['p0', 'p1', 'p2', 'p3'], 25, now);
    const first = await pool.acquire();
    pool.release(first);
    clock += 25;
    expect(await pool.acquire()).toBe(first);
  });

  it('while it rests, hands out the producer released longest ago instead (no transaction on the heels of its commit)', async () => {
    const pool = new ProducerPool(['p0', 'p1', 'p2'], 25, now);
    const a = await pool.acquire();
    const b = await pool.acquire();
    const c = await pool.acquire();
    pool.release(a);
    clock += 10;
    pool.release(b);
    clock += 10;
    pool.release(c);
    clock += 5; // c rested 5 ms, b 15 ms, a 25 ms
    expect(await pool.acquire()).toBe(a);
    // c (released last) is still resting: the oldest of the rest, b.
    expect(await pool.acquire()).toBe(b);
    expect(await pool.acquire()).toBe(c); // the only one left
  });

  it('makes a caller wait while every producer is taken, and hands it the next one released', async () => {
    const pool = new ProducerPool(['a'], 25, now);
    const a = await pool.acquire();
    let got: string | undefined;
    const waiting = pool.acquire().then((p) => {
      got = p;
    });
    pool.release(a);
    await waiting;
    expect(got).toBe('a');
  });
});
