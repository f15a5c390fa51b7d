/**
 * IngestService over gRPC: the CloudEvents protobuf format into the same decode, tenant check and durable produce
 * as `POST /v1/events` (http-ingest.fastify.ts); fan-out then runs the exactly-once Kafka path like any ingest.
 *
 *   API key (metadata) ─▶ CloudEvent proto ─▶ binary-mode record ─▶ decodeInput (Kafka's rules)
 *     ─▶ tenantRefusal ─▶ IngestPublisher (acks=all) ─▶ answer
 *
 * PublishEvent: one event, INVALID_ARGUMENT / PERMISSION_DENIED when refused (nothing produced).
 * PublishEvents: per-event results; the valid events of the batch are produced in one send.
 * A message that is not valid protobuf is answered INVALID_ARGUMENT (server.grpc.ts); in a stream, that ack alone.
 * PublishStream: events are produced in batches (those that arrive while a send is in flight go together) and
 * each is acked, in order, only after its batch is on the topic. A cancelled stream starts no further send,
 * so what was acked is exactly what was produced (a send already in flight may land unacked).
 */
import { type handleBidiStreamingCall, type ServerDuplexStream, type ServiceError, status } from '@grpc/grpc-js';
import type { Status } from '../../schemas/proto/gen/google/rpc/status';
import {
  type IngestServiceServer,
  IngestServiceService,
  type PublishResult,
  type PublishStreamRequest,
  type PublishStreamResponse,
} from '../../schemas/proto/gen/integrationhub/v1/ingest';
import type { CloudEvent } from '../../schemas/proto/gen/io/cloudevents/v1/cloudevents';
import type { Principal } from '../shared/auth/api-key';
import type { ApiKeyVerifier } from '../shared/auth/api-key-auth';
import { createRateLimiter } from '../shared/auth/rate-limiter';
import type { HubCloudEvent } from '../shared/cloudevents/envelope';
import {
  authenticate,
  deadlineExceeded,
  failCall,
  type GrpcCallContext,
  type GrpcServer,
  isMalformed,
  type MalformedRequest,
  malformedRequest,
  startGrpcServer,
  timeLeft,
  unary,
} from '../shared/grpc/server.grpc';
import { statusOfProblem } from '../shared/grpc/status';
import { type FieldError, validationFailed } from '../shared/http/problem';
import type { Logger } from '../shared/logging/logger';
import { tenantRefusal, toIngestMessage } from './admit-events';
import { recordFromProtoCloudEvent } from './cloudevent-proto';
import { type DecodeOptions, decodeInput, INGEST_CODES } from './decode-input';
import type { IngestPublisher } from './ingest-publisher';
import type { EventProcessorMetrics } from './metrics';

/** Which proto field an ingest failure is about (the reason says the rest). */
const FIELD_OF_CODE: Record<string, string> = {
  [INGEST_CODES.badId]: 'id',
  [INGEST_CODES.badSpecversion]: 'spec_version',
  [INGEST_CODES.missingTenant]: 'attributes.tenantid',
  [INGEST_CODES.badTenant]: 'attributes.tenantid',
  [INGEST_CODES.missingMatchKey]: 'attributes',
  [INGEST_CODES.badMatchKey]: 'attributes',
  [INGEST_CODES.badAttributeName]: 'attributes',
  [INGEST_CODES.badAttributeType]: 'attributes',
  [INGEST_CODES.badTime]: 'attributes.time',
  [INGEST_CODES.badTraceparent]: 'attributes.traceparent',
  [INGEST_CODES.badData]: 'data',
  [INGEST_CODES.badJson]: 'data',
  [INGEST_CODES.notAnObject]: 'data',
  [INGEST_CODES.badEncoding]: 'data',
  [INGEST_CODES.unsupportedContentType]: 'attributes.datacontenttype',
};

const OK: Status = { code: status.OK, message: '', details: [] };

export interface IngestGrpcOptions {
  publisher: IngestPublisher;
  decode: DecodeOptions;
  maxBatchEvents: number;
  metrics?: EventProcessorMetrics;
}

type Checked = { ok: true; event: HubCloudEvent } | { ok: false; error: ReturnType<typeof validationFailed> };

/** One proto event through the shared rules; `at` prefixes the field violation (`event`, `events[3]`). */
export function checkEvent(principal: Principal, ce: CloudEvent | undefined, at: string, opts: DecodeOptions): Checked {
  const invalid = (field: string, message: string) => {
    const errors: FieldError[] = [{ path: field ? `${at}.${field}` : at, message }];
    return { ok: false as const, error: validationFailed(errors, message) };
  };
  if (!ce) return invalid('', 'required');
  const rec = recordFromProtoCloudEvent(ce);
  if (!rec.ok) return invalid(rec.field, rec.reason);
  const r = decodeInput(rec.record, opts);
  if (!r.ok) return invalid(FIELD_OF_CODE[r.code] ?? '', `${r.code}: ${r.reason}`);
  const refusal = tenantRefusal(principal, r.event);
  if (refusal) return { ok: false, error: refusal };
  return { ok: true, event: r.event };
}

const asIs = (e: FieldError) => e.path;

