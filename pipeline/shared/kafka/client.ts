/** kafkajs client factory: one place for brokers, client id, TLS/SASL and routing kafkajs logs to pino. */
import { Kafka, type KafkaConfig, logLevel, type SASLOptions } from 'kafkajs';
import './kafkajs-coordinator-cache';
import './kafkajs-crc32c';
import './kafkajs-encoder-alloc';
import './kafkajs-idle-fix';
import './kafkajs-record-decoder';
import './kafkajs-record-encoder';
import './kafkajs-rejoin-hold';

// kafkajs warns at every producer made without `createPartitioner` that its default changed in v2: a WARN at every
// start of a service. That v2 default (Java-compatible murmur2, the same partition per key as JVM clients) is the
// one the hub wants; the launcher set this for its services already, a deployment running them directly did not.
process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';

export type KafkaLogLevel = 'error' | 'warn' | 'info' | 'debug';

/** Anything pino-shaped (`logger.warn(obj, msg)`), e.g. the service's pino logger. */
export interface KafkaLogTarget {
  error(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

/** Or a plain callback. */
export type KafkaLogFn = (level: KafkaLogLevel, message: string, extra: Record<string, unknown>) => void;

export interface KafkaClientOptions {
  brokers: string[];
  clientId: string;
  ssl?: KafkaConfig['ssl'];
  sasl?: SASLOptions;
  log?: KafkaLogTarget | KafkaLogFn;
  /** kafkajs log level; default WARN (kafkajs is chatty at INFO on every join/rebalance). */
  level?: logLevel;
  connectionTimeoutMs?: number;
}

const LEVEL: Record<number, KafkaLogLevel> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/**
 * Broker answers kafkajs logs at ERROR on every attempt (`Response JoinGroup(...)` with `error`, `Failed to send
 * messages: ...`) and then retries on its own: a coordinator still loading or not yet elected, a leader election,
 * metadata that is behind, a transaction coordinator still writing the previous commit's markers. They are expected
 * while a broker starts, a group (re)joins or a leader moves. When they outlast the retries the failure still surfaces
 * at ERROR (the consumer's `Crash: ...`, the caller's failed send), so per-attempt lines go to debug. Keyed by kafkajs's
 * error type, valued by its message (kafkajs logs only the message; the unit test checks them against kafkajs).
 */
export const TRANSIENT_KAFKA_ERRORS: Readonly<Record<string, string>> = {
  GROUP_LOAD_IN_PROGRESS: "The coordinator is loading and hence can't process requests for this group",
  GROUP_COORDINATOR_NOT_AVAILABLE: 'The group coordinator is not available',
  NOT_COORDINATOR_FOR_GROUP: 'This is not the correct coordinator for this group',
  LEADER_NOT_AVAILABLE: 'There is no leader for this topic-partition as we are in the middle of a leadership election',
  NOT_LEADER_FOR_PARTITION: 'This server is not the leader for that topic-partition',
  REPLICA_NOT_AVAILABLE: 'The replica is not available for the requested topic-partition',
  CONCURRENT_TRANSACTIONS:
    'The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing',
};
const TRANSIENT_MESSAGES = new Set(Object.values(TRANSIENT_KAFKA_ERRORS));
const SEND_RETRY_PREFIX = 'Failed to send messages: ';

/**
 * kafkajs warns this for every idempotent producer created with bounded retries, and the services' are bounded on
 * purpose (`retry.retries` below; kafkajs has no delivery timeout, so the bound is what lets a send fail during a
 * broker outage): the caller then handles the failure (the outbox-processor retries its DLT produce with backoff,
 * HTTP ingest answers with an error and the client retries), at-least-once as designed. Unbounded retries would
 * hang those callers instead. The transactional producers set unbounded retries themselves and never print it.
 */
export const IDEMPOTENT_RETRIES_WARNING = 'Limiting retries for the idempotent producer may invalidate EoS guarantees';

/** The pino level of one kafkajs log entry: kafkajs's own, except expected start-up and retry noise (debug). */
export function kafkaLogLevel(level: logLevel, message: string, extra: Record<string, unknown> = {}): KafkaLogLevel {
  const mapped = LEVEL[level] ?? 'info';
  if (mapped !== 'error' && mapped !== 'warn') return mapped;
  if (message === IDEMPOTENT_RETRIES_WARNING) return 'debug';
  if (typeof extra.error === 'string' && TRANSIENT_MESSAGES.has(extra.error)) return 'debug';
  const bare = message.startsWith(SEND_RETRY_PREFIX) ? message.slice(SEND_RETRY_PREFIX.length) : message;
  if (TRANSIENT_MESSAGES.has(bare)) return 'debug';
  return mapped;
}

export function createKafka(opts: KafkaClientOptions): Kafka {
  const { log } = opts;
  const config: KafkaConfig = {
    brokers: opts.brokers,
    clientId: opts.clientId,
    ssl: opts.ssl,
    sasl: opts.sasl,
    connectionTimeout: opts.connectionTimeoutMs ?? 3000,
    // Keep retrying through a broker restart instead of crashing the consumer.
    retry: { initialRetryTime: 200, retries: 10, maxRetryTime: 5000 },
    logLevel: opts.level ?? logLevel.WARN,
    logCreator: () => (entry) => {
      if (!log) return;
      // kafkajs puts message, timestamp, logger and free-form fields (broker, groupId, error, stack) in one object.
      const { message, timestamp: _ts, logger: _logger, ...extra } = entry.log as Record<string, unknown>;
      const level = kafkaLogLevel(entry.level, String(message), extra);
      const fields = { namespace: entry.namespace, ...extra };
      if (typeof log === 'function') log(level, String(message), fields);
      else log[level]({ kafka: fields }, String(message));
    },
  };
  return new Kafka(config);
}

/**
 * How long the broker may hold an empty fetch (long poll). A fetch returns as soon as there is data (minBytes 1),
 * so this adds no latency under load; it only sets how often an idle consumer polls. 50–200 ms cost each idle
 * service 5–10% of a core (measured with `npm run bench`'s idle phase); 500 ms keeps shutdown and pause prompt.
 */
export const FETCH_MAX_WAIT_MS = 500;
