/**
 * Topic names (defaults; a prefix makes them configurable) and the domains the outbox is split into.
 */
export const DOMAINS = ['user-lifecycle', 'access', 'policy', 'organization'] as const;
export type Domain = (typeof DOMAINS)[number];

export interface TopicNames {
  subscriptions: string;
  quarantine: string;
  audit: string;
  /** The delivery ledger's records (ledger-record.ts), keyed by tenant; read by the ledger writer. */
  ledger: string;
  /** The hub's own facts (shared/facts/fact.ts): public contracts, CloudEvents JSON keyed by tenant. */
  facts: { webhooks: string; failures: string; credentials: string };
  outbox(domain: Domain): string;
  dlt(domain: Domain): string;
  allOutbox(): string[];
  allDlt(): string[];
}

export function topicNames(prefix = 'integration-hub'): TopicNames {
  return {
    subscriptions: `${prefix}.subscriptions.v1`,
    quarantine: `${prefix}.quarantine.v1`,
    audit: `${prefix}.audit.v1`,
    ledger: `${prefix}.ledger.v1`,
    facts: {
      webhooks: `${prefix}.facts.webhooks.v1`,
      failures: `${prefix}.facts.failures.v1`,
      credentials: `${prefix}.facts.credentials.v1`,
    },
    outbox: (d) => `${prefix}.outbox.${d}.v1`,
    dlt: (d) => `${prefix}.dlt.${d}.v1`,
    allOutbox: () => DOMAINS.map((d) => `${prefix}.outbox.${d}.v1`),
    allDlt: () => DOMAINS.map((d) => `${prefix}.dlt.${d}.v1`),
  };
}

export const DEFAULT_INGEST_TOPIC = 'platform.events.v1';

/** Headers the hub puts on its own Kafka records. */
export const HUB_HEADERS = {
  subscriptionId: 'hub-subscription-id',
  tenantId: 'hub-tenant-id',
  domain: 'hub-domain',
  quarantineReason: 'hub-quarantine-reason',
  quarantineCode: 'hub-quarantine-code',
  sourceTopic: 'hub-source-topic',
  sourcePartition: 'hub-source-partition',
  sourceOffset: 'hub-source-offset',
  dltAttempts: 'hub-dlt-attempts',
  dltLastStatus: 'hub-dlt-last-status',
  dltLastErrorCode: 'hub-dlt-last-error-code',
  dltLastError: 'hub-dlt-last-error',
  dltFirstAttemptAt: 'hub-dlt-first-attempt-at',
  dltLastAttemptAt: 'hub-dlt-last-attempt-at',
  /** RETRY (default: the durable schedule), HELD (subscription paused) or SKIPPED (refused by the delivery gate). */
  dltDisposition: 'hub-dlt-disposition',
  /** The subscriber's last Retry-After, in milliseconds: the first scheduled attempt honours it (capped). */
  dltRetryAfterMs: 'hub-dlt-retry-after-ms',
  /** When the hub ingested the event (ISO): the delivery ledger's partition key, carried on outbox and DLT records. */
  receivedAt: 'hub-received-at',
} as const;
