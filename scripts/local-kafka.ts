/**
 * A real single-node Apache Kafka (KRaft, broker + controller in one JVM) from the jars that
 * scripts/kafka-fetch.mjs takes from Maven Central. No Docker. Used by tests, the launcher and the benchmark.
 *
 *   KAFKA_BROKERS set  -> resolveKafka() uses that cluster and starts nothing.
 *   otherwise          -> formats <dataDir> once, starts `java -cp libs/* kafka.Kafka server.properties`
 *                         on free ports (or the ones given), waits until an admin client can create a topic.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';

const ROOT = resolve(__dirname, '..', existsSync(resolve(__dirname, '..', 'package.json')) ? '' : '..');
const POM = join(ROOT, 'scripts', 'kafka', 'pom.xml');

export function kafkaVersion(): string {
  return /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(readFileSync(POM, 'utf8'))![1]!;
}

export function kafkaLibsDir(): string {
  return join(process.env.KAFKA_CACHE_DIR ?? join(ROOT, '.cache', 'kafka'), kafkaVersion(), 'libs');
}

export class LocalKafkaError extends Error {
  /** The broker process that was started and stopped again, when the failure came after the spawn. */
  readonly pid?: number;
  constructor(message: string, pid?: number) {
    super(message);
    this.pid = pid;
    this.name = 'LocalKafkaError';
  }
}

/**
 * Runs scripts/kafka-fetch.mjs (no-op when cached) and returns the libs directory. The first fetch shows its
 * progress on stderr even when `quiet` (which only silences the "already cached" line).
 * Throws a LocalKafkaError with the fetcher's one-line advice.
 */
export function ensureKafkaJars(opts: { quiet?: boolean } = {}): string {
  const r = spawnSync(
    process.execPath,
    [join(ROOT, 'scripts', 'kafka-fetch.mjs'), ...(opts.quiet ? ['--quiet'] : [])],
    // stdout -> our stderr: callers (the launcher) keep stdout for the addresses they print.
    { stdio: ['ignore', 2, 'pipe'], encoding: 'utf8' },
  );
  if (r.status !== 0) throw new LocalKafkaError((r.stderr || 'kafka-fetch failed').trim());
  return kafkaLibsDir();
}

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => res(port));
    });
  });
}

async function portInUse(port: number): Promise<boolean> {
  return new Promise((res) => {
    const srv = createServer();
    srv.once('error', () => res(true));
    srv.listen(port, '127.0.0.1', () => srv.close(() => res(false)));
  });
}

