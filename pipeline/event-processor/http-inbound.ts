/**
 * Inbound webhooks (issue 19): `POST /v1/inbound/{sourceId}`, called by vendors (GitHub, Stripe, Slack, Standard
 * Webhooks senders, ...) -> one CloudEvent on the ingest topic, then the normal pipeline to the tenant's subscribers.
 *
 *   body size (route bodyLimit, 413) ─▶ rate limit per source (429 + Retry-After) ─▶ source lookup (404)
 *   ─▶ IP allow-list (403) ─▶ signature over the raw body bytes, constant time, timestamp tolerance (401)
 *   ─▶ [Slack url_verification: answer the challenge] ─▶ map to a CloudEvent (400 when the request lacks a mapped
 *   field) ─▶ event size (413) ─▶ dedupe on the vendor delivery id + produce, acks=all (503 + Retry-After on failure):
 *   the event AND its WebhookDelivered fact (`direction: inbound`, issue 18; FACTS_DELIVERED may sample it away) in
 *   the same produce, inside the dedupe row's transaction ─▶ 202 {id} (200 {id, duplicate: true} for a delivery
 *   already accepted within the window: no new event, no new fact)
 *
 * No API key: the vendor proves itself by the source's scheme. Nothing refused is ever produced; every refusal is a
 * problem+json and counted by reason (`hub_inbound_refused_total`). The 2xx is sent only after the broker acknowledged
 * the record (and its fact), so a vendor that got a 2xx never loses the event, and one that did not retries; accepted
 * means a fact exists, refused means none does.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { z } from 'zod';
import { createRateLimiter } from '../shared/auth/rate-limiter';
import { EXT } from '../shared/cloudevents/envelope';
import type { SecretBox } from '../shared/crypto/secret-box';
import { errorMessage } from '../shared/errors';
import { type DeliveredFactsMode, type FactTopics, inboundFactOf } from '../shared/facts/fact';
import type { HubApp } from '../shared/http/create-app';
import {
  badRequest,
  forbidden,
  notFound,
  PROBLEM_TYPE_BASE,
  ProblemError,
  problem,
  problemSchema,
  tooManyRequests,
} from '../shared/http/problem';
import { cidrMatcher, type InboundSourceRecord, liveSecrets } from '../shared/inbound/inbound-source';
import { toIngestMessage } from './admit-events';
import { buildInboundEvent } from './inbound-event';
import { type RefusalReason, verifyInbound } from './inbound-verify';
import type { IngestPublisher } from './ingest-publisher';
import type { EventProcessorMetrics } from './metrics';

/** Port: inbound sources by id (a short cache over the registry). */
export interface InboundSourceLookup {
  get(id: string): Promise<InboundSourceRecord | undefined>;
}

/** Port: the dedupe window over vendor delivery ids. */
export interface InboundDedupe {
  /**
   * Runs `produce` unless this (source, delivery id) was accepted within the window; the delivery counts as accepted
   * only once `produce` resolved (a failed produce leaves no trace, so the vendor's retry is produced).
   */
  acceptOnce(
    sourceId: string,
    deliveryId: string,
    eventId: string,
    produce: () => Promise<void>,
  ): Promise<'accepted' | 'duplicate'>;
  /** Deletes delivery ids older than the window; resolves with how many. */
  prune(): Promise<number>;
}

export interface HttpInboundOptions {
  sources: InboundSourceLookup;
  dedupe: InboundDedupe;
  publisher: IngestPublisher;
  box: SecretBox;
  bodyLimitBytes: number;
  maxEventBytes: number;
  rateLimitPerMinute: number;
  metrics?: EventProcessorMetrics;
  /** WebhookDelivered facts of accepted webhooks (issue 18): their topics and FACTS_DELIVERED. Unset: none. */
  facts?: { topics: FactTopics; mode: DeliveredFactsMode };
  /** Retry-After (seconds) when the event cannot be produced now. */
  retryAfterSeconds?: number;
  now?: () => Date;
}

