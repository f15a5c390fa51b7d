/**
 * HTTP ingest: `POST /v1/events` (CloudEvents HTTP binding: binary, structured, batch) -> the ingest topic.
 *
 *   API key (shared auth plugin) ─▶ decodeHttpRequest (same rules as Kafka ingest) ─▶ tenant check
 *   (tenant keys only for their own tenant, else 403) ─▶ publish binary-mode records, key = tenant ─▶ 202 {ids}
 *
 * All or nothing: one invalid event in a batch rejects the request (400 with `errors[{path:"[i]"}]`), nothing is
 * produced. 202 means the events are durably on the ingest topic (acks=all); fan-out happens asynchronously.
 */
import { z } from 'zod';
import { type ApiKeyVerifier, apiKeyAuth, principalOf } from '../shared/auth/api-key-auth';
import type { ApiKeyStore } from '../shared/auth/api-key-store';
import type { HubApp } from '../shared/http/create-app';
import { problem, problemSchema } from '../shared/http/problem';
import { tenantRefusal, toIngestMessage } from './admit-events';
import { decodeHttpRequest } from './http-binding';
import type { IngestPublisher } from './ingest-publisher';
import type { EventProcessorMetrics } from './metrics';

export interface HttpIngestOptions {
  store: ApiKeyStore;
  verifier?: ApiKeyVerifier;
  publisher: IngestPublisher;
  maxEventBytes: number;
  maxBatchEvents: number;
  bodyLimitBytes: number;
  apiKeyCacheTtlMs?: number;
  rateLimitPerMinute?: number;
  metrics?: EventProcessorMetrics;
}

const acceptedSchema = z.object({ ids: z.array(z.string()) }).meta({ id: 'AcceptedEvents' });

export async function registerHttpIngest(app: HubApp, opts: HttpIngestOptions): Promise<void> {
  await app.register(async (scope) => {
    // The body is decoded by the CloudEvents binding, not by fastify: take every content type as raw bytes.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: opts.bodyLimitBytes }, (_req, body, done) =>
      done(null, body),
    );
    await scope.register(apiKeyAuth, {
      store: opts.store,
      ...(opts.verifier ? { verifier: opts.verifier } : {}),
      cacheTtlMs: opts.apiKeyCacheTtlMs,
      ...(opts.rateLimitPerMinute ? { rateLimit: { max: opts.rateLimitPerMinute } } : {}),
    });
    scope.post(
      '/v1/events',
      {
        bodyLimit: opts.bodyLimitBytes,
        schema: {
          summary: 'Ingest CloudEvents',
          description:
            'CloudEvents HTTP binding: binary mode (ce-* headers), structured (application/cloudevents+json) or ' +
            'batch (application/cloudevents-batch+json). Events need the extensions tenantid, sourceservice, ' +
            'resourcetype and operationtype. Tenant keys may only send events of their own tenant.',
          tags: ['ingest'],
          response: {
            202: acceptedSchema,
            400: problemSchema,
            401: problemSchema,
            403: problemSchema,
            413: problemSchema,
            415: problemSchema,
          },
        },
      },
      async (req, reply) => {
        const principal = principalOf(req);
        const body = Buffer.isBuffer(req.body) ? req.body : undefined;
        const r = decodeHttpRequest(req.headers, body, {
          maxEventBytes: opts.maxEventBytes,
          maxBatchEvents: opts.maxBatchEvents,
        });
        if (!r.ok) {
          const slug =
            r.status === 413 ? 'body-too-large' : r.status === 415 ? 'unsupported-media-type' : 'invalid-event';
          const title =
            r.status === 413 ? 'Content too large' : r.status === 415 ? 'Unsupported media type' : 'Invalid CloudEvent';
          throw problem(r.status, slug, title, r.detail, r.errors ? { errors: r.errors } : {});
        }
        for (const e of r.events) {
          const refusal = tenantRefusal(principal, e);
          if (refusal) throw refusal;
        }
        await opts.publisher.publish(r.events.map(toIngestMessage));
        opts.metrics?.httpIngested.inc({ mode: r.mode }, r.events.length);
        return reply.code(202).send({ ids: r.events.map((e) => e.id) });
      },
    );
  });
}
