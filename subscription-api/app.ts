/**
 * Builds the subscription-api HTTP app without listening (tests use `app.inject` or `listen({ port: 0 })`).
 *
 *   /healthz /readyz /metrics /openapi.json /docs         (no auth)
 *   /v1/api-keys, /v1/event-types, /v1/subscriptions      (API key, per-key rate limit)
 *   /v1/inbound-sources                                   (same; when an inbound-source service is given)
 */
import type { Registry } from 'prom-client';
import { apiKeyAuth, createApiKeyVerifier } from '../pipeline/shared/auth/api-key-auth';
import { registerApiKeyRoutes } from '../pipeline/shared/auth/api-key-routes';
import type { ApiKeyStore } from '../pipeline/shared/auth/api-key-store';
import { createApp, type HubApp, type ReadinessResult } from '../pipeline/shared/http/create-app';
import type { Logger } from '../pipeline/shared/logging/logger';
import { asProblem } from './errors.http';
import type { InboundSourceService } from './inbound-sources';
import { registerEventTypeRoutes } from './routes/event-types';
import { registerInboundSourceRoutes } from './routes/inbound-sources';
import { registerSubscriptionRoutes } from './routes/subscriptions';
import type { SubscriptionService } from './service';

export interface SubscriptionApiDeps {
  logger: Logger;
  registry?: Registry;
  apiKeys: ApiKeyStore;
  service: SubscriptionService;
  inboundSources?: InboundSourceService;
  bodyLimitBytes?: number;
  rateLimitPerMinute?: number;
  apiKeyCacheTtlMs?: number;
  ready?: () => boolean | ReadinessResult | Promise<boolean | ReadinessResult>;
}

export async function buildSubscriptionApi(deps: SubscriptionApiDeps): Promise<HubApp> {
  const app = await createApp({
    name: 'subscription-api',
    description: 'Integration Hub subscription registry',
    logger: deps.logger,
    registry: deps.registry,
    bodyLimit: deps.bodyLimitBytes,
    ready: deps.ready,
  });
  const verifier = createApiKeyVerifier(deps.apiKeys, deps.apiKeyCacheTtlMs ?? 30_000);
  await app.register(async (api) => {
    await api.register(apiKeyAuth, {
      store: deps.apiKeys,
      verifier,
      rateLimit: deps.rateLimitPerMinute ? { max: deps.rateLimitPerMinute, timeWindowMs: 60_000 } : undefined,
    });
    const scoped = api as unknown as HubApp;
    // The use cases throw domain errors (errors.ts): answered here as their problems (errors.http.ts). An error
    // handler that throws hands the error to its parent, the app's problem+json handler (create-app.ts).
    scoped.setErrorHandler((err) => {
      throw asProblem(err);
    });
    registerApiKeyRoutes(scoped, { store: deps.apiKeys, verifier });
    registerEventTypeRoutes(scoped, deps.service);
    registerSubscriptionRoutes(scoped, deps.service);
    if (deps.inboundSources) registerInboundSourceRoutes(scoped, deps.inboundSources);
  });
  await app.ready();
  return app;
}
