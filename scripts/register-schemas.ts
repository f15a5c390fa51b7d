/**
 * Registers the platform-event schemas (schemas/platform-event.{avsc,proto,schema.json}) in a Confluent-compatible
 * schema registry and prints their ids.
 *
 *   SCHEMA_REGISTRY_URL=http://localhost:8085 node dist/scripts/register-schemas.js [--ingest-topic platform.events.v1]
 *
 * Subjects: `<ingest topic>-value` for Avro (TopicNameStrategy: what a producer's serializer looks up by default),
 * `<ingest topic>-protobuf-value` and `<ingest topic>-json-value` for the Protobuf and JSON Schema samples.
 * Registering the same schema again returns the same id (idempotent).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import protobuf from 'protobufjs';
import { confluentProtobufValue } from '../pipeline/event-processor/protobuf-message-index';

/** The repo root, from the sources (scripts/) or the build output (dist/scripts/). */
const ROOT = [resolve(__dirname, '..'), resolve(__dirname, '..', '..')].find((d) =>
  existsSync(join(d, 'schemas', 'platform-event.avsc')),
)!;

export interface RegisteredPlatformSchemas {
  avro: number;
  protobuf: number;
  json: number;
}

export function readPlatformSchemas(root = ROOT): { avro: string; protobuf: string; json: string } {
  const read = (f: string) => readFileSync(join(root, 'schemas', f), 'utf8');
  return {
    avro: read('platform-event.avsc'),
    protobuf: read('platform-event.proto'),
    json: read('platform-event.schema.json'),
  };
}

export async function registerPlatformSchemas(
  registry: SchemaRegistry,
  ingestTopic = 'platform.events.v1',
): Promise<RegisteredPlatformSchemas> {
  const s = readPlatformSchemas();
  const avro = await registry.register({ type: SchemaType.AVRO, schema: s.avro }, { subject: `${ingestTopic}-value` });
  const protobuf = await registry.register(
    { type: SchemaType.PROTOBUF, schema: s.protobuf },
    { subject: `${ingestTopic}-protobuf-value` },
  );
  const json = await registry.register(
    { type: SchemaType.JSON, schema: s.json },
    { subject: `${ingestTopic}-json-value` },
  );
  return { avro: avro.id, protobuf: protobuf.id, json: json.id };
}

/** A platform event as the registered schemas hold it: the raw fields, the payload as JSON text (`payloadJson`). */
export interface PlatformRecord {
  eventId: string;
  sourceService: string;
  eventType: string;
  resourceType: string;
  resourceId?: string;
  operationType: string;
  tenantId: string;
  occurredAt?: string;
  traceId?: string;
  correlationId?: string;
  payloadJson?: string;
}

/** Encodes platform events in the Confluent wire format, as registry-aware producers write them. */
export interface PlatformEncoder {
  ids: RegisteredPlatformSchemas;
  /** Avro: magic byte, schema id, Avro binary (the client library's encode()). */
  avro(e: PlatformRecord): Promise<Buffer>;
  /** Protobuf: magic byte, schema id, the message-index array `[0]`, the message (as Confluent's serializers). */
  protobuf(e: PlatformRecord): Buffer;
}

/** Registers the platform-event schemas (idempotent) and returns an encoder for them. */
export async function platformEncoder(registry: SchemaRegistry, ingestTopic?: string): Promise<PlatformEncoder> {
  const ids = await registerPlatformSchemas(registry, ingestTopic);
  const type = protobuf
    .parse(readPlatformSchemas().protobuf)
    .root.lookupType('dev.integrationhub.events.v1.PlatformEvent');
  return {
    ids,
    avro: (e) => registry.encode(ids.avro, e),
    protobuf: (e) => confluentProtobufValue(ids.protobuf, [0], type.encode(type.fromObject(e)).finish()),
  };
}

async function main(): Promise<void> {
  const url = process.env.SCHEMA_REGISTRY_URL;
  if (!url) throw new Error('SCHEMA_REGISTRY_URL is not set (e.g. http://localhost:8085)');
  const i = process.argv.indexOf('--ingest-topic');
  const topic = i > 0 ? process.argv[i + 1] : (process.env.INGEST_TOPIC ?? 'platform.events.v1');
  const registry = new SchemaRegistry({
    host: url,
    ...(process.env.SCHEMA_REGISTRY_USERNAME
      ? {
          auth: {
            username: process.env.SCHEMA_REGISTRY_USERNAME,
            password: process.env.SCHEMA_REGISTRY_PASSWORD ?? '',
          },
        }
      : {}),
  });
  const ids = await registerPlatformSchemas(registry, topic);
  process.stdout.write(`registered platform-event schemas for ${topic}: ${JSON.stringify(ids)}\n`);
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`register-schemas failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
