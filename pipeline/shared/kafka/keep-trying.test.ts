import pino from 'pino';
import { keepTrying } from './keep-trying';

const log = pino({ level: 'silent' });

describe('keepTrying', () => {
  it('tries again until the side effect succeeds', async () => {
    let calls = 0;
    const v = await keepTrying(
      'x',
      async () => {
        if (++calls < 2) throw new Error('broker away');
        return 'done';
      },
      { log, stopping: () => false },
    );
    expect([v, calls]).toEqual(['done', 2]);
  });
  it('throws at once when stopping, or when the error is hopeless', async () => {
    await expect(keepTrying('x', () => Promise.reject(new Error('a')), { log, stopping: () => true })).rejects.toThrow(
      'a',
    );
    await expect(
      keepTrying('x', () => Promise.reject(new RangeError('refused')), {
        log,
        stopping: () => false,
        hopeless: (e) => e instanceof RangeError,
      }),
    ).rejects.toThrow('refused');
  });
});
