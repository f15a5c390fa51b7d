/**
 * A small client side for the hub's gRPC APIs over the generated stubs, used by `npm run grpc:example`, the
 * bench and the tests: the API key as `authorization: Bearer …` metadata, unary calls as promises with a
 * deadline, a CloudEvent proto from plain attributes, and a PublishStream that resolves with every ack.
 */
import { type Client, credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import type {
  IngestServiceClient,
  PublishStreamRequest,
  PublishStreamResponse,
} from '../../schemas/proto/gen/integrationhub/v1/ingest';
import { CloudEvent } from '../../schemas/proto/gen/io/cloudevents/v1/cloudevents';

export function bearer(key: string): Metadata {
  const md = new Metadata();
  md.set('authorization', `Bearer ${key}`);
  return md;
}

type UnaryMethod<Req, Res> = (
  req: Req,
  md: Metadata,
  opts: { deadline?: Date },
  cb: (err: ServiceError | null, res: Res) => void,
) => unknown;

/** `callAs(client, client.getSubscription, req, key)` -> the response, or rejects with the ServiceError. */
export function callAs<Req, Res>(
  client: Client,
  method: UnaryMethod<Req, Res>,
  req: Req,
  key: string,
  timeoutMs = 10_000,
): Promise<Res> {
  return new Promise((resolve, reject) =>
    method.call(client, req, bearer(key), { deadline: new Date(Date.now() + timeoutMs) }, (err, res) =>
      err ? reject(err) : resolve(res),
    ),
  );
}

export function insecureClient<C extends Client>(
  Ctor: new (address: string, creds: ReturnType<typeof credentials.createInsecure>) => C,
  address: string,
): C {
  return new Ctor(address, credentials.createInsecure());
}

const CORE = new Set(['id', 'source', 'specversion', 'type']);

/**
 * A CloudEvent in the official protobuf format from its attributes in JSON form (`specversion`, `id`, `source`,
 * `type`, then extensions such as `tenantid`), every extension as a string; `data` as JSON text.
 */
export function protoCloudEvent(attributes: Record<string, string>, data?: unknown): CloudEvent {
  const ext = Object.entries(attributes).filter(([k]) => !CORE.has(k));
  return CloudEvent.fromPartial({
    id: attributes.id ?? '',
    source: attributes.source ?? '',
    specVersion: attributes.specversion ?? '1.0',
    type: attributes.type ?? '',
    attributes: {
      ...Object.fromEntries(ext.map(([k, v]) => [k, { attr: { $case: 'ceString' as const, value: v } }])),
      ...(data === undefined ? {} : { datacontenttype: { attr: { $case: 'ceString', value: 'application/json' } } }),
    },
    ...(data === undefined ? {} : { data: { $case: 'textData' as const, value: JSON.stringify(data) } }),
  });
}

/**
 * Sends `events` on one PublishStream, half-closes, and resolves with the acks (one per event, in order) once the
 * server ends the stream; rejects with the stream's error.
 */
export function publishStream(
  client: InstanceType<typeof IngestServiceClient>,
  key: string,
  events: CloudEvent[],
  timeoutMs = 60_000,
): Promise<PublishStreamResponse[]> {
  return new Promise((resolve, reject) => {
    const stream = client.publishStream(bearer(key), { deadline: new Date(Date.now() + timeoutMs) });
    const acks: PublishStreamResponse[] = [];
    stream.on('data', (r: PublishStreamResponse) => acks.push(r));
    stream.on('error', reject);
    stream.on('end', () => resolve(acks));
    for (const event of events) stream.write({ event } satisfies PublishStreamRequest);
    stream.end();
  });
}
