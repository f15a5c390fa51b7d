/**
 * Tenant isolation over gRPC (reliability scenario 11): every method of the three gRPC services, as the generated
 * service definitions list them, and for each one how tenant A calls it with tenant B's names and what it must
 * answer. A method without an entry here fails the scenario: a new method needs its isolation case.
 *
 * An answer leaks when it carries something A never sent and only B's world holds (B's endpoint, secrets,
 * subscription ids A did not name); an OK answer also leaks when it names tenant B at all.
 */
import { type Client, type ServiceError, status } from '@grpc/grpc-js';
import {
  CreateEventTypeRequest,
  EventTypeServiceClient,
  EventTypeServiceService,
  ListEventTypesRequest,
  UpdateEventTypeRequest,
} from '../../../schemas/proto/gen/integrationhub/v1/event_type';
import { IngestServiceClient, IngestServiceService } from '../../../schemas/proto/gen/integrationhub/v1/ingest';
import {
  CreateSubscriptionRequest,
  ListSubscriptionsRequest,
  Subscription,
  SubscriptionServiceClient,
  SubscriptionServiceService,
  UpdateSubscriptionRequest,
} from '../../../schemas/proto/gen/integrationhub/v1/subscription';
import { callAs, insecureClient, protoCloudEvent, publishStream } from '../../../scripts/demo/grpc-client';

export interface GrpcOutcome {
  code: status;
  /** The response (OK) or the error's message, as text to search for foreign data. */
  text: string;
}

export interface GrpcCall {
  note?: string;
  /** Acceptable codes (per event for PublishEvents / PublishStream). */
  expect: status[];
  run: () => Promise<GrpcOutcome>;
}

export interface GrpcIsolationContext {
  a: { tenantId: string; key: string };
  b: { tenantId: string };
  bSubscriptionId: string;
  eventType: string;
  /** Strings only B's world holds (endpoint URLs, secrets, ids A never names). */
  foreign: string[];
}

/** Every `/package.Service/Method` the gRPC servers offer (from the generated definitions). */
export function grpcMethods(): string[] {
  return [SubscriptionServiceService, EventTypeServiceService, IngestServiceService].flatMap((d) =>
    Object.values(d).map((m) => m.path),
  );
}

const outcome = async (p: Promise<unknown>): Promise<GrpcOutcome> => {
  try {
    return { code: status.OK, text: JSON.stringify(await p) };
  } catch (err) {
    const e = err as ServiceError;
    return { code: e.code ?? status.UNKNOWN, text: e.details ?? String(err) };
  }
};

