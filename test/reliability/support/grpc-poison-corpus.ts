/**
 * The gRPC part of the poison corpus (reliability scenario 7): requests to the event-processor's IngestService
 * sent as raw bytes through a generic grpc-js client with a pass-through serializer, so a request can be any
 * bytes at all: not protobuf, oversized, or a well-formed CloudEvent that breaks the hub's rules. Each case names
 * the status it must get; good events go through the same raw client.
 */
import { Client, credentials, type ServiceError, status } from '@grpc/grpc-js';
import { statusDetailsOf } from '../../../pipeline/shared/grpc/status';
import {
  PublishEventRequest,
  PublishEventsRequest,
  PublishEventsResponse,
  PublishStreamRequest,
  PublishStreamResponse,
} from '../../../schemas/proto/gen/integrationhub/v1/ingest';
import type { CloudEvent } from '../../../schemas/proto/gen/io/cloudevents/v1/cloudevents';
import { bearer } from '../../../scripts/demo/grpc-client';
import { aRawEvent, protoEvent, type RawPlatformEvent } from '../../fixtures/platform-events';

const SERVICE = '/integrationhub.v1.IngestService';
const passThrough = (b: Buffer) => b;

export interface GrpcAnswer {
  code: status;
  details: string;
  /** google.rpc.BadRequest field violations (INVALID_ARGUMENT). */
  violations: { field: string; description: string }[];
  retryDelay?: number;
  /** The raw response (OK answers). */
  response?: Buffer;
}

export interface RawIngestClient {
  /** One request of `method` (PublishEvent, PublishEvents) with exactly these bytes. */
  unary(method: 'PublishEvent' | 'PublishEvents', bytes: Buffer): Promise<GrpcAnswer>;
  /** One PublishStream carrying these frames; resolves with the acks and the stream's final status. */
  stream(frames: Buffer[]): Promise<{ acks: PublishStreamResponse[]; end: GrpcAnswer }>;
  close(): void;
}

function answerOf(err: ServiceError | null, response?: Buffer): GrpcAnswer {
  if (!err) return { code: status.OK, details: '', violations: [], ...(response ? { response } : {}) };
  const d = statusDetailsOf(err);
  return {
    code: err.code,
    details: err.details,
    violations: d.badRequest?.fieldViolations ?? [],
    ...(d.retryInfo?.retryDelay ? { retryDelay: d.retryInfo.retryDelay.seconds } : {}),
  };
}

export function rawIngestClient(address: string, key: string): RawIngestClient {
  const client = new Client(address, credentials.createInsecure());
  const deadline = () => new Date(Date.now() + 30_000);
  return {
    unary(method, bytes) {
      return new Promise((resolve) =>
        client.makeUnaryRequest(
          `${SERVICE}/${method}`,
          passThrough,
          passThrough,
          bytes,
          bearer(key),
          { deadline: deadline() },
          (err, res) => resolve(answerOf(err, res)),
        ),
      );
    },
    stream(frames) {
      return new Promise((resolve) => {
        const call = client.makeBidiStreamRequest(`${SERVICE}/PublishStream`, passThrough, passThrough, bearer(key), {
          deadline: deadline(),
        });
        const acks: PublishStreamResponse[] = [];
        call.on('data', (b: Buffer) => acks.push(PublishStreamResponse.decode(b)));
        call.on('error', (err: ServiceError) => resolve({ acks, end: answerOf(err) }));
        call.on('end', () => resolve({ acks, end: answerOf(null) }));
        for (const f of frames) call.write(f);
        call.end();
      });
    },
    close: () => client.close(),
  };
}

export const encodeEvent = (event: CloudEvent | undefined) =>
  Buffer.from(PublishEventRequest.encode(PublishEventRequest.fromPartial({ event })).finish());
export const encodeEvents = (events: CloudEvent[]) =>
  Buffer.from(PublishEventsRequest.encode(PublishEventsRequest.fromPartial({ events })).finish());
export const encodeStreamFrame = (event: CloudEvent) =>
  Buffer.from(PublishStreamRequest.encode(PublishStreamRequest.fromPartial({ event })).finish());
export const decodeResults = (b: Buffer) => PublishEventsResponse.decode(b).results;

export interface GrpcPoisonCase {
  name: string;
  method: 'PublishEvent' | 'PublishEvents';
  bytes: Buffer;
  expected: status;
}

/**
 * Malformed IngestService requests of tenant `tenantId`'s key. `maxMessageBytes` is the server's cap
 * (GRPC_MAX_MESSAGE_BYTES) and `maxEventBytes` the ingest limit (MAX_EVENT_BYTES, below the cap).
 */
