/**
 * Audit trail: every stage of an event's life as a CloudEvent on `integration-hub.audit.v1`, keyed by tenant,
 * correlated by the source event id and trace id.
 *
 * Audit is written off the hot path: `record` buffers, a timer flushes in batches. Losing the process loses at
 * most one flush interval of audit entries, never an event. (The durable audit chain of an event is the delivery
 * ledger's, read through the operator API; this topic is the live, best-effort stream.)
 *
 * Each flush sends one Kafka record per tenant (and per AUDIT_BATCH_MAX_BYTES): a CloudEvents JSON batch
 * (`application/cloudevents-batch+json`, an array of structured CloudEvents), keyed by the tenant. One record per
 * entry made audit two of every three records the event-processor produced; the cost is mostly per record.
 */
import { randomUUID } from 'node:crypto';

export const AUDIT_STAGES = ['EVENT_RECEIVED', 'EVENT_PROCESSED', 'OUTBOX_SEND', 'HTTP_SEND', 'EVENT_ERROR'] as const;
export type AuditStage = (typeof AUDIT_STAGES)[number];

export interface AuditEntry {
  stage: AuditStage;
  /** The source CloudEvent id (stable across deliveries, retries and replays). */
  eventId: string;
  tenantId: string;
  traceId?: string;
  subscriptionId?: string;
  /** e.g. number of matched subscriptions (EVENT_PROCESSED) */
  matches?: number;
  status?: number;
  attempt?: number;
  durationMs?: number;
  outcome?: string;
  errorCode?: string;
  detail?: string;
  topic?: string;
}

/** Port. */
export interface AuditSink {
  record(entry: AuditEntry): void;
  flush(): Promise<void>;
  stop(): Promise<void>;
}

export interface AuditProducer {
  send(messages: { key: string; value: string; headers: Record<string, string> }[]): Promise<void>;
}

/**
 * The audit CloudEvent (structured JSON). One literal of a fixed shape (`traceid` undefined when there is none, which
 * JSON leaves out): a spread made a dictionary-mode object, which JSON.stringify walks slowly, for each of the two
 * entries of every delivery.
 */
export function toAuditCloudEvent(entry: AuditEntry, source: string, now: Date) {
  return {
    specversion: '1.0',
    id: randomUUID(),
    source,
    type: `io.integration-hub.audit.${entry.stage.toLowerCase()}`,
    time: now.toISOString(),
    datacontenttype: 'application/json',
    subject: entry.eventId,
    tenantid: entry.tenantId,
    traceid: entry.traceId || undefined,
    data: entry,
  };
}

export function createAuditSink(opts: {
  producer: AuditProducer;
  source: string;
  flushIntervalMs?: number;
  maxBuffer?: number;
  onError?: (err: unknown, dropped: number) => void;
}): AuditSink {
  let buffer: AuditEntry[] = [];
  const maxBuffer = opts.maxBuffer ?? 10_000;
  let flushing: Promise<void> = Promise.resolve();
  const flushNow = async () => {
    if (buffer.length === 0) return;
    const batch = buffer;
    buffer = [];
    const now = new Date();
    try {
      await opts.producer.send(auditBatches(batch, opts.source, now));
    } catch (err) {
      opts.onError?.(err, batch.length);
    }
  };
  const flush = () => {
    flushing = flushing.then(flushNow);
    return flushing;
  };
  const timer = setInterval(() => void flush(), opts.flushIntervalMs ?? 200);
  timer.unref();
  return {
    record(entry) {
      if (buffer.length >= maxBuffer) {
        // Back-pressure on audit must never stall delivery: drop the oldest and report it.
        buffer.shift();
        opts.onError?.(new Error('audit buffer full'), 1);
      }
      buffer.push(entry);
    },
    flush,
    async stop() {
      clearInterval(timer);
      await flush();
    },
  };
}

/** Bytes of one audit batch record at most (far below the broker's 1 MiB). */
export const AUDIT_BATCH_MAX_BYTES = 256 * 1024;
export const AUDIT_BATCH_CONTENT_TYPE = 'application/cloudevents-batch+json';

/** Audit entries as Kafka records: one CloudEvents JSON batch per tenant, split at `maxBytes`, in entry order. */
export function auditBatches(
  entries: AuditEntry[],
  source: string,
  now: Date,
  maxBytes = AUDIT_BATCH_MAX_BYTES,
): { key: string; value: string; headers: Record<string, string> }[] {
  const byTenant = new Map<string, string[]>();
  for (const e of entries) {
    const json = JSON.stringify(toAuditCloudEvent(e, source, now));
    const list = byTenant.get(e.tenantId);
    if (list) list.push(json);
    else byTenant.set(e.tenantId, [json]);
  }
  const out: { key: string; value: string; headers: Record<string, string> }[] = [];
  const headers = { 'content-type': AUDIT_BATCH_CONTENT_TYPE };
  for (const [tenantId, events] of byTenant) {
    let part: string[] = [];
    let bytes = 2;
    for (const json of events) {
      if (part.length > 0 && bytes + json.length + 1 > maxBytes) {
        out.push({ key: tenantId, value: `[${part.join(',')}]`, headers });
        part = [];
        bytes = 2;
      }
      part.push(json);
      bytes += json.length + 1;
    }
    if (part.length > 0) out.push({ key: tenantId, value: `[${part.join(',')}]`, headers });
  }
  return out;
}

/** In-memory sink for unit tests. */
export function memoryAuditSink(): AuditSink & { entries: AuditEntry[] } {
  const entries: AuditEntry[] = [];
  return {
    entries,
    record: (e) => {
      entries.push(e);
    },
    flush: async () => {},
    stop: async () => {},
  };
}
