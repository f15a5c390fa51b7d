import { ProducerPool } from './ingest.kafka';

describe('the event-processor producer pool', () => {
  it('hands out the producer released longest ago, so a transactional id rests between its transactions', async () => {
    const pool = new ProducerPool(['p0', 'p1', 'p2', 'p3']);
    const first = await pool.acquire();
    pool.release(first);
    // The one just committed goes to the back: the next chunk (of any partition) takes another one.
    const seen = [await pool.acquire(), await pool.acquire(), await pool.acquire()];
    expect(seen).not.toContain(first);
    expect(await pool.acquire()).toBe(first);
  });

  it('makes a caller wait while every producer is taken, and hands it the next one released', async () => {
    const pool = new ProducerPool(['a']);
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