/** Clients for the two gRPC servers, and the cases; `close()` when done. */
export function grpcIsolation(addresses: { subscriptionApi: string; eventApi: string }, ctx: GrpcIsolationContext) {
  const subs = insecureClient(SubscriptionServiceClient, addresses.subscriptionApi);
  const types = insecureClient(EventTypeServiceClient, addresses.subscriptionApi);
  const ingest = insecureClient(IngestServiceClient, addresses.eventApi);
  const key = ctx.a.key;
  const as = <Req, Res>(client: Client, method: Parameters<typeof callAs<Req, Res>>[1], req: Req) =>
    outcome(callAs(client, method, req, key));
  const DENIED = [status.PERMISSION_DENIED, status.NOT_FOUND];
  const denied = (run: () => Promise<GrpcOutcome>, note?: string): GrpcCall => ({ expect: DENIED, run, note });
  const name = `subscriptions/${ctx.bSubscriptionId}`;
  const bEvent = (n: string) =>
    protoCloudEvent(
      {
        specversion: '1.0',
        id: `iso-grpc-${n}-${Date.now()}`,
        source: '//identity',
        type: 'user.created',
        tenantid: ctx.b.tenantId,
        sourceservice: 'identity',
        resourcetype: 'USER',
        operationtype: 'CREATE',
      },
      { userId: 'u-1' },
    );
  const match = { sourceService: '*', eventType: '*', resourceType: 'USER', operationType: 'CREATE' };
  const firstResult = (o: GrpcOutcome, pick: (r: unknown) => number | undefined): GrpcOutcome =>
    o.code === status.OK ? { code: pick(JSON.parse(o.text)) ?? status.UNKNOWN, text: o.text } : o;

  const S = '/integrationhub.v1.SubscriptionService/';
  const E = '/integrationhub.v1.EventTypeService/';
  const I = '/integrationhub.v1.IngestService/';
  const table = new Map<string, GrpcCall[]>([
    [
      `${S}CreateSubscription`,
      [
        denied(
          () =>
            as(
              subs,
              subs.createSubscription,
              CreateSubscriptionRequest.fromPartial({
                subscription: { tenantId: ctx.b.tenantId, match, endpointUrl: 'https://hooks.example.com/x' },
              }),
            ),
          'for B',
        ),
      ],
    ],
    [`${S}GetSubscription`, [denied(() => as(subs, subs.getSubscription, { name }))]],
    [
      `${S}ListSubscriptions`,
      [
        denied(
          () => as(subs, subs.listSubscriptions, ListSubscriptionsRequest.fromPartial({ tenantId: ctx.b.tenantId })),
          'tenant_id B',
        ),
        // Without a filter A sees its own (none here), never B's.
        {
          note: 'no filter',
          expect: [status.OK],
          run: () => as(subs, subs.listSubscriptions, ListSubscriptionsRequest.fromPartial({})),
        },
      ],
    ],
    [
      `${S}UpdateSubscription`,
      [
        denied(() =>
          as(
            subs,
            subs.updateSubscription,
            UpdateSubscriptionRequest.fromPartial({
              subscription: Subscription.fromPartial({ name, description: 'taken over' }),
              updateMask: ['description'],
            }),
          ),
        ),
      ],
    ],
    [`${S}DeleteSubscription`, [denied(() => as(subs, subs.deleteSubscription, { name }))]],
    [`${S}PauseSubscription`, [denied(() => as(subs, subs.pauseSubscription, { name }))]],
    [`${S}ResumeSubscription`, [denied(() => as(subs, subs.resumeSubscription, { name }))]],
    [`${S}RotateSubscriptionSecret`, [denied(() => as(subs, subs.rotateSubscriptionSecret, { name }))]],
    [
      `${S}GetSubscriptionsByEvent`,
      [
        denied(() =>
          as(subs, subs.getSubscriptionsByEvent, {
            tenantId: ctx.b.tenantId,
            match: { ...match, sourceService: 'identity', eventType: 'user.created' },
          }),
        ),
      ],
    ],
    // The event type catalogue is shared (no tenant in it): tenants read, only operators write.
    [
      `${E}CreateEventType`,
      [
        denied(() =>
          as(
            types,
            types.createEventType,
            CreateEventTypeRequest.fromPartial({ eventType: { eventType: `${ctx.eventType}.grpc`, domain: 'access' } }),
          ),
        ),
      ],
    ],
    [
      `${E}GetEventType`,
      [{ expect: [status.OK], run: () => as(types, types.getEventType, { name: `eventTypes/${ctx.eventType}` }) }],
    ],
    [
      `${E}ListEventTypes`,
      [
        {
          expect: [status.OK],
          run: () => as(types, types.listEventTypes, ListEventTypesRequest.fromPartial({})),
        },
      ],
    ],
    [
      `${E}UpdateEventType`,
      [
        denied(() =>
          as(
            types,
            types.updateEventType,
            UpdateEventTypeRequest.fromPartial({
              eventType: { name: `eventTypes/${ctx.eventType}`, description: 'taken over', deprecated: true },
              updateMask: ['description', 'deprecated'],
            }),
          ),
        ),
      ],
    ],
    [`${E}DeleteEventType`, [denied(() => as(types, types.deleteEventType, { name: `eventTypes/${ctx.eventType}` }))]],
    // Ingest of B's events: refused as a whole (unary) or per event (batch, stream), and nothing produced.
    [`${I}PublishEvent`, [denied(() => as(ingest, ingest.publishEvent, { event: bEvent('unary') }))]],
    [
      `${I}PublishEvents`,
      [
        denied(async () =>
          firstResult(
            await as(ingest, ingest.publishEvents, { events: [bEvent('batch')] }),
            (r) => (r as { results: { status?: { code: number } }[] }).results[0]?.status?.code,
          ),
        ),
      ],
    ],
    [
      `${I}PublishStream`,
      [
        denied(async () => {
          const o = await outcome(publishStream(ingest, key, [bEvent('stream')]));
          return firstResult(
            o,
            (acks) => (acks as { result?: { status?: { code: number } } }[])[0]?.result?.status?.code,
          );
        }),
      ],
    ],
  ]);

  /** Runs every case; one result per call. */
  async function run() {
    const results: { method: string; code: string; ok: boolean }[] = [];
    for (const method of grpcMethods()) {
      for (const c of table.get(method) ?? []) {
        const o = await c.run();
        const leak =
          ctx.foreign.some((f) => o.text.includes(f)) || (o.code === status.OK && o.text.includes(ctx.b.tenantId));
        results.push({
          method: `${method} ${c.note ?? ''}`.trim(),
          code: status[o.code] ?? String(o.code),
          ok: c.expect.includes(o.code) && !leak,
        });
      }
    }
    return results;
  }

  return {
    untested: grpcMethods().filter((m) => !table.has(m)),
    run,
    close() {
      subs.close();
      types.close();
      ingest.close();
    },
  };
}
