/**
 * The launcher's process supervision against real child processes: lines are captured, readiness is awaited,
 * SIGTERM drains, a child that ignores SIGTERM is killed at the deadline, and an early exit is reported with
 * the child's last lines. The restarter brings a crashed child back after a growing delay, waits until it is
 * ready, starts the backoff over after a long enough run, gives up after too many crashes, and restarts nothing
 * the launcher stopped itself or after `halt()`.
 */
import { createServer } from 'node:net';
import { assertPortFree, freePort, PortInUseError } from '../../scripts/hub/ports';
import { NotReadyError, waitForReady } from '../../scripts/hub/ready';
import {
  type GiveUpEvent,
  ManagedChild,
  type RestartEvent,
  Restarter,
  type RestartPolicy,
} from '../../scripts/hub/supervisor';

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

/** Says it is up, then exits with code 3 after EXIT_AFTER_MS (at once by default). */
const CRASHER = `
console.log('up ' + process.pid);
setTimeout(() => { console.error('crashing'); process.exit(3); }, Number(process.env.EXIT_AFTER_MS || 0));
`;

/** A restarter over real children, recording what it decides and when. */
function restarter(
  policy: Partial<RestartPolicy>,
  spawnChild: () => ManagedChild,
  ready: (c: ManagedChild) => Promise<void> = async () => {},
) {
  const restarts: (RestartEvent & { at: number })[] = [];
  const starts: { at: number; child: ManagedChild }[] = [];
  const readies: ManagedChild[] = [];
  let onReady: (c: ManagedChild) => void = () => {};
  let gaveUp!: (e: GiveUpEvent) => void;
  const givenUp = new Promise<GiveUpEvent>((r) => {
    gaveUp = r;
  });
  const r = new Restarter({
    name: 'fake',
    policy,
    start: () => {
      const c = spawnChild();
      starts.push({ at: Date.now(), child: c });
      return c;
    },
    ready,
    onRestart: (e) => restarts.push({ ...e, at: Date.now() }),
    onReady: (c) => {
      readies.push(c);
      onReady(c);
    },
    onGiveUp: (e) => gaveUp(e),
  });
  const nextReady = () =>
    new Promise<ManagedChild>((res) => {
      onReady = res;
    });
  return { r, restarts, starts, readies, givenUp, nextReady };
}

describe('restarting a crashed child', () => {
  it('restarts after 100, 200, 300 ms (doubling, capped) and gives up on the crash after 3 restarts', async () => {
    const lines: string[] = [];
    const t = restarter({ maxRestarts: 3, windowMs: 60_000, initialDelayMs: 100, maxDelayMs: 300 }, () =>
      child({}, lines, CRASHER),
    );
    t.r.watch(child({}, lines, CRASHER));
    const gaveUp = await t.givenUp;

    expect(t.restarts.map((e) => [e.why, e.attempt, e.delayMs, e.restarts])).toEqual([
      ['exited with code 3', 1, 100, 1],
      ['exited with code 3', 2, 200, 2],
      ['exited with code 3', 3, 300, 3],
    ]);
    // Each fresh child started no earlier than its delay after the crash.
    expect(t.starts).toHaveLength(3);
    t.starts.forEach((s, i) => {
      expect(s.at - t.restarts[i]!.at).toBeGreaterThanOrEqual(t.restarts[i]!.delayMs - 5);
    });
    expect(gaveUp).toMatchObject({ name: 'fake', why: 'exited with code 3', crashes: 4, restarts: 3 });
    expect(gaveUp.exit).toMatchObject({ code: 3, expected: false });
    expect([...gaveUp.lastLines].sort()).toEqual(['crashing', `up ${t.starts[2]!.child.pid}`]);
    expect(t.r.restarts).toBe(3);
    expect(t.r.pending).toBe(false);
  });

  it('starts the backoff over for a child that ran longer than resetAfterMs', async () => {
    const lines: string[] = [];
    const spawnChild = () => child({ EXIT_AFTER_MS: '400' }, lines, CRASHER);
    const t = restarter({ maxRestarts: 2, initialDelayMs: 100, resetAfterMs: 200 }, spawnChild);
    t.r.watch(spawnChild());
    const gaveUp = await t.givenUp;
    expect(t.restarts.map((e) => [e.attempt, e.delayMs])).toEqual([
      [1, 100],
      [1, 100],
    ]);
    expect(gaveUp.crashes).toBe(3);
  });

  it('waits until the fresh child is ready on /readyz, and supervises it again', async () => {
    const port = await freePort();
    const lines: string[] = [];
    const spawnChild = () => child({ PORT: String(port) }, lines);
    const ready = (c: ManagedChild) =>
      waitForReady({
        name: 'fake',
        url: `http://127.0.0.1:${port}`,
        timeoutMs: 10_000,
        exited: c.exited,
        lastLines: () => c.lastLines(),
      });
    const first = spawnChild();
    await ready(first);
    const t = restarter({ initialDelayMs: 50 }, spawnChild, ready);
    t.r.watch(first);

    let readyAgain = t.nextReady();
    process.kill(first.pid!, 'SIGKILL');
    const second = await readyAgain;
    expect(second.pid).not.toBe(first.pid);
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
    expect(t.restarts.map((e) => [e.why, e.attempt])).toEqual([['killed by SIGKILL', 1]]);

    readyAgain = t.nextReady();
    process.kill(second.pid!, 'SIGKILL');
    const third = await readyAgain;
    expect(t.restarts.map((e) => [e.why, e.attempt, e.delayMs])).toEqual([
      ['killed by SIGKILL', 1, 50],
      ['killed by SIGKILL', 2, 100],
    ]);
    expect(t.r.restarts).toBe(2);
    t.r.halt();
    await third.stop(5_000);
  });

  it('restarts nothing the launcher stopped itself, and nothing after halt() during a backoff', async () => {
    const lines: string[] = [];
    const port = await freePort();
    const t = restarter({ initialDelayMs: 60_000, maxDelayMs: 60_000 }, () => child({}, lines, CRASHER));

    // Stopped by the launcher: an expected exit, no restart decided (the restarter sees the exit first).
    const served = child({ PORT: String(port) }, lines);
    t.r.watch(served);
    await served.stop(5_000);
    expect(t.restarts).toEqual([]);
    expect(t.r.pending).toBe(false);

    // A crash: the restart waits out its backoff; halt() cancels it.
    const crasher = child({}, lines, CRASHER);
    t.r.watch(crasher);
    await crasher.exited;
    expect(t.restarts.map((e) => e.delayMs)).toEqual([60_000]);
    expect(t.r.pending).toBe(true);
    t.r.halt();
    expect(t.r.pending).toBe(false);
    expect(t.starts).toEqual([]);
  });
});
