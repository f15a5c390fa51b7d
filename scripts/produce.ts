/**
 * `npm run produce -- [json]`: puts one raw platform event on the running hub's ingest topic, the way an upstream
 * producer would (key = tenant id). With no argument it produces a sample USER CREATE for tenant `acme`; a JSON
 * argument is merged over the sample, e.g.
 *   npm run produce -- '{"tenantId":"acme","eventType":"user.updated","operationType":"UPDATE"}'
 * Reads the broker address and topic from .data/hub.json (or KAFKA_BROKERS / INGEST_TOPIC).
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { findRoot } from './hub/start-hub';

async function main(): Promise<void> {
  const dataDir = resolve(process.env.HUB_DATA_DIR ?? join(findRoot(), '.data'));
  const infoFile = join(dataDir, 'hub.json');
  const info = existsSync(infoFile)
    ? (JSON.parse(readFileSync(infoFile, 'utf8')) as { kafka: { brokers: string }; topics: { ingest: string } })
    : undefined;
  const brokers = process.env.KAFKA_BROKERS || info?.kafka.brokers;
  const topic = process.env.INGEST_TOPIC || info?.topics.ingest;
  if (!brokers || !topic)
    throw new Error(`the hub is not running (${infoFile} is missing); start it with \`npm run up\``);
  const overrides = process.argv[2] ? (JSON.parse(process.argv[2]) as Record<string, unknown>) : {};
  const event = {
    eventId: randomUUID(),
    sourceService: 'identity-service',
    eventType: 'user.created',
    resourceType: 'USER',
    operationType: 'CREATE',
    tenantId: 'acme',
    occurredAt: new Date().toISOString(),
    traceId: randomUUID().replace(/-/g, ''),
    correlationId: randomUUID(),
    payload: { userId: `u-${Math.floor(Math.random() * 1e6)}`, email: 'ada@example.com' },
    ...overrides,
  };
  const producer = new Kafka({
    clientId: 'integration-hub-produce',
    brokers: brokers.split(','),
    logLevel: logLevel.NOTHING,
  }).producer();
  await producer.connect();
  await producer.send({
    topic,
    messages: [
      { key: String(event.tenantId), value: JSON.stringify(event), headers: { 'content-type': 'application/json' } },
    ],
  });
  await producer.disconnect();
  process.stdout.write(`produced ${event.eventType} ${event.eventId} for tenant ${event.tenantId} to ${topic}\n`);
}

main().catch((err: Error) => {
  process.stderr.write(`produce: ${err.message}\n`);
  process.exit(1);
});
