/**
 * SchemaDecoder on a Confluent-compatible schema registry (@kafkajs/confluent-schema-registry): Avro, Protobuf
 * and JSON Schema values in the Confluent wire format (magic byte 0 + 4-byte schema id + payload).
 *
 * Only a 404 for the schema id is permanent (INGEST.UNKNOWN_SCHEMA); any other registry failure — including
 * mappersmith's network errors — throws, so the batch is retried rather than good records quarantined while the
 * registry is down. Schemas are cached by the client after the first lookup: one HTTP call per schema id.
 */
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { errorMessage } from '../shared/errors';
import type { SchemaDecoder } from './decode-input';

export interface RegistryOptions {
  url: string;
  username?: string;
  password?: string;
}

export function createSchemaRegistry(opts: RegistryOptions): SchemaRegistry {
  return new SchemaRegistry({
    host: opts.url,
    clientId: 'integration-hub-event-processor',
    ...(opts.username ? { auth: { username: opts.username, password: opts.password ?? '' } } : {}),
    retry: { retries: 2, initialRetryTimeInSecs: 0.1, maxRetryTimeInSecs: 1 },
  });
}

function isNotFound(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { status?: unknown }).status === 404;
}

export function confluentSchemaDecoder(registry: SchemaRegistry): SchemaDecoder {
  return {
    async decode(value) {
      const schemaId = value.readInt32BE(1);
      try {
        await registry.getSchema(schemaId);
      } catch (err) {
        if (isNotFound(err))
          return { ok: false, code: 'INGEST.UNKNOWN_SCHEMA', reason: `schema id ${schemaId} is not in the registry` };
        throw err;
      }
      try {
        return { ok: true, schemaId, value: await registry.decode(value) };
      } catch (err) {
        return {
          ok: false,
          code: 'INGEST.SCHEMA_DECODE',
          reason: `value does not decode with schema ${schemaId}: ${errorMessage(err).slice(0, 300)}`,
        };
      }
    },
  };
}
