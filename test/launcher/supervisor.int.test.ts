/**
 * The launcher's process supervision against real child processes: lines are captured, readiness is awaited,
 * SIGTERM drains, a child that ignores SIGTERM is killed at the deadline, and an early exit is reported with
 * the child's last lines.
 */
import { createServer } from 'node:net';
import { assertPortFree, freePort, PortInUseError } from '../../scripts/hub/ports';
import { NotReadyError, waitForReady } from '../../scripts/hub/ready';
import { ManagedChild } from '../../scripts/hub/supervisor';

const SERVICE = `
const http = require('node:http');
const port = Number(process.env.PORT);
let ready = false;
setTimeout(() => { ready = true; }, 300);
const server = http.createServer((req, res) => { res.statusCode = ready ? 200 : 503; res.end(ready ? 'ok' : 'wait'); });
server.listen(port, '127.0.0.1', () => console.log(JSON.stringify({ level: 30, msg: 'listening', port })));
process.on('SIGTERM', () => {
  if (process.env.IGNORE_TERM) { console.log('ignoring SIGTERM'); return; }
  console.log('draining');
  server.close(() => { console.log('drained'); process.exit(0); });
});
`;

function child(env: Record<string, string>, lines: string[], script = SERVICE) {
  return new ManagedChild({
    name: 'fake',
    command: process.execPath,
    args: ['-e', script],
    cwd: process.cwd(),
    env: { PATH: process.env.PATH, ...env },
    onLine: (l) => lines.push(l),
  });
}

describe('launcher supervision of a real child process', () => {
  it('waits for /readyz, captures its lines and stops it gracefully with SIGTERM', async () => {
    const port = await freePort();
    const lines: string[] = [];
    const c = child({ PORT: String(port) }, lines);
    await waitForReady({
      name: 'fake',
      url: `http://127.0.0.1:${port}`,
      timeoutMs: 10_000,
      exited: c.exited,
      lastLines: () => c.lastLines(),
    });
    expect(lines.some((l) => l.includes('"listening"'))).toBe(true);
    const exit = await c.stop(5_000);
    expect(exit).toMatchObject({ code: 0, forced: false, expected: true });
    expect(lines).toEqual(expect.arrayContaining(['draining', 'drained']));
  });

  it('kills a child that does not stop within the deadline', async () => {
    const port = await freePort();
    const lines: string[] = [];
    const c = child({ PORT: String(port), IGNORE_TERM: '1' }, lines);
    await waitForReady({
      name: 'fake',
      url: `http://127.0.0.1:${port}`,
      timeoutMs: 10_000,
      exited: c.exited,
      lastLines: () => c.lastLines(),
    });
    const exit = await c.stop(500);
    expect(exit).toMatchObject({ signal: 'SIGKILL', forced: true, expected: true });
    expect(lines).toContain('ignoring SIGTERM');
  });

  it('reports a child that exits before it is ready, with its last lines', async () => {
    const lines: string[] = [];
    const c = child({}, lines, "console.error('config: DATABASE_URL is required'); process.exit(3)");
    const port = await freePort();
    const err = await waitForReady({
      name: 'fake',
      url: `http://127.0.0.1:${port}`,
      timeoutMs: 10_000,
      exited: c.exited,
      lastLines: () => c.lastLines(),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotReadyError);
    expect((err as NotReadyError).message).toBe('fake exited with code 3 before it was ready');
    expect((err as NotReadyError).lastLines).toEqual(['config: DATABASE_URL is required']);
    expect((await c.exited).expected).toBe(false);
  });

  it('names a port that is already taken', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    try {
      const err = await assertPortFree(port, 'subscription-api').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PortInUseError);
      expect((err as Error).message).toContain(`port ${port} (subscription-api) is already in use`);
    } finally {
      blocker.close();
    }
  });
});
