/** Starts the real infrastructure once per test run: a local Kafka broker (unless KAFKA_BROKERS is set). */
import { startKafkaForTests } from './kafka-global';

export default async function globalSetup(): Promise<void> {
  const kafka = await startKafkaForTests();
  process.env.KAFKA_BROKERS = kafka.brokers;
  (globalThis as { __HUB_KAFKA__?: unknown }).__HUB_KAFKA__ = kafka;
}
