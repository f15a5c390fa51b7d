/**
 * `npm start`: runs the whole hub on this machine under one supervisor and stops it in order on Ctrl-C.
 * Configuration is by environment (see the README): KAFKA_BROKERS / DATABASE_URL to use existing
 * infrastructure, HUB_*_PORT for the service ports, HUB_DATA_DIR for local state, HUB_RESTART_MAX /
 * HUB_RESTART_WINDOW_MS for how often a crashed service is restarted before the hub gives up.
 */
import { spawn } from 'node:child_process';
import { relative } from 'node:path';
import { formatLogLine, probeNoiseFilter } from './hub/log-format';
import { SERVICE_NAMES, SERVICES, type ServiceName } from './hub/services';
import { type Hub, HubStartError, startHub } from './hub/start-hub';
import { formatSummary } from './hub/summary';
import { DEFAULT_RESTART_POLICY, describeExit } from './hub/supervisor';

function portEnv(name: ServiceName): number {
  const key = `HUB_${name.toUpperCase().replace(/-/g, '_')}_PORT`;
  return intEnv(key, SERVICES[name].defaultPort);
}

function intEnv(key: string, def: number, max = 65535): number {
  const raw = process.env[key];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > max) {
    process.stderr.write(`hub: ${key} must be an integer 0-${max} (got "${raw}")\n`);
    process.exit(2);
  }
  return n;
}

/**
 * Ctrl-C in a terminal signals the whole foreground process group: the services, the Kafka JVM and Postgres
 * would all get SIGINT at once, and Postgres would go away while the services still drain. So the launcher runs
 * itself again in a process group of its own (`detached`), and this outer process only turns signals into one
 * ordered stop: first Ctrl-C -> SIGTERM to the launcher (ordered stop), second -> SIGINT (stop now).
 */
function runDetached(): void {
  const child = spawn(process.execPath, [...process.execArgv, __filename, ...process.argv.slice(2)], {
    detached: true,
    stdio: 'inherit',
    env: { ...process.env, HUB_LAUNCHER_GROUP: '1' },
  });
  let signals = 0;
  const forward = () => {
    signals += 1;
    child.kill(signals === 1 ? 'SIGTERM' : 'SIGINT');
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  process.on('SIGHUP', forward);
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

async function main(): Promise<void> {
  const say = (m: string) => process.stdout.write(`${m}\n`);
  const json = process.env.HUB_LOG_FORMAT === 'json';
  const color = process.stdout.isTTY && !process.env.NO_COLOR;
  const width = Math.max(...SERVICE_NAMES.map((n) => n.length));
  const showProbe = probeNoiseFilter();
  let hub: Hub | undefined;
  let stopping = false;
  const restartPolicy = {
    maxRestarts: intEnv('HUB_RESTART_MAX', DEFAULT_RESTART_POLICY.maxRestarts, 1000),
    windowMs: intEnv('HUB_RESTART_WINDOW_MS', DEFAULT_RESTART_POLICY.windowMs, 24 * 3600_000),
  };

  const abort = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      say(`hub: ${signal} again; exiting now without waiting for the services to drain`);
      process.exit(130);
    }
    stopping = true;
    if (!hub) {
      say(`hub: ${signal} during start-up; undoing what has started`);
      abort.abort();
      return;
    }
    say(`hub: stopping (${signal}): services first (they drain in-flight work), then Kafka and Postgres`);
    void hub.stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    hub = await startHub({
      dataDir: process.env.HUB_DATA_DIR,
      kafkaBrokers: process.env.KAFKA_BROKERS || undefined,
      kafkaPort: intEnv('HUB_KAFKA_PORT', 9092),
      databaseUrl: process.env.DATABASE_URL || undefined,
      schemaRegistry: schemaRegistryMode(),
      topicPrefix: process.env.TOPIC_PREFIX || undefined,
      ingestTopic: process.env.INGEST_TOPIC || undefined,
      partitions: intEnv('HUB_PARTITIONS', 3),
      host: process.env.HUB_HOST || undefined,
      endpointAllowHosts: process.env.ENDPOINT_ALLOW_HOSTS || undefined,
      ports: Object.fromEntries(SERVICE_NAMES.map((n) => [n, portEnv(n)])),
      logSink: (service, line) => {
        if (!json && !showProbe(service, line)) return;
        process.stdout.write(
          json
            ? `${line}\n`
            : `${formatLogLine(service, line, { color, width, index: SERVICE_NAMES.indexOf(service.split('#')[0] as ServiceName) })}\n`,
        );
      },
      log: say,
      restartPolicy,
      signal: abort.signal,
    });
  } catch (err) {
    if (abort.signal.aborted) {
      say('hub: start-up cancelled; nothing left running');
      process.exit(130);
    }
    if (err instanceof HubStartError) {
      process.stderr.write(`\nhub: failed to start — ${err.message}\n`);
      if (err.lastLines.length) {
        process.stderr.write(`hub: last lines from ${err.component}:\n`);
        for (const l of err.lastLines.slice(-15)) process.stderr.write(`  ${l}\n`);
      }
    } else {
      process.stderr.write(`\nhub: failed to start — ${(err as Error).stack ?? String(err)}\n`);
    }
    process.exit(1);
  }

  say(formatSummary(hub, relative(process.cwd(), hub.dataDir) || '.'));
  const reason = await hub.stopped;
  if (reason.kind === 'crashed') {
    const label = reason.instance === 0 ? reason.service : `${reason.service}#${reason.instance}`;
    const why =
      restartPolicy.maxRestarts > 0
        ? `${label} crashed ${reason.crashes} times within ${restartPolicy.windowMs / 1000} s, the last time ${describeExit(reason.exit)} (HUB_RESTART_MAX=${restartPolicy.maxRestarts})`
        : `${label} ${describeExit(reason.exit)} (restarts are off: HUB_RESTART_MAX=0)`;
    process.stderr.write(`\nhub: stopped because ${why}; its last lines:\n`);
    // Without the launcher's own /readyz polling, which would otherwise fill them after a restart.
    const show = probeNoiseFilter();
    const last = reason.lastLines.filter((l) => show(reason.service, l));
    for (const l of last.slice(-15)) process.stderr.write(`  ${l}\n`);
    process.exit(1);
  }
  say('hub: stopped');
  process.exit(0);
}

if (process.env.HUB_LAUNCHER_GROUP === '1' || process.platform === 'win32') void main();
else runDetached();

/** HUB_SCHEMA_REGISTRY: unset, or `local` (start a schema registry too). Anything else stops the launcher. */
function schemaRegistryMode(): 'local' | undefined {
  const v = process.env.HUB_SCHEMA_REGISTRY?.trim();
  if (!v) return undefined;
  if (v === 'local') return 'local';
  process.stderr.write(
    `hub: HUB_SCHEMA_REGISTRY=${v} is not understood: use HUB_SCHEMA_REGISTRY=local to start a local schema registry, or leave it unset and give the event-processor SCHEMA_REGISTRY_URL.\n`,
  );
  process.exit(1);
}