export interface LocalKafkaOptions {
  dataDir?: string;
  port?: number;
  controllerPort?: number;
  heapMb?: number;
  /**
   * Every tier of the JIT (C2), as a production broker runs: slower to start and warm up, less CPU per request once
   * warm. Off by default: tests and the embedded hub start brokers often and run them briefly, so C1 alone
   * (`-XX:TieredStopAtLevel=1`) serves them better. The bench's broker runs with it (bench/run.ts).
   */
  fullJit?: boolean;
  readyTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface LocalKafka {
  brokers: string;
  dataDir: string;
  port: number;
  controllerPort: number;
  pid?: number;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Never leave a broker behind when the parent goes away.
  process.on('exit', () => {
    for (const c of running) c.kill('SIGKILL');
  });
}

function serverProperties(dataDir: string, port: number, controllerPort: number): string {
  return [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
    `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
    'controller.listener.names=CONTROLLER',
    'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    'inter.broker.listener.name=PLAINTEXT',
    `log.dirs=${join(dataDir, 'logs')}`,
    'num.partitions=3',
    'default.replication.factor=1',
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=10',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'transaction.state.log.num.partitions=10',
    'min.insync.replicas=1',
    'group.initial.rebalance.delay.ms=0',
    // Topics are created explicitly (ensureTopics); a typo must not silently create a topic.
    'auto.create.topics.enable=false',
    'delete.topic.enable=true',
    'log.retention.hours=24',
    'log.segment.bytes=67108864',
    'log.cleaner.backoff.ms=1000',
    'num.network.threads=2',
    'num.io.threads=4',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    '',
  ].join('\n');
}

/**
 * A watchdog outside the JVM: if this Node process dies without stopping the broker (SIGKILL, crash, a signal
 * with no handler), the broker gets SIGTERM within a second, then SIGKILL. It exits by itself once the broker is gone.
 * Also guards the local schema registry (scripts/local-registry.ts).
 */
export function guardAgainstOrphan(javaPid: number, name = 'kafka-watchdog'): void {
  const script =
    'while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 1; done; ' +
    'if kill -0 "$2" 2>/dev/null; then kill -TERM "$2"; sleep 15; kill -KILL "$2" 2>/dev/null; fi';
  try {
    const w = spawn('sh', ['-c', script, name, String(process.pid), String(javaPid)], {
      detached: true,
      stdio: 'ignore',
    });
    w.on('error', () => {});
    w.unref();
  } catch {
    // No sh: the process 'exit' hook still covers normal exits.
  }
}

/**
 * Starts a single-node KRaft broker+controller. Restarting on the same `dataDir` reuses its storage and, unless
 * other ports are given, its ports (saved in `<dataDir>/ports.json`). Without `dataDir` a temp dir is used and
 * removed by `stop()`. Errors are LocalKafkaError with one line saying what to do; nothing is left running.
 */
export async function startLocalKafka(opts: LocalKafkaOptions = {}): Promise<LocalKafka> {
  // Ports picked here (free when asked, then released) can be taken by another process before the broker binds
  // them: it then exits during startup. On ports of our own choosing that is worth another try on fresh ones.
  const chosenHere =
    opts.port === undefined &&
    opts.controllerPort === undefined &&
    (opts.dataDir === undefined || !existsSync(join(resolve(opts.dataDir), 'ports.json')));
  for (let attempt = 1; ; attempt++) {
    try {
      return await startLocalKafkaOnce(opts);
    } catch (err) {
      const exitedAtStart =
        err instanceof LocalKafkaError && /exited during startup|is already in use/.test(err.message);
      if (!chosenHere || !exitedAtStart || attempt >= 3) throw err;
      if (opts.dataDir !== undefined) rmSync(join(resolve(opts.dataDir), 'ports.json'), { force: true });
      opts.log?.(`the broker exited during startup (a port taken meanwhile?); trying again on other ports`);
    }
  }
}

async function startLocalKafkaOnce(opts: LocalKafkaOptions): Promise<LocalKafka> {
  const log = opts.log ?? (() => {});
  const libs = ensureKafkaJars({ quiet: true });
  const tempDir = opts.dataDir === undefined;
  const dataDir = resolve(opts.dataDir ?? mkdtempSync(join(tmpdir(), 'hub-kafka-')));
  mkdirSync(dataDir, { recursive: true });
  const portsFile = join(dataDir, 'ports.json');
  const saved = existsSync(portsFile)
    ? (JSON.parse(readFileSync(portsFile, 'utf8')) as { port: number; controllerPort: number })
    : undefined;
  const port = opts.port ?? saved?.port ?? (await freePort());
  const controllerPort = opts.controllerPort ?? saved?.controllerPort ?? (await freePort());
  for (const p of [port, controllerPort]) {
    if (p !== 0 && (await portInUse(p))) {
      if (tempDir) rmSync(dataDir, { recursive: true, force: true });
      throw new LocalKafkaError(
        `port ${p} is already in use: stop what holds it (is another broker running on ${dataDir}?) or choose another port (KAFKA_PORT).`,
      );
    }
  }
  writeFileSync(portsFile, JSON.stringify({ port, controllerPort }));
  const props = join(dataDir, 'server.properties');
  writeFileSync(props, serverProperties(dataDir, port, controllerPort));
  const classpath = join(libs, '*');
  const jvm = [
    `-Xms${Math.min(256, opts.heapMb ?? 512)}m`,
    `-Xmx${opts.heapMb ?? 512}m`,
    '-XX:+UseG1GC',
    '-XX:MaxGCPauseMillis=20',
    ...(opts.fullJit ? [] : ['-XX:TieredStopAtLevel=1']),
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${join(ROOT, 'scripts', 'kafka', 'log4j2.properties')}`,
    `-Dkafka.logs.dir=${dataDir}`,
  ];
  if (!existsSync(join(dataDir, 'logs', 'meta.properties'))) {
    // A random UUID in Kafka's base64url form. Like Kafka's Uuid.randomUuid, never one starting with '-':
    // StorageTool's argument parser would read it as an option (a 1-in-64 failure).
    let clusterId = randomBytes(16).toString('base64url').slice(0, 22);
    while (clusterId.startsWith('-')) clusterId = randomBytes(16).toString('base64url').slice(0, 22);
    const fmt = spawnSync(
      'java',
      [...jvm, '-cp', classpath, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', props],
      {
        encoding: 'utf8',
      },
    );
    if (fmt.error || fmt.status !== 0) {
      if (tempDir) rmSync(dataDir, { recursive: true, force: true });
    }
    if (fmt.error)
      throw new LocalKafkaError('java not found: install Java 17+ (e.g. apt-get install openjdk-17-jdk-headless).');
    if (fmt.status !== 0)
      throw new LocalKafkaError(
        `formatting KRaft storage in ${dataDir} failed: ${(fmt.stderr || fmt.stdout).trim().split('\n').slice(-3).join(' | ')}`,
      );
    log(`formatted KRaft storage in ${dataDir}`);
  }
  const logFile = join(dataDir, 'broker.log');
  const fd = openSync(logFile, 'a');
  const child = spawn('java', [...jvm, '-cp', classpath, 'kafka.Kafka', props], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  installExitHook();
  running.add(child);
  if (child.pid !== undefined) guardAgainstOrphan(child.pid);
  let exited: { code: number | null; signal: string | null } | undefined;
  const exitPromise = new Promise<void>((res) =>
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      running.delete(child);
      res();
    }),
  );
  const brokers = `127.0.0.1:${port}`;
  const removeTemp = () => {
    if (tempDir) rmSync(dataDir, { recursive: true, force: true });
  };
  const stop = async () => {
    if (!exited) {
      // SIGTERM = controlled shutdown (flushes logs, writes a clean-shutdown marker); SIGKILL if it hangs.
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exitPromise;
      clearTimeout(timer);
    }
    removeTemp();
  };
  const started = Date.now();
  try {
    await waitUntilReady(brokers, opts.readyTimeoutMs ?? 60_000, () => exited);
  } catch (err) {
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exitPromise;
      clearTimeout(timer);
    }
    const tail = existsSync(logFile) ? readFileSync(logFile, 'utf8').trim().split('\n').slice(-5).join('\n    ') : '';
    removeTemp();
    throw new LocalKafkaError(
      `${(err as Error).message}\n  last broker log lines (${tempDir ? 'temp dir removed' : logFile}):\n    ${tail}`,
      child.pid,
    );
  }
  log(
    `Kafka ${kafkaVersion()} ready at ${brokers} in ${((Date.now() - started) / 1000).toFixed(1)} s (data ${dataDir})`,
  );
  return { brokers, dataDir, port, controllerPort, pid: child.pid, stop };
}

