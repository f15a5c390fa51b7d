/**
 * `npm run grpc:example`: a small gRPC client against a running hub (`npm run up` in another terminal), with the
 * typed stubs from schemas/proto/gen:
 *
 *   1. reads the gRPC addresses from .data/hub.json and the operator key from .data/hub.env (both written by the
 *      launcher), creates a tenant API key (REST: keys have no gRPC API), and serves a subscriber on loopback;
 *   2. SubscriptionService.CreateSubscription for that tenant, pointing at the subscriber;
 *   3. IngestService.PublishEvent of a CloudEvent (protobuf format) until the subscription is live, then
 *      PublishStream of three more, each acked once it is on the ingest topic;
 *   4. prints each delivery with its Standard Webhooks signature check, deletes the subscription, exits 0 when
 *      every event arrived signed.
 *
 * Environment: HUB_DATA_DIR (.data), or SUBSCRIPTION_GRPC / EVENT_GRPC (host:port), SUBSCRIPTION_API_URL and
 * OPERATOR_API_KEY for a hub elsewhere.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { status } from '@grpc/grpc-js';
import { IngestServiceClient } from '../schemas/proto/gen/integrationhub/v1/ingest';
import {
  CreateSubscriptionRequest,
  SubscriptionServiceClient,
} from '../schemas/proto/gen/integrationhub/v1/subscription';
import { startDemoSubscriber } from './demo/demo-subscriber';
import { callAs, insecureClient, protoCloudEvent, publishStream } from './demo/grpc-client';
import { hubClient, waitUntil } from './demo/hub-client';
import { parseEnvFile } from './hub/secrets';
import { findRoot } from './hub/start-hub';

const say = (s = '') => process.stdout.write(`${s}\n`);

function discover() {
  const dataDir = resolve(process.env.HUB_DATA_DIR ?? join(findRoot(), '.data'));
  const infoFile = join(dataDir, 'hub.json');
  const urls = existsSync(infoFile)
    ? (JSON.parse(readFileSync(infoFile, 'utf8')) as { urls: Record<string, { url: string; grpc?: string }> }).urls
    : {};
  const secretsFile = join(dataDir, 'hub.env');
  const secrets = existsSync(secretsFile) ? parseEnvFile(readFileSync(secretsFile, 'utf8')) : {};
  const pick = (envName: string, found: string | undefined, what: string) => {
    const v = process.env[envName] || found;
    if (!v)
      throw new Error(
        `no ${what}: the hub does not seem to be running (${infoFile} has none). Start it with \`npm run up\` in another terminal, or set ${envName}.`,
      );
    return v;
  };
  return {
    subscriptionGrpc: pick('SUBSCRIPTION_GRPC', urls['subscription-api']?.grpc, 'subscription-api gRPC address'),
    eventGrpc: pick('EVENT_GRPC', urls['event-processor']?.grpc, 'event-processor gRPC address'),
    subscriptionApi: pick('SUBSCRIPTION_API_URL', urls['subscription-api']?.url, 'subscription-api URL'),
    operatorKey: pick('OPERATOR_API_KEY', secrets.OPERATOR_API_KEY, `operator API key (${secretsFile})`),
  };
}

const MATCH = { sourceService: 'identity', eventType: 'user.created', resourceType: 'USER', operationType: 'CREATE' };

function userCreated(tenantId: string, userId: string) {
  return protoCloudEvent(
    {
      specversion: '1.0',
      id: randomUUID(),
      source: '//identity/users',
      type: 'user.created',
      time: new Date().toISOString(),
      tenantid: tenantId,
      sourceservice: 'identity',
      resourcetype: 'USER',
      operationtype: 'CREATE',
    },
    { userId, email: `${userId}@example.com` },
  );
}

async function main(): Promise<number> {
  const t = discover();
  const tenantId = `grpc-example-${Date.now().toString(36)}`;
  const { key } = await hubClient(
    { subscriptionApi: t.subscriptionApi, eventApi: '', dltApi: '' },
    t.operatorKey,
  ).createApiKey({ name: 'gRPC example tenant', role: 'TENANT', tenantId });
  const sub = await startDemoSubscriber({ host: '127.0.0.1' });
  const subs = insecureClient(SubscriptionServiceClient, t.subscriptionGrpc);
  const ingest = insecureClient(IngestServiceClient, t.eventGrpc);
  let name: string | undefined;
  try {
    say(`1. tenant "${tenantId}", subscriber at ${sub.endpointUrl('grpc')}`);
    sub.configure('grpc', {});
    const created = await callAs(
      subs,
      subs.createSubscription,
      CreateSubscriptionRequest.fromPartial({
        subscription: { match: MATCH, endpointUrl: sub.endpointUrl('grpc'), description: 'npm run grpc:example' },
      }),
      key,
    );
    name = created.subscription!.name;
    sub.configure('grpc', { secret: created.signingSecret });
    say(`2. CreateSubscription (${t.subscriptionGrpc}) -> ${name}`);

    // The processors learn the subscription from the changelog within about a second: publish until one arrives.
    const first = await waitUntil(
      'the first event at the subscriber',
      async () => {
        const e = userCreated(tenantId, 'u-0');
        const { id } = await callAs(ingest, ingest.publishEvent, { event: e }, key);
        await new Promise((r) => setTimeout(r, 700));
        return sub.deliveredIds('grpc').has(id) ? id : undefined;
      },
      30_000,
      0,
    );
    say(`3. PublishEvent (${t.eventGrpc}) -> delivered ${first}`);
    const events = ['u-1', 'u-2', 'u-3'].map((u) => userCreated(tenantId, u));
    const acks = await publishStream(ingest, key, events);
    for (const a of acks)
      say(`   PublishStream ack #${a.sequence}: ${a.result?.id} ${status[a.result?.status?.code ?? status.UNKNOWN]}`);
    await waitUntil(
      'the streamed events at the subscriber',
      () => events.every((e) => sub.deliveredIds('grpc').has(e.id)),
      30_000,
    );

    say('4. deliveries');
    const ids = new Set([first, ...events.map((e) => e.id)]);
    const got = sub.receipts('grpc').filter((r) => ids.has(r.webhookId) && r.status < 300);
    for (const r of got)
      say(
        `   ${r.status} webhook-id ${r.webhookId}  ${r.signatureValid ? 'signature ok' : 'signature INVALID'}  ${r.body}`,
      );
    const ok = ids.size === new Set(got.map((r) => r.webhookId)).size && got.every((r) => r.signatureValid);
    say(ok ? 'every event arrived, signed' : 'some events are missing or unsigned');
    return ok ? 0 : 1;
  } finally {
    if (name) await callAs(subs, subs.deleteSubscription, { name }, key).catch(() => {});
    subs.close();
    ingest.close();
    await sub.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`grpc:example failed: ${err.message}\n`);
    process.exit(1);
  },
);
