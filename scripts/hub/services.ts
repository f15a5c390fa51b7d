/**
 * The four services the hub runs, each as its own child process started from its real entry point
 * (`dist/<entry>.js`) with environment configuration — exactly what a deployment runs.
 *
 * Order matters: it is the start order, and its reverse is NOT the stop order — see `STOP_ORDER`.
 */
export const SERVICE_NAMES = ['subscription-api', 'event-processor', 'outbox-processor', 'dlt-processor'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

export interface ServiceSpec {
  name: ServiceName;
  /** Entry point relative to the build output folder, without extension. */
  entry: string;
  defaultPort: number;
  /** Default gRPC port of the first instance (services with a gRPC API); ephemeral when the HTTP port is. */
  grpcPort?: number;
  /** Serves an API with Swagger UI at /docs. */
  api: boolean;
  /** One line for the URL table. */
  role: string;
  /**
   * CPU priority (nice value, 0 = normal) the launcher gives the process. Work that is not latency-critical runs
   * at background priority so that, on a machine shared by all four services, it never takes CPU from live
   * deliveries. A real deployment gives each service its own CPU budget instead.
   */
  niceness: number;
  /**
   * SCHED_IDLE as well (Linux, cpu-priority.ts): the process runs only on CPU no normal task wants, and gives it
   * up the moment one wakes.
   */
  idlePolicy?: boolean;
}

export const SERVICES: Record<ServiceName, ServiceSpec> = {
  'subscription-api': {
    name: 'subscription-api',
    entry: 'subscription-api/main',
    defaultPort: 8080,
    grpcPort: 9090,
    api: true,
    role: 'tenants, API keys, event types, subscriptions, HTTP ingest',
    niceness: 0,
  },
  'event-processor': {
    name: 'event-processor',
    entry: 'pipeline/event-processor/main',
    defaultPort: 8081,
    grpcPort: 9091,
    api: true,
    role: 'ingest topic and HTTP ingest -> outbox topics (match subscriptions, route by domain)',
    niceness: 0,
  },
  'outbox-processor': {
    name: 'outbox-processor',
    entry: 'pipeline/outbox-processor/main',
    defaultPort: 8082,
    api: false,
    role: 'outbox topics -> signed HTTP deliveries (retry, DLT)',
    niceness: 0,
  },
  'dlt-processor': {
    name: 'dlt-processor',
    entry: 'pipeline/dlt-processor/main',
    defaultPort: 8083,
    api: true,
    role: 'DLT topics -> Postgres, scheduled retry, operator failed-events API',
    // Dead letters are persisted and retried on a schedule of seconds, the delivery ledger written behind the
    // deliveries: background work. 19 rather than 10 (BENCHMARKS.md, 2026-12-02): at 10 the ledger writer still
    // took as much CPU while the hub was saturated as at 0 (6.4-7.1 s per 20,000 deliveries), at 19 3.2-5.7 s,
    // and the ledger still caught up within 4.4 s of the last delivery. SCHED_IDLE too: at nice 19 alone a woken
    // event- or outbox-processor thread could wait a time slice behind it (cpu-priority.ts).
    niceness: 19,
    idlePolicy: true,
  },
};

/**
 * Stop upstream first so nothing new flows into a service that is already gone: the API stops accepting
 * ingest and changes, the event-processor stops producing to the outbox, the outbox-processor finishes its
 * in-flight deliveries (and their DLT produces), and the dlt-processor persists what reached the DLT last.
 */
export const STOP_ORDER: readonly ServiceName[] = [
  'subscription-api',
  'event-processor',
  'outbox-processor',
  'dlt-processor',
];

export function isServiceName(s: string): s is ServiceName {
  return (SERVICE_NAMES as readonly string[]).includes(s);
}
