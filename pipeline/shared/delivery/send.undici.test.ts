/**
 * The sender's bound on the whole exchange (`totalTimeoutMs`), against a real local HTTP server: a subscriber that
 * never answers, or answers and then trickles its body, is cut at the bound (the per-phase timeouts are far longer
 * here). Requests started close together share one deadline signal (a slot); a finished request leaves no listener on
 * it, so a slot holds only the requests still running.
 */
import { getEventListeners } from 'node:events';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BlockedAddressError } from '../net/safe-lookup';
import { classifyError } from './classify-response';
import { HttpSender } from './send.undici';

describe('HttpSender: the whole-exchange bound', () => {
  let server: Server;
  let url: string;
  const open = new Set<ServerResponse>();
  const trickles = new Set<NodeJS.Timeout>();

  beforeAll(async () => {
    server = createServer((req, res) => {
      open.add(res);
      res.on('close', () => open.delete(res));
      if (req.url === '/silent') return; // never answers
      if (req.url === '/trickle') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        const t = setInterval(() => res.write('.'), 50);
        trickles.add(t);
        res.on('close', () => clearInterval(t));
        return;
      }
      res.end('ok');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const t of trickles) clearInterval(t);
    for (const res of open) res.destroy();
    await new Promise((r) => server.close(r));
  });

  const sender = () =>
    new HttpSender({
      allowHosts: ['127.0.0.1'],
      headersTimeoutMs: 60_000,
      bodyTimeoutMs: 60_000,
      totalTimeoutMs: 300,
    });

  it('rejects a request whose answer never comes, as a timeout', async () => {
    const s = sender();
    try {
      const err = await s.send({ url: `${url}/silent`, headers: {}, body: '{}' }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeDefined();
      expect((err as Error).name).toBe('TimeoutError');
      expect(classifyError(err)).toMatchObject({ kind: 'retriable' });
    } finally {
      await s.close();
    }
  });

  it('cuts a body that trickles on, keeping the status and what came', async () => {
    const s = sender();
    try {
      const r = await s.send({ url: `${url}/trickle`, headers: {}, body: '{}' });
      expect(r.status).toBe(200);
      expect(r.truncated).toBe(true);
      expect(r.snippet).toMatch(/^\.*$/);
    } finally {
      await s.close();
    }
  });

  it('bounds many requests started together (they share deadline slots) each as a timeout', async () => {
    const s = sender();
    try {
      const names = await Promise.all(
        Array.from({ length: 20 }, () =>
          s.send({ url: `${url}/silent`, headers: {}, body: '{}' }).then(
            () => undefined,
            (e: unknown) => (e as Error).name,
          ),
        ),
      );
      expect(names).toEqual(Array(20).fill('TimeoutError'));
    } finally {
      await s.close();
    }
  });

  it("bounds each request from its own start, not from its slot's first request", async () => {
    const s = sender();
    try {
      const timed = async () => {
        const started = performance.now();
        const name = await s.send({ url: `${url}/silent`, headers: {}, body: '{}' }).then(
          () => undefined,
          (e: unknown) => (e as Error).name,
        );
        return { name, afterMs: performance.now() - started };
      };
      const first = timed();
      // A second wave 150 ms later: a shared timer of the first wave's would cut these at ~150 ms.
      await new Promise((r) => setTimeout(r, 150));
      const second = await Promise.all(Array.from({ length: 5 }, timed));
      for (const r of [await first, ...second]) {
        expect(r.name).toBe('TimeoutError');
        expect(r.afterMs).toBeGreaterThanOrEqual(295); // the bound (300 ms), less the timer's 1 ms rounding and more
      }
    } finally {
      await s.close();
    }
  });

  it('leaves no listener on the shared deadline once the exchanges are over', async () => {
    // A long bound: 250 ms slots.
    const s = new HttpSender({ allowHosts: ['127.0.0.1'], totalTimeoutMs: 25_000 });
    const slotSignal = () => (s as unknown as { slot?: { signal: AbortSignal } }).slot?.signal;
    try {
      const sends = Array.from({ length: 20 }, () => s.send({ url, headers: {}, body: '{}' }));
      const signal = slotSignal();
      expect(signal).toBeDefined();
      const waiting = getEventListeners(signal!, 'abort').length;
      expect(waiting).toBeGreaterThan(0);
      const rs = await Promise.all(sends);
      expect(rs.map((r) => r.status)).toEqual(Array(20).fill(200));
      expect(getEventListeners(signal!, 'abort')).toHaveLength(0);
    } finally {
      await s.close();
    }
  });

  it('refuses a blocked address literal and a non-HTTP scheme every time, the parsed URL remembered', async () => {
    const s = new HttpSender({ allowHosts: ['127.0.0.1'] });
    try {
      for (let i = 0; i < 2; i++) {
        await expect(
          s.send({ url: 'http://169.254.169.254/latest/meta-data', headers: {}, body: '{}' }),
        ).rejects.toThrow(BlockedAddressError);
        await expect(s.send({ url: 'ftp://example.com/x', headers: {}, body: '{}' })).rejects.toMatchObject({
          code: 'ERR_INVALID_URL',
          message: 'unsupported URL scheme ftp:',
        });
        expect((await s.send({ url: `${url}/?n=${i}`, headers: {}, body: '{}' })).status).toBe(200);
      }
      // No pool was opened for what was refused.
      expect(s.origins()).toEqual([url]);
    } finally {
      await s.close();
    }
  });
});