export function grpcPoisonCases(
  tenantId: string,
  limits: { maxMessageBytes: number; maxEventBytes: number },
): GrpcPoisonCase[] {
  const n = { i: 0 };
  const e = (o: Partial<RawPlatformEvent> = {}) =>
    protoEvent(aRawEvent({ eventId: `grpc-poison-${n.i++}-${Date.now()}`, tenantId, ...o }));
  const without = (mutate: (ce: CloudEvent) => void) => {
    const ce = e();
    mutate(ce);
    return ce;
  };
  const bad = (name: string, bytes: Buffer, method: GrpcPoisonCase['method'] = 'PublishEvent'): GrpcPoisonCase => ({
    name,
    method,
    bytes,
    expected: status.INVALID_ARGUMENT,
  });
  const event = (name: string, ce: CloudEvent) => bad(name, encodeEvent(ce));
  return [
    // Not protobuf
    bad('raw bytes: invalid wire type 7', Buffer.from([0x0f, 0x01, 0x02])),
    bad('raw bytes: a length past the end of the message', Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01])),
    bad('raw bytes: a truncated varint', Buffer.from([0x08, 0xff, 0xff])),
    bad('raw bytes: field number 0', Buffer.from([0x02, 0x00])),
    bad('JSON text instead of protobuf', Buffer.from(JSON.stringify({ event: { id: 'x', source: '//x' } }))),
    bad('raw bytes to PublishEvents', Buffer.from([0x0a, 0x05, 0x0f, 0x0f, 0x0f]), 'PublishEvents'),
    bad('the event field holding bytes that are not a CloudEvent', Buffer.from([0x0a, 0x03, 0x0f, 0xff, 0xff])),
    // Size
    {
      name: 'a message above GRPC_MAX_MESSAGE_BYTES',
      method: 'PublishEvent',
      bytes: encodeEvent(e({ payload: { blob: 'x'.repeat(limits.maxMessageBytes + 1024) } })),
      expected: status.RESOURCE_EXHAUSTED,
    },
    event(
      'an event above MAX_EVENT_BYTES (under the gRPC cap)',
      e({ payload: { blob: 'y'.repeat(limits.maxEventBytes) } }),
    ),
    // Well-formed protobuf, bad CloudEvent
    bad('no event in the request', encodeEvent(undefined)),
    event(
      'a CloudEvent without id',
      without((ce) => (ce.id = '')),
    ),
    event(
      'a CloudEvent without source',
      without((ce) => (ce.source = '')),
    ),
    event(
      'a CloudEvent without type',
      without((ce) => (ce.type = '')),
    ),
    event(
      'a CloudEvent without spec_version',
      without((ce) => (ce.specVersion = '')),
    ),
    event(
      'spec_version 0.3',
      without((ce) => (ce.specVersion = '0.3')),
    ),
    event(
      'no tenantid extension',
      without((ce) => delete ce.attributes.tenantid),
    ),
    event(
      'no resourcetype extension',
      without((ce) => delete ce.attributes.resourcetype),
    ),
    event(
      'an attribute with no value',
      without((ce) => (ce.attributes.operationtype = { attr: undefined })),
    ),
    event(
      'data as proto_data (Any)',
      without(
        (ce) => (ce.data = { $case: 'protoData', value: { typeUrl: 'type.googleapis.com/x', value: Buffer.alloc(1) } }),
      ),
    ),
    event(
      'JSON content type with data that is not JSON',
      without((ce) => (ce.data = { $case: 'textData', value: '{not json' })),
    ),
    event(
      'an invalid attribute name',
      without((ce) => (ce.attributes['Bad-Name!'] = { attr: { $case: 'ceString', value: 'x' } })),
    ),
    // Wrong types in extensions
    event(
      'tenantid as ce_integer',
      without((ce) => (ce.attributes.tenantid = { attr: { $case: 'ceInteger', value: 42 } })),
    ),
    event(
      'operationtype as ce_bytes',
      without((ce) => (ce.attributes.operationtype = { attr: { $case: 'ceBytes', value: Buffer.from('CREATE') } })),
    ),
    event(
      'sourceservice as ce_boolean',
      without((ce) => (ce.attributes.sourceservice = { attr: { $case: 'ceBoolean', value: true } })),
    ),
    event(
      'time as ce_uri',
      without((ce) => (ce.attributes.time = { attr: { $case: 'ceUri', value: 'https://example.com' } })),
    ),
    event(
      'time as a string that is not RFC 3339',
      without((ce) => (ce.attributes.time = { attr: { $case: 'ceString', value: 'yesterday' } })),
    ),
  ];
}