async function waitUntilReady(brokers: string, timeoutMs: number, exited: () => unknown): Promise<void> {
  const kafka = new Kafka({
    brokers: [brokers],
    clientId: 'local-kafka-probe',
    logLevel: logLevel.NOTHING,
    retry: { retries: 0 },
  });
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (exited()) throw new LocalKafkaError(`the Kafka broker exited during startup (${JSON.stringify(exited())})`);
    const admin = kafka.admin();
    try {
      await admin.connect();
      await admin.createTopics({ topics: [{ topic: '__hub_ready_probe', numPartitions: 1 }], waitForLeaders: true });
      // Also wait for the group coordinator: on a first start this creates __consumer_offsets, after a restart it
      // waits until the offsets are loaded (else the first consumer meets "coordinator is loading").
      await admin.describeGroups(['__hub_ready_probe']);
      return;
    } catch (err) {
      last = (err as Error).message;
    } finally {
      await admin.disconnect().catch(() => {});
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new LocalKafkaError(
    `the Kafka broker at ${brokers} was not ready within ${timeoutMs} ms (last error: ${last})`,
  );
}

/** KAFKA_BROKERS set -> that cluster (stop is a no-op); otherwise a local broker. */
export async function resolveKafka(
  opts: LocalKafkaOptions = {},
): Promise<{ brokers: string; local?: LocalKafka; stop(): Promise<void> }> {
  const external = process.env.KAFKA_BROKERS?.trim();
  if (external) return { brokers: external, stop: async () => {} };
  const local = await startLocalKafka(opts);
  return { brokers: local.brokers, local, stop: local.stop };
}
