import { createServer } from 'node:net';
import { assertPortFree, freePort, portPicker } from './ports';

describe('port picking for children started together', () => {
  afterEach(() => jest.restoreAllMocks());

  it('never hands out the same port twice, even when the random draw repeats', async () => {
    // Every draw lands on the same candidate (20,000 + 0.5 × 12,000): free when checked, as it was when the
    // first child got it but had not bound it yet.
    jest.spyOn(Math, 'random').mockReturnValue(0.5);
    const picker = portPicker();
    const first = await picker.pick();
    const second = await picker.pick();
    expect(first).toBe(26_000);
    expect(second).not.toBe(first);
    await assertPortFree(second, 'second pick');
  });

  it('skips reserved ports and ports a caller excludes', async () => {
    jest.spyOn(Math, 'random').mockReturnValue(0.25);
    const picker = portPicker();
    picker.reserve(23_000);
    const port = await picker.pick();
    expect(port).not.toBe(23_000);
    expect(await freePort('127.0.0.1', new Set([port, 23_000]))).not.toBe(port);
  });

  it('skips a candidate that something already listens on', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen({ port: 29_000, host: '127.0.0.1' }, resolve));
    try {
      jest.spyOn(Math, 'random').mockReturnValue(0.75);
      expect(await freePort()).not.toBe(29_000);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
