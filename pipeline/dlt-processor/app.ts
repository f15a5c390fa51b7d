/** The dlt-processor's operator API app (no listen), with the same API-key auth as subscription-api. */
import websocket from '@fastify/websocket';
import type { Registry } from 'prom-client';
import { apiKeyAuth, createApiKeyVerifier } from '../shared/auth/api-key-auth';
import type { ApiKeyStore } from '../shared/auth/api-key-store';
import type { ChangeAuditQuery } from '../shared/change-audit/change-audit';
import { createApp, type HubApp, type ReadinessResult } from '../shared/http/create-app';
import type { Logger } from '../shared/logging/logger';
import type { FailureStore } from '../shared/parked/failure-store';
import { type ConsoleApiDeps, registerConsoleApi } from './console/api';
import type { ConsoleAssets } from './console/assets';
import { registerConsoleStatic } from './console/static';
import type { OverviewStats } from './overview-stats';
import type { createReplayJobs } from './replay-jobs';
import { registerChangeAuditRoutes } from './routes/change-audit';
import { registerFailedEventRoutes } from './routes/failed-events';
import { registerLaneRoutes } from './routes/lanes';
import { type LedgerApiDeps, registerLedgerRoutes } from './routes/ledger';
import { registerOverviewRoutes } from './routes/overview';
import { bearerFromProtocol, registerStreamRoutes, STREAM_PROTOCOL, type StreamDeps } from './routes/stream';
import { registerTestDeliveryRoutes } from './routes/test-delivery';
import type { RedeliveryDeps } from './scheduler';

export async function buildDltApi(deps: {
  logger: Logger;
  registry?: Registry;
  apiKeys: ApiKeyStore;
  store: FailureStore;
  redelivery: RedeliveryDeps;
  jobs: ReturnType<typeof createReplayJobs>;
  /** The ledger API (events, deliveries, replay, recover): createLedgerApiDeps (routes/ledger.ts). */
  ledger?: LedgerApiDeps;
  /** The change audit (`GET /v1/audit`): ChangeAuditQueryPrisma. */
  changeAudit?: ChangeAuditQuery;
  /** The console overview's delivery figures (GET /v1/stats/overview); needs the ledger. */
  overview?: OverviewStats;
  /** The operator console at /console: its built files (undefined: not built, 503) and its forwarding API. */
  console?: { assets: ConsoleAssets | undefined; api: ConsoleApiDeps };
  /** The real-time stream (`GET /v1/stream`, WebSocket): routes/stream.ts. */
  stream?: StreamDeps;
  rateLimitPerMinute?: number;
  ready?: () => boolean | ReadinessResult | Promise<boolean | ReadinessResult>;
}): Promise<HubApp> {
  const app = await createApp({
    name: 'dlt-processor',
    description: 'Integration Hub delivery log and failed deliveries: inspect, replay and recover',
    logger: deps.logger,
    registry: deps.registry,
    ready: deps.ready,
  });
  const verifier = createApiKeyVerifier(deps.apiKeys, 30_000);
  if (deps.console) registerConsoleStatic(app, deps.console.assets);
  if (deps.stream) {
    await app.register(websocket, {
      options: {
        maxPayload: 4096, // clients send nothing but control frames
        // Answer with the stream's protocol, never with the offered `bearer.<key>`.
        handleProtocols: (offered) => (offered.has(STREAM_PROTOCOL) ? STREAM_PROTOCOL : false),
      },
    });
    // Before apiKeyAuth (a child scope's hook): the key may come as the subprotocol `bearer.<key>`.
    app.addHook('onRequest', async (req) => {
      if (req.url.startsWith('/v1/stream')) bearerFromProtocol(req.headers);
    });
  }
  await app.register(async (api) => {
    await api.register(apiKeyAuth, {
      store: deps.apiKeys,
      verifier,
      rateLimit: deps.rateLimitPerMinute ? { max: deps.rateLimitPerMinute, timeWindowMs: 60_000 } : undefined,
    });
    registerFailedEventRoutes(api as unknown as HubApp, {
      store: deps.store,
      redelivery: deps.redelivery,
      jobs: deps.jobs,
    });
    registerLaneRoutes(api as unknown as HubApp, { store: deps.store });
    if (deps.ledger) {
      registerLedgerRoutes(api as unknown as HubApp, deps.ledger);
      registerTestDeliveryRoutes(api as unknown as HubApp, deps.ledger.replay);
    }
    if (deps.overview) registerOverviewRoutes(api as unknown as HubApp, deps.overview);
    if (deps.changeAudit) registerChangeAuditRoutes(api as unknown as HubApp, { query: deps.changeAudit });
    if (deps.console) registerConsoleApi(api as unknown as HubApp, deps.console.api);
    if (deps.stream) {
      const streams = registerStreamRoutes(api as unknown as HubApp, deps.stream);
      api.addHook('onClose', () => streams.close());
    }
  });
  await app.ready();
  return app;
}
