/** The shapes of the operator API answers the console reads (see the services' OpenAPI at /docs). */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface Session {
  keyId: string;
  name: string | null;
  role: 'OPERATOR' | 'TENANT';
  tenantId: string | null;
}

export interface Stats {
  byStatus: Record<string, number>;
  oldestUnresolvedAgeSeconds: number | null;
}

export interface Failure {
  id: string;
  eventId: string;
  subscriptionId: string;
  tenantId: string;
  domain: string;
  eventType: string | null;
  status: string;
  reason: string | null;
  attempts: number;
  nextAttemptAt: string | null;
  lastStatusCode: number | null;
  lastErrorCode: string | null;
  firstFailedAt: string;
  lastFailedAt: string;
  resolvedAt: string | null;
}

export interface ReplayOne {
  id: string;
  eventId: string;
  delivered: boolean;
  status: string;
  statusCode?: number;
  errorCode?: string;
  durationMs: number;
  reason: string | null;
}

export interface ReplayJob {
  id: string;
  status: 'RUNNING' | 'COMPLETED' | 'FAILED';
  total: number;
  processed: number;
  succeeded: number;
  failed: number;
  error: string | null;
}

export interface Lane {
  subscriptionId: string;
  tenantId: string;
  waiting: number;
  head: { id: string; eventId: string; status: string; firstFailedAt: string };
}

export interface LedgerEvent {
  eventId: string;
  tenantId: string;
  type: string;
  source: string;
  subject: string | null;
  domain: string;
  traceId: string | null;
  receivedAt: string;
  fanOut: number;
}

export interface Delivery {
  eventId: string;
  subscriptionId: string;
  tenantId: string;
  receivedAt: string;
  status: string;
  reason: string | null;
  attempts: number;
  lastStatusCode: number | null;
  nextAttemptAt: string | null;
  updatedAt: string;
}

export interface Attempt {
  attemptId: string;
  attemptedAt: string;
  source: string;
  attempt: number;
  durationMs: number;
  statusCode: number | null;
  errorCode: string | null;
  responseSnippet: string | null;
}

export interface ChainEntry {
  stage: string;
  at: string;
  subscriptionId?: string;
  matches?: number;
  source?: string;
  attempt?: number;
  statusCode?: number | null;
  durationMs?: number;
  errorCode?: string | null;
  status?: string;
  reason?: string | null;
}

export interface EventDetail extends LedgerEvent {
  attributes: Record<string, string>;
  data: string;
  chain: ChainEntry[];
  subscriptions: Delivery[];
}

export interface DeliveryDetail extends Delivery {
  deliveryAttempts: Attempt[];
}

export interface Subscription {
  id: string;
  tenantId: string;
  description: string | null;
  status: 'ACTIVE' | 'PAUSED';
  match: { sourceService: string; eventType: string; resourceType: string; operationType: string };
  endpointUrl: string;
  contentMode: string;
  auth: { type: string; username?: string; clientId?: string; headerName?: string };
  maxAttempts: number | null;
  retrySchedule: string[] | null;
  ordered: boolean;
  /** Absent from hubs older than batched delivery. */
  batch?: { maxEvents: number; maxWaitMs: number } | null;
  held: { count: number; oldestAgeSeconds: number | null };
  health: { failing: boolean; exhaustedDeliveries: number; lastExhaustedAt: string | null };
  signing?: { previousSecretExpiresAt?: string | null };
  version?: number;
  createdAt?: string;
  updatedAt?: string;
}

export interface RotatedSecret {
  id: string;
  signingSecret: string;
  previousSecretExpiresAt: string;
  version: number;
}

export interface PageProps {
  /** The tenant the pages are scoped to: a tenant key's own, or the one an operator switched to (else all). */
  tenant: string | undefined;
  who: Session;
  route: string[];
}

/** POST /v1/test-deliveries (routes/test-delivery.ts). */
export interface TestDelivery {
  eventId: string;
  type: string;
  delivered: boolean;
  statusCode: number | null;
  durationMs: number;
  errorCode: string | null;
  error: string | null;
  responseSnippet: string | null;
}

/** GET /v1/stats/overview (routes/overview.ts). */
export interface OverviewFigures {
  minutes: { at: string; delivered: number; failed: number }[];
  deliveriesPerSecond: number;
  errorRate: number;
  lag: { groupId: string; lag: number }[] | null;
}