const paramsSchema = z.object({ sourceId: z.string().min(1).max(64) });
const acceptedSchema = z.object({ id: z.string() }).meta({ id: 'AcceptedInboundWebhook' });
const okSchema = z.object({
  id: z.string().optional().describe('The event id of the delivery accepted before'),
  duplicate: z.literal(true).optional(),
  challenge: z.string().optional().describe('Slack url_verification: the challenge echoed'),
});

type Refusal = RefusalReason | 'rate_limited' | 'unknown_source' | 'ip_not_allowed' | 'unmappable' | 'too_large';

export async function registerHttpInbound(app: HubApp, opts: HttpInboundOptions): Promise<void> {
  const now = opts.now ?? (() => new Date());
  const limiter = createRateLimiter(opts.rateLimitPerMinute);
  const matchers = new Map<string, { version: number; allowed: (ip: string) => boolean }>();
  const allowedBy = (source: InboundSourceRecord) => {
    let m = matchers.get(source.id);
    if (!m || m.version !== source.version) {
      m = { version: source.version, allowed: cidrMatcher(source.allowedCidrs) };
      matchers.set(source.id, m);
    }
    return m.allowed;
  };
  const refused = (reason: Refusal, err: ProblemError): ProblemError => {
    opts.metrics?.inboundRefused.inc({ reason });
    return err;
  };

  await app.register(async (scope) => {
    // Signatures are over the raw bytes: take every content type as a Buffer, never parsed by fastify.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: opts.bodyLimitBytes }, (_req, body, done) =>
      done(null, body),
    );
    scope.post(
      '/v1/inbound/:sourceId',
      {
        bodyLimit: opts.bodyLimitBytes,
        schema: {
          summary: 'Receive a webhook from a vendor (an inbound source)',
          description:
            "Called by the vendor, not by API-key holders: the request is verified by the source's scheme (signature " +
            'over the raw body, timestamp tolerance, Basic/Bearer credentials, IP allow-list), deduplicated on the ' +
            "vendor's delivery id and produced to the ingest topic before the 2xx.",
          tags: ['inbound'],
          params: paramsSchema,
          response: {
            200: okSchema,
            202: acceptedSchema,
            400: problemSchema,
            401: problemSchema,
            403: problemSchema,
            404: problemSchema,
            413: problemSchema,
            429: problemSchema,
            503: problemSchema,
          },
        },
      },
      async (req, reply) => {
        const { sourceId } = req.params as z.infer<typeof paramsSchema>;
        const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        const log = req.log.child({ inboundSourceId: sourceId });

        const slot = limiter.take(sourceId);
        if (!slot.ok) throw refused('rate_limited', tooManyRequests(slot.retryAfterSeconds));

        let source: InboundSourceRecord | undefined;
        try {
          source = await opts.sources.get(sourceId);
        } catch (err) {
          log.warn({ err: errorMessage(err) }, 'inbound source lookup failed; answering 503');
          throw unavailable('the inbound source registry cannot be read right now', opts.retryAfterSeconds);
        }
        if (!source) throw refused('unknown_source', notFound('inbound source', sourceId));

        if (source.allowedCidrs.length > 0 && !allowedBy(source)(req.ip)) {
          throw refused('ip_not_allowed', forbidden(`address ${req.ip} is not in the source's allowedCidrs`));
        }

        const at = now();
        const secrets = source.secrets ? liveSecrets(source.secrets, at).map((s) => opts.box.open(s, source.id)) : [];
        const verified = verifyInbound(source.verification, secrets, req.headers, body, at.getTime());
        if (!verified.ok) {
          log.info({ reason: verified.reason }, 'inbound webhook refused');
          throw refused(
            verified.reason,
            problem(401, 'inbound-verification-failed', 'Webhook verification failed', verified.detail, {
              details: { reason: verified.reason },
            }),
          );
        }

        const challenge = slackChallenge(source, req.headers, body);
        if (challenge !== undefined) return reply.code(200).send({ challenge });

        const built = buildInboundEvent(source, { headers: req.headers, body }, at);
        if (!built.ok) throw refused('unmappable', badRequest(built.detail, built.errors));
        const message = toIngestMessage(built.event);
        if (messageBytes(message) > opts.maxEventBytes) {
          throw refused(
            'too_large',
            problem(413, 'body-too-large', 'Content too large', `the event exceeds ${opts.maxEventBytes} bytes`),
          );
        }

        // The acceptance's fact rides in the same produce as the event: acknowledged together before the 2xx.
        const fact =
          opts.facts &&
          inboundFactOf(
            {
              eventId: built.event.id,
              tenantId: source.tenantId,
              inboundSourceId: source.id,
              deliveryId: built.deliveryId ?? null,
              traceId: built.event.extensions[EXT.traceparent]?.split('-')[1] ?? null,
              receivedAt: at.toISOString(),
            },
            opts.facts.topics,
            opts.facts.mode,
          );
        let produced = false;
        const produce = async () => {
          await opts.publisher.publish([message], fact ? [fact] : []);
          produced = true;
        };
        let outcome: 'accepted' | 'duplicate';
        try {
          if (built.deliveryId) {
            outcome = await opts.dedupe.acceptOnce(source.id, built.deliveryId, built.event.id, produce);
          } else {
            await produce();
            outcome = 'accepted';
          }
        } catch (err) {
          // Produced, but the dedupe row did not commit: the event is durable, so the vendor must hear 2xx; a retry
          // of it would be produced again under the same id (subscribers dedupe on webhook-id).
          if (produced) {
            log.warn({ err: errorMessage(err), eventId: built.event.id }, 'inbound event produced; dedupe row lost');
            outcome = 'accepted';
          } else {
            log.warn({ err: errorMessage(err), eventId: built.event.id }, 'inbound event not produced; answering 503');
            opts.metrics?.inboundRequests.inc({ outcome: 'unavailable' });
            throw unavailable('the event could not be stored; retry later', opts.retryAfterSeconds);
          }
        }
        opts.metrics?.inboundRequests.inc({ outcome });
        // debug when it went well (habit 6); refusals and failures are logged above at info/warn.
        log.debug({ eventId: built.event.id, tenantId: source.tenantId, outcome }, 'inbound webhook received');
        return outcome === 'duplicate'
          ? reply.code(200).send({ id: built.event.id, duplicate: true })
          : reply.code(202).send({ id: built.event.id });
      },
    );
  });
}

function unavailable(detail: string, retryAfterSeconds = 5): ProblemError {
  return new ProblemError(
    { type: `${PROBLEM_TYPE_BASE}unavailable`, title: 'Service unavailable', status: 503, detail },
    { 'retry-after': String(retryAfterSeconds) },
  );
}

function messageBytes(m: ReturnType<typeof toIngestMessage>): number {
  let n = m.value?.length ?? 0;
  for (const [k, v] of Object.entries(m.headers)) n += k.length + Buffer.byteLength(v);
  return n;
}

/**
 * Slack's Events API checks a request URL by sending a signed `url_verification` with a challenge to echo; it is not
 * an event. Only for SLACK sources, and only after the signature was verified.
 */
function slackChallenge(source: InboundSourceRecord, headers: IncomingHttpHeaders, body: Buffer): string | undefined {
  if (source.verification.scheme !== 'SLACK' || !/json/i.test(String(headers['content-type'] ?? ''))) return undefined;
  try {
    const doc = JSON.parse(body.toString('utf8')) as { type?: unknown; challenge?: unknown };
    return doc.type === 'url_verification' && typeof doc.challenge === 'string' ? doc.challenge : undefined;
  } catch {
    return undefined;
  }
}
