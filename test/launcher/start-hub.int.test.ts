/**
 * The launcher's supervision with real child processes standing in for the four services (a tiny HTTP server
 * per service, from a temporary build folder) and a recorded infrastructure step: start order and readiness,
 * ordered stop, a taken port, a second start, crashes during start-up, a crashed service restarted while the
 * others keep running, giving up after too many crashes, stop() during a backoff, kill/restart/scale.
 * The real infrastructure and the real services are exercised by test/e2e/hub.int.test.ts.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { getPriority, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { InfraHandle, InfraOptions } from '../../scripts/hub/infra';
import { isAlive } from '../../scripts/hub/lock';
import { SERVICE_NAMES, SERVICES, type ServiceName, STOP_ORDER } from '../../scripts/hub/services';
import { type Hub, HubStartError, type StartHubOptions, startHub } from '../../scripts/hub/start-hub';
import { SCHED_IDLE, threadPriorities } from '../support/thread-priorities';

const FAKE_SERVICE = `
const http = require('node:http');
const fs = require('node:fs');
const name = process.argv[2];
const log = (msg, extra = {}) => console.log(JSON.stringify({ level: 30, time: new Date().toISOString(), msg, ...extra }));
// The failing one fails once the others can take a SIGTERM (BOOT_FILE lists them): a process the launcher stops
// while Node is still loading it dies of the signal without a word, and then nothing could tell it was stopped.
const booted = () =>
  process.env.BOOT_FILE ? fs.readFileSync(process.env.BOOT_FILE, { encoding: 'utf8', flag: 'a+' }).split('\\n').filter(Boolean).length : 0;
if (process.env.FAIL_AT_START === name) {
  const fail = () => { console.error(name + ': invalid configuration: KAFKA_BROKERS'); process.exit(2); };
  const until = Date.now() + 20000;
  const wait = () => (booted() >= Number(process.env.FAIL_AFTER_BOOTED || 0) || Date.now() > until ? fail() : setTimeout(wait, 20));
  wait();
} else {
const server = http.createServer((req, res) => {
  if (req.url === '/metrics') return res.end('# TYPE up gauge\\nup 1\\n');
  if (req.url === '/env') return res.end(JSON.stringify({ KAFKA_BROKERS: process.env.KAFKA_BROKERS, DATABASE_URL: process.env.DATABASE_URL, TOPIC_PREFIX: process.env.TOPIC_PREFIX, ENDPOINT_ALLOW_HOSTS: process.env.ENDPOINT_ALLOW_HOSTS, EXTRA: process.env.EXTRA, SERVICE_INSTANCE: process.env.SERVICE_INSTANCE }));
  res.end('ok');
});
server.listen(Number(process.env.PORT), process.env.HOST, () => log('listening', { port: Number(process.env.PORT) }));
if (process.env.CRASH_LATER === name) setTimeout(() => { console.error('boom'); process.exit(7); }, Number(process.env.CRASH_AFTER_MS || 1500));
process.on('SIGTERM', () => {
  fs.appendFileSync(process.env.ORDER_FILE, name + '\\n');
  log('draining');
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
if (process.env.BOOT_FILE) fs.appendFileSync(process.env.BOOT_FILE, name + '\\n');
}
`;

function fakeDist(): string {
  const dist = mkdtempSync(join(tmpdir(), 'hub-fake-dist-'));
  for (const name of SERVICE_NAMES) {
    const file = join(dist, `${SERVICES[name].entry}.js`);
    mkdirSync(dirname(file), { recursive: true });
    // Each entry runs the shared fake with its service name.
    writeFileSync(file, `process.argv[2] = ${JSON.stringify(name)};\n${FAKE_SERVICE}`);
  }
  return dist;
}

function recordedInfra(events: string[], fail?: 'kafka') {
  return async (o: InfraOptions): Promise<InfraHandle> => {
    if (fail) {
      const err = Object.assign(new Error(`${fail}: the local broker did not start: port 9092 is in use`), {
        name: 'InfraError',
        component: fail,
      });
      throw err;
    }
    events.push(`infra:start ${o.topics.ingest}`);
    return {
      kafka: { brokers: '127.0.0.1:19092', local: true, stop: async () => {} },
      postgres: { url: 'postgres://hub:pw@127.0.0.1:15432/hub', embedded: true, stop: async () => {} },
      stop: async () => {
        events.push('infra:stop');
      },
    };
  };
}

const ALL_EPHEMERAL = Object.fromEntries(SERVICE_NAMES.map((n) => [n, 0])) as Record<ServiceName, number>;

describe('hub launcher supervision', () => {
  const lines: string[] = [];
  let dist: string;
  let orderFile: string;
  let events: string[];
  const started: Hub[] = [];

  const options = (over: Partial<StartHubOptions> = {}): StartHubOptions => ({
    distDir: dist,
    dataDir: mkdtempSync(join(tmpdir(), 'hub-data-')),
    ports: ALL_EPHEMERAL,
    secrets: {
      HUB_ENCRYPTION_KEYS: `t:${Buffer.alloc(32, 1).toString('base64')}`,
      OPERATOR_API_KEY: `ihk_${'k'.repeat(43)}`,
    },
    infra: recordedInfra(events),
    logSink: (s, l) => lines.push(`${s} ${l}`),
    log: (m) => lines.push(m),
    inheritEnv: false,
    env: { ORDER_FILE: orderFile },
    readyTimeoutMs: 15_000,
    stopTimeoutMs: 3_000,
    ...over,
  });

  beforeAll(() => {
    dist = fakeDist();
  });
  beforeEach(() => {
    lines.length = 0;
    events = [];
    orderFile = join(mkdtempSync(join(tmpdir(), 'hub-order-')), 'order');
    writeFileSync(orderFile, '');
  });
  afterEach(async () => {
    for (const h of started.splice(0)) await h.stop();
  });

  it('starts the four services with the hub environment, writes hub.json without secrets, and stops in order', async () => {
    const opts = options({ serviceEnv: { 'outbox-processor': { EXTRA: 'only-outbox' } } });
    const hub = await startHub(opts);
    for (const name of SERVICE_NAMES) {
      expect((await fetch(hub.urls[name].readyz)).status).toBe(200);
      expect(hub.urls[name].docs !== undefined).toBe(SERVICES[name].api);
    }
    const env = (await (await fetch(`${hub.urls['outbox-processor'].url}/env`)).json()) as Record<string, string>;
    expect(env).toMatchObject({
      KAFKA_BROKERS: '127.0.0.1:19092',
      DATABASE_URL: 'postgres://hub:pw@127.0.0.1:15432/hub',
      TOPIC_PREFIX: 'integration-hub',
      ENDPOINT_ALLOW_HOSTS: '127.0.0.1,localhost,::1',
      EXTRA: 'only-outbox',
    });
    const other = (await (await fetch(`${hub.urls['dlt-processor'].url}/env`)).json()) as Record<string, string>;
    expect(other.EXTRA).toBeUndefined();
    const info = readFileSync(join(opts.dataDir!, 'hub.json'), 'utf8');
    expect(JSON.parse(info).urls['subscription-api'].url).toBe(hub.urls['subscription-api'].url);
    expect(info).not.toContain('ihk_');
    expect(info).not.toContain(':pw@');
    expect(existsSync(join(opts.dataDir!, 'hub.pid'))).toBe(true);
    expect(lines.some((l) => l.startsWith('event-processor {') && l.includes('"listening"'))).toBe(true);

    const pids = SERVICE_NAMES.map((n) => hub.instances(n)[0]!.child.pid!);
    // Background work (the dlt-processor) runs at a lower CPU priority than the live delivery path.
    expect(SERVICE_NAMES.map((n) => getPriority(hub.instances(n)[0]!.child.pid!))).toEqual(
      SERVICE_NAMES.map((n) => SERVICES[n].niceness),
    );
    expect(SERVICES['dlt-processor'].niceness).toBeGreaterThan(0);
    if (process.platform === 'linux') {
      // Every thread of it, not only the main one (Linux keeps a nice value per thread), under SCHED_IDLE too; the
      // delivery path's threads at normal priority.
      const of = (n: ServiceName) => threadPriorities(hub.instances(n)[0]!.child.pid!);
      const dlt = of('dlt-processor');
      expect(dlt.length).toBeGreaterThan(1);
      expect(SERVICES['dlt-processor'].idlePolicy).toBe(true);
      expect(new Set(dlt.map((t) => `${t.nice}/${t.policy}`))).toEqual(
        new Set([`${SERVICES['dlt-processor'].niceness}/${SCHED_IDLE}`]),
      );
      expect(new Set(of('outbox-processor').map((t) => `${t.nice}/${t.policy}`))).toEqual(new Set(['0/0']));
    }
    await hub.stop();
    expect(readFileSync(orderFile, 'utf8').trim().split('\n')).toEqual([...STOP_ORDER]);
    expect(events).toEqual(['infra:start platform.events.v1', 'infra:stop']);
    expect(pids.some(isAlive)).toBe(false);
    expect(existsSync(join(opts.dataDir!, 'hub.json'))).toBe(false);
    expect(existsSync(join(opts.dataDir!, 'hub.pid'))).toBe(false);
    await expect(hub.stopped).resolves.toEqual({ kind: 'stopped' });
  });

  it('refuses a second hub on the same data directory, naming the running one', async () => {
    const opts = options();
    started.push(await startHub(opts));
    const err = await startHub(options({ dataDir: opts.dataDir })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HubStartError);
    expect((err as HubStartError).component).toBe('lock');
    expect((err as Error).message).toContain(`already running (pid ${process.pid}`);
  });

  it('names a taken port and starts nothing', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    try {
      const err = await startHub(options({ ports: { ...ALL_EPHEMERAL, 'dlt-processor': port } })).catch((e) => e);
      expect(err).toBeInstanceOf(HubStartError);
      expect((err as Error).message).toBe(
        `ports: port ${port} (dlt-processor) is already in use on 127.0.0.1; stop what is using it or choose another port (see the README configuration table)`,
      );
      expect(events).toEqual([]);
    } finally {
      blocker.close();
    }
  });

  it('reports infrastructure that fails to start, and starts no service', async () => {
    const err = await startHub(options({ infra: recordedInfra(events, 'kafka') })).catch((e) => e);
    expect(err).toBeInstanceOf(HubStartError);
    expect((err as HubStartError).component).toBe('kafka');
    expect((err as Error).message).toBe('kafka: the local broker did not start: port 9092 is in use');
    expect(lines.some((l) => l.startsWith('subscription-api'))).toBe(false);
  });

  it('reports a service that exits during start-up with its last lines, and stops the rest and the infrastructure', async () => {
    const bootFile = `${orderFile}.booted`;
    const err = await startHub(
      options({
        env: { ORDER_FILE: orderFile, BOOT_FILE: bootFile, FAIL_AT_START: 'outbox-processor', FAIL_AFTER_BOOTED: '3' },
      }),
    ).catch((e) => e);
    expect(err).toBeInstanceOf(HubStartError);
    expect((err as HubStartError).component).toBe('outbox-processor');
    expect((err as Error).message).toBe('outbox-processor: outbox-processor exited with code 2 before it was ready');
    expect((err as HubStartError).lastLines).toEqual(['outbox-processor: invalid configuration: KAFKA_BROKERS']);
    expect(events).toEqual(['infra:start platform.events.v1', 'infra:stop']);
    expect(readFileSync(orderFile, 'utf8').trim().split('\n').sort()).toEqual(
      ['dlt-processor', 'event-processor', 'subscription-api'].sort(),
    );
  });

  /** Resolves once the launcher or a service has written a line matching `re` (the launcher's lines are plain). */
  const line = (re: RegExp, timeoutMs = 30_000) =>
    new Promise<string>((resolve, reject) => {
      const deadline = Date.now() + timeoutMs;
      const poll = () => {
        const found = lines.find((l) => re.test(l));
        if (found) return resolve(found);
        if (Date.now() > deadline) return reject(new Error(`no line matching ${re} in:\n${lines.join('\n')}`));
        setTimeout(poll, 20);
      };
      poll();
    });
  const isSettled = (p: Promise<unknown>) => Promise.race([p.then(() => true), Promise.resolve(false)]);

  it('restarts a service that was SIGKILLed, keeps the others running, and counts the restart', async () => {
    const opts = options();
    const hub = await startHub(opts);
    started.push(hub);
    const pid = (n: ServiceName) => hub.instances(n)[0]!.child.pid!;
    const before = Object.fromEntries(SERVICE_NAMES.map((n) => [n, pid(n)])) as Record<ServiceName, number>;

    process.kill(before['outbox-processor'], 'SIGKILL');
    await line(/^hub: outbox-processor is ready again/);

    expect(lines).toContain('hub: outbox-processor killed by SIGKILL; restarting it in 0.5 s (attempt 1, restart 1)');
    expect(lines).toContain(`hub: outbox-processor is ready again (pid ${pid('outbox-processor')}, restart 1)`);
    expect(pid('outbox-processor')).not.toBe(before['outbox-processor']);
    expect(isAlive(before['outbox-processor'])).toBe(false);
    // Same port and URL, serving again.
    expect((await fetch(hub.urls['outbox-processor'].readyz)).status).toBe(200);
    // The others: same processes, alive, never sent SIGTERM (the fakes record it in ORDER_FILE).
    for (const n of SERVICE_NAMES.filter((s) => s !== 'outbox-processor')) {
      expect(pid(n)).toBe(before[n]);
      expect(isAlive(before[n])).toBe(true);
      expect((await fetch(hub.urls[n].readyz)).status).toBe(200);
    }
    expect(readFileSync(orderFile, 'utf8')).toBe('');
    expect(await isSettled(hub.stopped)).toBe(false);
    expect(SERVICE_NAMES.map((n) => hub.restarts(n))).toEqual([0, 0, 1, 0]);
    expect(JSON.parse(readFileSync(join(opts.dataDir!, 'hub.json'), 'utf8')).restarts).toEqual({
      'subscription-api': 0,
      'event-processor': 0,
      'outbox-processor': 1,
      'dlt-processor': 0,
    });

    // The restarted one is supervised like the rest: stopped in order, by SIGTERM.
    await hub.stop();
    expect(readFileSync(orderFile, 'utf8').trim().split('\n')).toEqual([...STOP_ORDER]);
    await expect(hub.stopped).resolves.toEqual({ kind: 'stopped' });
  });

  it('gives up on a service that crashes again and again, stops the rest in order, and says which', async () => {
    const hub = await startHub(
      options({
        env: { ORDER_FILE: orderFile, CRASH_LATER: 'event-processor', CRASH_AFTER_MS: '1500' },
        restartPolicy: { maxRestarts: 2, windowMs: 60_000, initialDelayMs: 50 },
      }),
    );
    const reason = await hub.stopped;
    expect(reason).toMatchObject({
      kind: 'crashed',
      service: 'event-processor',
      exit: { code: 7, expected: false },
      crashes: 3,
      restarts: 2,
    });
    expect(reason.kind === 'crashed' && reason.lastLines).toContain('boom');
    expect(lines).toEqual(
      expect.arrayContaining([
        'hub: event-processor exited with code 7; restarting it in 0.05 s (attempt 1, restart 1)',
        'hub: event-processor exited with code 7; restarting it in 0.1 s (attempt 2, restart 2)',
        'hub: event-processor exited with code 7: 3 crashes within 60 s (at most 2 restarts); giving up',
        'hub: stopping the rest of the hub',
      ]),
    );
    expect(readFileSync(orderFile, 'utf8').trim().split('\n')).toEqual(
      STOP_ORDER.filter((n) => n !== 'event-processor'),
    );
    expect(events).toEqual(['infra:start platform.events.v1', 'infra:stop']);
  });

  it('restarts nothing when stop() comes during a backoff', async () => {
    const hub = await startHub(options({ restartPolicy: { initialDelayMs: 60_000, maxDelayMs: 60_000 } }));
    process.kill(hub.instances('outbox-processor')[0]!.child.pid!, 'SIGKILL');
    await line(/^hub: outbox-processor killed by SIGKILL; restarting it in 60 s/);
    await hub.stop();
    await expect(hub.stopped).resolves.toEqual({ kind: 'stopped' });
    expect(hub.restarts('outbox-processor')).toBe(0);
    expect(lines.filter((l) => l.startsWith('outbox-processor {') && l.includes('"listening"'))).toHaveLength(1);
    expect(readFileSync(orderFile, 'utf8').trim().split('\n')).toEqual(
      STOP_ORDER.filter((n) => n !== 'outbox-processor'),
    );
  });

  it('with restarts off, stops the whole hub when a service crashes later, and says which', async () => {
    const hub = await startHub(
      options({
        env: { ORDER_FILE: orderFile, CRASH_LATER: 'event-processor', CRASH_AFTER_MS: '1500' },
        restartPolicy: { maxRestarts: 0 },
      }),
    );
    const reason = await hub.stopped;
    expect(reason).toMatchObject({
      kind: 'crashed',
      service: 'event-processor',
      exit: { code: 7, expected: false },
      crashes: 1,
      restarts: 0,
    });
    expect(reason.kind === 'crashed' && reason.lastLines).toContain('boom');
    expect(readFileSync(orderFile, 'utf8').trim().split('\n')).toEqual(
      STOP_ORDER.filter((n) => n !== 'event-processor'),
    );
    expect(events).toEqual(['infra:start platform.events.v1', 'infra:stop']);
    expect(lines).toContain('hub: event-processor exited with code 7 unexpectedly');
  });

  it('lets a caller SIGKILL and restart one service, and add and remove instances, without stopping the hub', async () => {
    const hub = await startHub(options());
    started.push(hub);
    const before = hub.instances('outbox-processor')[0]!;
    const exit = await hub.kill('outbox-processor', 'SIGKILL');
    expect(exit).toMatchObject({ signal: 'SIGKILL', expected: true });
    const again = await hub.restart('outbox-processor');
    expect(again.port).toBe(before.port);
    expect(again.child.pid).not.toBe(before.child.pid);
    expect((await fetch(hub.urls['outbox-processor'].readyz)).status).toBe(200);

    const second = await hub.addInstance('outbox-processor');
    expect(second.id).toBe(1);
    const env = (await (await fetch(`${second.url}/env`)).json()) as Record<string, string>;
    expect(env.SERVICE_INSTANCE).toBe('1');
    expect(hub.instances('outbox-processor')).toHaveLength(2);
    await hub.removeInstance('outbox-processor', 1);
    expect(hub.instances('outbox-processor')).toHaveLength(1);
    // The caller's kill and restart are not crashes.
    expect(hub.restarts('outbox-processor')).toBe(0);
    let settled = false;
    void hub.stopped.then(() => {
      settled = true;
    });
    // Sentinel: after the kills and removals every service still answers ready, so the hub did not stop.
    for (const u of Object.values(hub.urls)) expect((await fetch(u.readyz)).status).toBe(200);
    expect(settled).toBe(false);
  });
});
