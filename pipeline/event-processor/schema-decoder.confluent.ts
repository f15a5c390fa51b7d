/**
 * SchemaDecoder on a Confluent-compatible schema registry (@kafkajs/confluent-schema-registry): Avro, Protobuf
 * and JSON Schema values in the Confluent wire format (magic byte 0 + 4-byte schema id + payload; Protobuf puts a
 * message-index array before its payload).
 *
 * Only a 404 for the schema id is permanent (INGEST.UNKNOWN_SCHEMA); any other registry failure — including
 * mappersmith's network errors — throws, so the batch is retried rather than good records quarantined while the
 * registry is down. Schemas are cached after the first lookup: one HTTP call per schema id (two for Protobuf).
 *
 * Protobuf is decoded here, not by the library: @kafkajs/confluent-schema-registry 3.9 neither writes nor reads
 * the message-index array. Its decoder strips leading zero bytes (which happens to skip the `[0]` index of the
 * first message) and always decodes with the first message of the file, so a record of any other message type —
 * as Confluent's own serializers write them — would decode as garbage or fail. We read the indexes
 * (protobuf-message-index.ts; the library's own index-less records still decode, as the first message), find the
 * message they name in the schema's own file (parsed from its text with protobufjs, the library's own parser),
 * and decode with the library's parsed schema, whose root also holds the types of the schema's references.
 */
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import protobuf from 'protobufjs';
import { errorMessage } from '../shared/errors';
import type { SchemaDecoder } from './decode-input';
import { type MessageNode, messageAt, readProtobufFraming } from './protobuf-message-index';

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

/**
 * The CloudEvent `dataschema` of a registry-decoded event: the registry's own URL of the schema
 * (`GET <dataschema>` gives the schema, `GET <dataschema>/versions` its subject and version). Credentials in the
 * URL are never copied into it.
 */
export function schemaUri(registryUrl: string, schemaId: number): string {
  return `${withoutCredentials(registryUrl)}/schemas/ids/${schemaId}`;
}

/** The registry URL without user info or a trailing slash: safe for logs and CloudEvent attributes. */
export function withoutCredentials(registryUrl: string): string {
  const u = new URL(registryUrl);
  u.username = '';
  u.password = '';
  return u.toString().replace(/\/+$/, '');
}

/** The top-level messages of one .proto file (not its imports), each with its nested messages, in order. */
export function messagesOfProtoFile(text: string): MessageNode[] {
  const parsed = protobuf.parse(text);
  const pkg = parsed.package ? parsed.root.lookup(parsed.package) : parsed.root;
  const tree = (ns: protobuf.NamespaceBase | null): MessageNode[] =>
    (ns?.nestedArray ?? [])
      .filter((o): o is protobuf.Type => o instanceof protobuf.Type)
      .map((t) => ({ fullName: t.fullName, nested: tree(t) }));
  return tree(pkg instanceof protobuf.Namespace ? pkg : null);
}

type ProtoLookup = { root: protobuf.Root; messages: MessageNode[] };

export function confluentSchemaDecoder(registry: SchemaRegistry, opts: RegistryOptions): SchemaDecoder {
  const protoFiles = new Map<number, Promise<MessageNode[]>>();
  const authHeader = opts.username
    ? { authorization: `Basic ${Buffer.from(`${opts.username}:${opts.password ?? ''}`).toString('base64')}` }
    : undefined;

  /** The schema's own text (the library keeps only its parsed form): fetched once per schema id. */
  const protoFileOf = (schemaId: number): Promise<MessageNode[]> => {
    let p = protoFiles.get(schemaId);
    if (!p) {
      p = (async () => {
        const res = await fetch(`${opts.url.replace(/\/+$/, '')}/schemas/ids/${schemaId}`, {
          headers: authHeader,
          signal: AbortSignal.timeout(10_000),
        });
        if (!res.ok) throw new Error(`schema registry answered ${res.status} for schema ${schemaId}`);
        return messagesOfProtoFile(((await res.json()) as { schema: string }).schema);
      })();
      // A failed lookup (registry down) is not cached: the retried batch asks again.
      p.catch(() => protoFiles.delete(schemaId));
      protoFiles.set(schemaId, p);
    }
    return p;
  };

  const decodeProtobuf = async (value: Buffer, schemaId: number, lookup: ProtoLookup) => {
    const idx = readProtobufFraming(value);
    if (!idx.ok) return { ok: false as const, reason: idx.reason };
    const target = messageAt(lookup.messages, idx.indexes);
    if (!target.ok) return { ok: false as const, reason: `schema ${schemaId}: ${target.reason}` };
    const type = lookup.root.lookupType(target.fullName);
    // A protobufjs Message: decode-input takes its JSON view (toJSON), as for the library's own results.
    return { ok: true as const, value: type.decode(value.subarray(idx.payloadOffset)) };
  };

  return {
    async decode(value) {
      const schemaId = value.readInt32BE(1);
      let proto: ProtoLookup | undefined;
      try {
        // getSchema loads the schema (references resolved) into the client's cache, whose entry has its type.
        await registry.getSchema(schemaId);
        const { type, schema } = registry.cache.getSchema(schemaId)!;
        if (type === SchemaType.PROTOBUF) {
          const message = (schema as unknown as { message: protobuf.Type }).message;
          proto = { root: message.root, messages: await protoFileOf(schemaId) };
        }
      } catch (err) {
        if (isNotFound(err))
          return { ok: false, code: 'INGEST.UNKNOWN_SCHEMA', reason: `schema id ${schemaId} is not in the registry` };
        throw err;
      }
      const dataschema = schemaUri(opts.url, schemaId);
      try {
        if (proto) {
          const r = await decodeProtobuf(value, schemaId, proto);
          if (!r.ok) return { ok: false, code: 'INGEST.SCHEMA_DECODE', reason: `value does not decode: ${r.reason}` };
          return { ok: true, schemaId, dataschema, value: r.value };
        }
        return { ok: true, schemaId, dataschema, value: await registry.decode(value) };
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
