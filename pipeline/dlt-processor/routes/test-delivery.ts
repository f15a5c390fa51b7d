/**
 * A test event to one subscription, now: what an operator sends after fixing an endpoint ("does it answer, and
 * does it verify our signature?"), as Svix's and Convoy's consoles do.
 *
 *   POST /v1/test-deliveries { subscriptionId, data? }
 *     ─▶ the subscription (from the directory; another tenant's answers 404, as one that does not exist)
 *     ─▶ the delivery gate (paused: 409 "resume it first"; a blocked endpoint: 422) ─▶ one signed attempt
 *     ─▶ 200 { eventId, delivered, statusCode, durationMs, errorCode, responseSnippet }
 *
 * The event is `io.integration-hub.webhook.test.v1` from `//integration-hub/test`, with a fresh id and the
 * subscription's tenant, signed and authenticated as any delivery. It is not a platform event: it is neither fanned
 * out nor recorded in the delivery log, and a failed attempt is not retried (the answer says what happened).
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { canAccessTenant } from '../../shared/auth/api-key';
import { principalOf } from '../../shared/auth/api-key-auth';
import { EXT, type HubCloudEvent } from '../../shared/cloudevents/envelope';
import type { HubApp } from '../../shared/http/create-app';
import { problem } from '../../shared/http/problem';
import { type LedgerReplayDeps, replayAdmission } from '../ledger-replay';
import { notSentProblem } from './ledger';

export const TEST_EVENT_TYPE = 'io.integration-hub.webhook.test.v1';

const body = z
  .object({
    subscriptionId: z.string().min(1).max(128),
    data: z
      .record(z.string(), z.unknown())
      .optional()
      .describe('The test event data (JSON object; default: a message and the time)'),
  })
  .strict();
const answer = z.object({
  eventId: z.string(),
  type: z.string(),
  delivered: z.boolean(),
  statusCode: z.number().nullable(),
  durationMs: z.number(),
  errorCode: z.string().nullable(),
  error: z.string().nullable(),
  responseSnippet: z.string().nullable(),
});

export function registerTestDeliveryRoutes(
  api: HubApp,
  deps: Pick<LedgerReplayDeps, 'directory' | 'deliver' | 'endpointRejection'>,
): void {
  api.post(
    '/v1/test-deliveries',
    {
      schema: {
        tags: ['ledger'],
        summary: 'Send a signed test event to one subscription now and answer what its endpoint said',
        body,
        response: { 200: answer },
      },
    },
    async (req) => {
      const { subscriptionId } = req.body;
      const sub = deps.directory.get(subscriptionId);
      if (!sub || !canAccessTenant(principalOf(req), sub.tenantId))
        throw problem(404, 'not-found', 'Not found', `subscription "${subscriptionId}" not found`);
      const admission = replayAdmission(deps, { tenantId: sub.tenantId }, subscriptionId);
      if (!('sub' in admission)) {
        const what = `test event to subscription "${subscriptionId}"`;
        if (admission.code === 'GATE.PAUSED')
          throw problem(409, 'conflict', 'Conflict', `${what} not sent: the subscription is paused; resume it first`, {
            details: { code: admission.code },
          });
        throw notSentProblem(what, admission);
      }
      const now = new Date();
      const event: HubCloudEvent = {
        specversion: '1.0',
        id: `test_${randomUUID()}`,
        source: '//integration-hub/test',
        type: TEST_EVENT_TYPE,
        time: now.toISOString(),
        datacontenttype: 'application/json',
        extensions: { [EXT.tenant]: sub.tenantId },
        data: Buffer.from(
          JSON.stringify(req.body.data ?? { message: 'A test event from Integration Hub', at: now.toISOString() }),
        ),
      };
      const result = await deps.deliver(event, admission.sub);
      req.log.info(
        { subscriptionId, eventId: event.id, delivered: result.outcome === 'delivered', status: result.status },
        'test event sent',
      );
      return {
        eventId: event.id,
        type: TEST_EVENT_TYPE,
        delivered: result.outcome === 'delivered',
        statusCode: result.status ?? null,
        durationMs: Math.round(result.durationMs),
        errorCode: result.failure?.code ?? null,
        error: result.failure?.message ?? null,
        responseSnippet: result.responseSnippet ?? null,
      };
    },
  );
}