export function ingestServiceImpl(ctx: GrpcCallContext, opts: IngestGrpcOptions): IngestServiceServer {
  const count = (n: number) => opts.metrics?.httpIngested.inc({ mode: 'grpc' }, n);
  const resultOf = (c: Checked, id: string): PublishResult => ({
    id,
    status: c.ok ? OK : statusOfProblem(c.error.problem, asIs),
  });

  const publishStream: handleBidiStreamingCall<PublishStreamRequest, PublishStreamResponse> = (
    call: ServerDuplexStream<PublishStreamRequest, PublishStreamResponse>,
  ) => {
    const fail = (err: Partial<ServiceError>) => {
      if (!call.cancelled) call.emit('error', err);
    };
    if (timeLeft(call) <= 0) return fail(deadlineExceeded());
    // Events wait here until the caller is authenticated and the previous send is done.
    const pending: { seq: number; req: PublishStreamRequest | MalformedRequest }[] = [];
    let principal: Principal | undefined;
    let seq = 0;
    let ended = false;
    let running = false;
    let failed = false;

    const pump = async () => {
      if (running || !principal || failed) return;
      running = true;
      try {
        while (pending.length > 0 && !call.cancelled) {
          const batch = pending.splice(0, opts.maxBatchEvents).map(({ seq, req }) => ({
            seq,
            id: isMalformed(req) ? '' : (req.event?.id ?? ''),
            checked: isMalformed(req)
              ? ({ ok: false, error: malformedRequest(req) } as const)
              : checkEvent(principal!, req.event, 'event', opts.decode),
          }));
          const valid = batch.flatMap((b) => (b.checked.ok ? [toIngestMessage(b.checked.event)] : []));
          if (valid.length > 0) await opts.publisher.publish(valid);
          count(valid.length);
          for (const b of batch) {
            if (call.cancelled) break;
            call.write({ sequence: b.seq, result: resultOf(b.checked, b.id) });
          }
        }
        if (ended && pending.length === 0 && !call.cancelled) call.end();
      } catch (err) {
        failed = true;
        fail(failCall(ctx, 'PublishStream', err));
      } finally {
        running = false;
      }
    };

    call.on('data', (req: PublishStreamRequest | MalformedRequest) => {
      pending.push({ seq: seq++, req });
      void pump();
    });
    call.on('end', () => {
      ended = true;
      void pump();
    });
    call.on('error', () => {}); // a client reset: nothing more to answer
    authenticate(ctx, call.metadata).then(
      (p) => {
        principal = p;
        void pump();
      },
      (err) => {
        failed = true;
        fail(failCall(ctx, 'PublishStream', err));
      },
    );
  };

  return {
    publishEvent: unary(
      ctx,
      'PublishEvent',
      async (p, req) => {
        const c = checkEvent(p, req.event, 'event', opts.decode);
        if (!c.ok) throw c.error;
        await opts.publisher.publish([toIngestMessage(c.event)]);
        count(1);
        return { id: c.event.id };
      },
      () => asIs,
    ),

    publishEvents: unary(
      ctx,
      'PublishEvents',
      async (p, req) => {
        if (req.events.length === 0) {
          throw validationFailed([{ path: 'events', message: 'the batch is empty' }], 'The batch is empty');
        }
        if (req.events.length > opts.maxBatchEvents) {
          throw validationFailed(
            [{ path: 'events', message: `at most ${opts.maxBatchEvents} events per call` }],
            `The batch has ${req.events.length} events; at most ${opts.maxBatchEvents} are accepted per call`,
          );
        }
        const checked = req.events.map((ce, i) => checkEvent(p, ce, `events[${i}]`, opts.decode));
        const valid = checked.flatMap((c) => (c.ok ? [toIngestMessage(c.event)] : []));
        if (valid.length > 0) await opts.publisher.publish(valid);
        count(valid.length);
        return { results: checked.map((c, i) => resultOf(c, req.events[i]!.id)) };
      },
      () => asIs,
    ),

    publishStream,
  };
}

export interface IngestGrpcServerOptions extends IngestGrpcOptions {
  host: string;
  port: number;
  tls?: { certFile: string; keyFile: string };
  maxMessageBytes: number;
  verifier: ApiKeyVerifier;
  rateLimitPerMinute?: number;
  log: Logger;
}

export async function startIngestGrpc(opts: IngestGrpcServerOptions): Promise<GrpcServer> {
  const ctx: GrpcCallContext = {
    verifier: opts.verifier,
    ...(opts.rateLimitPerMinute ? { limiter: createRateLimiter(opts.rateLimitPerMinute) } : {}),
    log: opts.log,
  };
  return startGrpcServer({
    host: opts.host,
    port: opts.port,
    ...(opts.tls ? { tls: opts.tls } : {}),
    maxMessageBytes: opts.maxMessageBytes,
    services: [
      {
        name: 'integrationhub.v1.IngestService',
        definition: IngestServiceService,
        implementation: ingestServiceImpl(ctx, opts),
      },
    ],
    protoFiles: ['integrationhub/v1/ingest.proto'],
    log: opts.log,
  });
}
