/**
 * The subscription-api's gRPC server: SubscriptionService and EventTypeService over the REST use cases. Their
 * domain errors answer with the status of the problem the REST routes answer (errors.http.ts).
 */
import type { ApiKeyVerifier } from '../../pipeline/shared/auth/api-key-auth';
import { createRateLimiter } from '../../pipeline/shared/auth/rate-limiter';
import { type GrpcServer, startGrpcServer } from '../../pipeline/shared/grpc/server.grpc';
import type { Logger } from '../../pipeline/shared/logging/logger';
import { asProblem } from '../errors.http';
import type { SubscriptionService } from '../service';
import { eventTypeServiceBinding } from './event-types.grpc';
import { subscriptionServiceBinding } from './subscriptions.grpc';

export interface SubscriptionApiGrpcOptions {
  host: string;
  port: number;
  tls?: { certFile: string; keyFile: string };
  maxMessageBytes: number;
  verifier: ApiKeyVerifier;
  service: SubscriptionService;
  rateLimitPerMinute?: number;
  log: Logger;
}

export async function startSubscriptionApiGrpc(opts: SubscriptionApiGrpcOptions): Promise<GrpcServer> {
  const ctx = {
    verifier: opts.verifier,
    ...(opts.rateLimitPerMinute ? { limiter: createRateLimiter(opts.rateLimitPerMinute) } : {}),
    log: opts.log,
    mapError: asProblem,
  };
  const server = await startGrpcServer({
    host: opts.host,
    port: opts.port,
    ...(opts.tls ? { tls: opts.tls } : {}),
    maxMessageBytes: opts.maxMessageBytes,
    services: [subscriptionServiceBinding(ctx, opts.service), eventTypeServiceBinding(ctx, opts.service)],
    protoFiles: ['integrationhub/v1/subscription.proto', 'integrationhub/v1/event_type.proto'],
    log: opts.log,
  });
  server.serving();
  return server;
}
