/**
 * gRPC ingest over a real port: the CloudEvents protobuf format through the same rules as HTTP and Kafka ingest,
 * produced to the real ingest topic and fanned out by the real processor. Nothing refused is produced: a
 * sentinel event sent after the refusals proves it (the topic is read up to the sentinel).
 */
import { type ClientDuplexStream, status } from '@grpc/grpc-js';
import type { EventProcessor } from '../../pipeline/event-processor/main';
import { generateApiKey, hashApiKey, publicPrefix } from '../../pipeline/shared/auth/api-key';
import { ApiKeyStorePrisma } from '../../pipeline/shared/auth/api-key-store.prisma';
import {
  IngestServiceClient,
  PublishEventRequest,
  PublishEventsRequest,
  type PublishStreamRequest,
  type PublishStreamResponse,
} from '../../schemas/proto/gen/integrationhub/v1/ingest';
import { CloudEvent } from '../../schemas/proto/gen/io/cloudevents/v1/cloudevents';
import { aSnapshot } from '../fixtures/subscriptions';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { bearer, callAs, failure, insecureClient } from '../support/grpc';
import { consumeAll } from '../support/kafka';
import { aScenario, publishSubscriptions, startProcessor } from './harness';

let db: TestDatabase;
let processor: EventProcessor | undefined;
let client: InstanceType<typeof IngestServiceClient>;
const tenantKey = generateApiKey();
const operatorKey = generateApiKey();

const str = (v: string) => ({ attr: { $case: 'ceString' as const, value: v } });
function aProtoEvent(id: string, o: { tenantId?: string; specVersion?: string } = {}): CloudEvent {
  return CloudEvent.fromPartial({
    id,
    source: '//identity/users',
    specVersion: o.specVersion ?? '1.0',
    type: 'user.created',
    attributes: {
      tenantid: str(o.tenantId ?? 'tenant-a'),
      sourceservice: str('identity'),
      resourcetype: str('USER'),
      operationtype: str('CREATE'),
      datacontenttype: str('application/json'),
    },
    data: { $case: 'textData', value: JSON.stringify({ userId: id }) },
  });
}

beforeAll(async () => {
  db = await createTestDatabase();
  const store = new ApiKeyStorePrisma(db.prisma);
  await store.create({
    name: 'tenant a',
    role: 'TENANT',
    tenantId: 'tenant-a',
    prefix: publicPrefix(tenantKey),
    hash: hashApiKey(tenantKey),
  });
  await store.create({
    name: 'ops',
    role: 'OPERATOR',
    tenantId: null,
    prefix: publicPrefix(operatorKey),
    hash: hashApiKey(operatorKey),
  });
});
afterAll(async () => {
  client?.close();
  await processor?.stop();
  await db.drop();
});

const publish = (e: CloudEvent, key = tenantKey) =>
  callAs(client, client.publishEvent, PublishEventRequest.fromPartial({ event: e }), key);

describe('event-processor gRPC ingest', () => {
  it('publishes unary, batch and stream events durably and fans them out; refuses bad input with nothing produced', async () => {
    const s = aScenario('grpc');
    await publishSubscriptions(s, [aSnapshot({ id: 'sub-1' }), aSnapshot({ id: 'b-sub', tenantId: 'tenant-b' })]);
    processor = await startProcessor(s, { DATABASE_URL: db.url, GRPC_PORT: '0', GRPC_HOST: '127.0.0.1' });
    client = insecureClient(IngestServiceClient, processor.grpc!.address);

    expect(await publish(aProtoEvent('g-unary'))).toEqual({ id: 'g-unary' });

    // Refusals
    const invalid = await failure(publish(aProtoEvent('g-bad', { specVersion: '0.3' })));
    expect(invalid.code).toBe(status.INVALID_ARGUMENT);
    expect(invalid.violations).toEqual([
      { field: 'event.spec_version', description: expect.stringMatching(/INGEST.BAD_SPECVERSION/) },
    ]);
    expect((await failure(publish(aProtoEvent('g-foreign', { tenantId: 'tenant-b' })))).code).toBe(
      status.PERMISSION_DENIED,
    );
    expect((await failure(publish(aProtoEvent('g-nokey'), generateApiKey()))).code).toBe(status.UNAUTHENTICATED);

    // Batch: a result per event; the valid ones are produced.
    const batch = await callAs(
      client,
      client.publishEvents,
      PublishEventsRequest.fromPartial({
        events: [aProtoEvent('g-b1', { tenantId: 'tenant-b' }), aProtoEvent('g-b2', { specVersion: '2' })],
      }),
      operatorKey,
    );
    expect(batch.results.map((r) => [r.id, r.status?.code])).toEqual([
      ['g-b1', status.OK],
      ['g-b2', status.INVALID_ARGUMENT],
    ]);

    // Stream: three acked, then the client cancels; only what was acked is on the topic.
    const stream: ClientDuplexStream<PublishStreamRequest, PublishStreamResponse> = client.publishStream(
      bearer(tenantKey),
    );
    const acks: PublishStreamResponse[] = [];
    const threeAcked = new Promise<void>((resolve) =>
      stream.on('data', (r: PublishStreamResponse) => {
        acks.push(r);
        if (acks.length === 3) resolve();
      }),
    );
    stream.on('error', () => {}); // the cancel below
    for (const id of ['g-s1', 'g-s2', 'g-s3']) stream.write({ event: aProtoEvent(id) });
    await threeAcked;
    stream.cancel();
    expect(acks.map((a) => [a.sequence, a.result?.id, a.result?.status?.code])).toEqual([
      [0, 'g-s1', status.OK],
      [1, 'g-s2', status.OK],
      [2, 'g-s3', status.OK],
    ]);

    // The sentinel: once it is on the topic, everything sent before it is too.
    expect(await publish(aProtoEvent('g-sentinel'))).toEqual({ id: 'g-sentinel' });
    const ingested = await consumeAll(s.ingestTopic, { count: 6 });
    expect(ingested.map((r) => `${r.key}:${r.headers.ce_id}`).sort()).toEqual([
      'tenant-a:g-s1',
      'tenant-a:g-s2',
      'tenant-a:g-s3',
      'tenant-a:g-sentinel',
      'tenant-a:g-unary',
      'tenant-b:g-b1',
    ]);
    const out = await consumeAll(s.topics.allOutbox(), { count: 6 });
    expect(out.map((r) => `${r.headers.ce_id}->${r.headers['hub-subscription-id']}`).sort()).toEqual([
      'g-b1->b-sub',
      'g-s1->sub-1',
      'g-s2->sub-1',
      'g-s3->sub-1',
      'g-sentinel->sub-1',
      'g-unary->sub-1',
    ]);
  });
});
