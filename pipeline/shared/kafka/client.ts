/** kafkajs client factory: one place for brokers, client id, TLS/SASL and routing kafkajs logs to pino. */
import { Kafka, type KafkaConfig, logLevel, type SASLOptions } from 'kafkajs';
import type { Logger } from '../logging/logger';

export interface KafkaClientOptions {
  brokers: string[];
  clientId: string;
  ssl?: boolean;
  sasl?: SASLOptions;
  log?: Logger;
  connectionTimeoutMs?: number;
}

const LEVEL: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

export function createKafka(opts: KafkaClientOptions): Kafka {
  const config: KafkaConfig = {
    brokers: opts.brokers,
    clientId: opts.clientId,
    ssl: opts.ssl,
    sasl: opts.sasl,
    connectionTimeout: opts.connectionTimeoutMs ?? 3000,
    // Keep retrying through a broker restart instead of crashing the consumer.
    retry: { initialRetryTime: 200, retries: 10, maxRetryTime: 5000 },
    logLevel: logLevel.WARN,
    logCreator: () => (entry) => {
      if (!opts.log) return;
      const { message, ...extra } = entry.log;
      // kafkajs logs a routine WARN on every rebalance; keep it at info to avoid alarm.
      const level = LEVEL[entry.level] ?? 'info';
      opts.log[level]({ kafka: { namespace: entry.namespace, ...extra } }, message);
    },
  };
  return new Kafka(config);
}
