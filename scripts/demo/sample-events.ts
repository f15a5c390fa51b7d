/**
 * Sample platform events for the demo, in the three ingest formats the hub accepts:
 *   raw      raw platform-event JSON on the ingest topic
 *   binary   CloudEvents Kafka binding, binary mode (ce_* headers, data as the value) on the ingest topic
 *   http     CloudEvents structured mode POSTed to the event-processor's /v1/events
 * and, when the hub has a schema registry (HUB_SCHEMA_REGISTRY=local), in the Confluent wire format on the ingest
 * topic, as registry-aware producers write them (scripts/register-schemas.ts):
 *   avro     Avro with the platform-event schema
 *   protobuf Protobuf with the message-index array
 */
import { randomUUID } from 'node:crypto';
import { toKafkaBinary } from '../../pipeline/shared/cloudevents/envelope';
import type { PlatformEncoder, PlatformRecord } from '../register-schemas';

export type IngestFormat = 'raw' | 'binary' | 'http' | 'avro' | 'protobuf';
export const FORMATS: readonly IngestFormat[] = ['raw', 'binary', 'http'];
/** The formats that need a schema registry. */
export const REGISTRY_FORMATS: readonly IngestFormat[] = ['avro', 'protobuf'];

const KINDS = [
  { eventType: 'user.created', resourceType: 'USER', operationType: 'CREATE', source: 'identity-service' },
  { eventType: 'user.updated', resourceType: 'USER', operationType: 'UPDATE', source: 'identity-service' },
  { eventType: 'role.assigned', resourceType: 'ROLE', operationType: 'ASSIGN', source: 'access-service' },
  { eventType: 'policy.updated', resourceType: 'POLICY', operationType: 'UPDATE', source: 'policy-service' },
  { eventType: 'org.created', resourceType: 'ORGANIZATION', operationType: 'CREATE', source: 'org-service' },
] as const;

export const DEMO_EVENT_TYPES = [
  { name: 'user.created', domain: 'user-lifecycle', description: 'A user was created' },
  { name: 'user.updated', domain: 'user-lifecycle', description: 'A user profile changed' },
  { name: 'role.assigned', domain: 'access', description: 'A role was assigned to a user' },
  { name: 'policy.updated', domain: 'policy', description: 'A policy changed' },
  { name: 'org.created', domain: 'organization', description: 'An organization was created' },
];

export interface SampleEvent {
  id: string;
  format: IngestFormat;
  tenantId: string;
  eventType: string;
  resourceType: string;
  operationType: string;
  sourceService: string;
  occurredAt: string;
  payload: Record<string, unknown>;
}

export function sampleEvent(n: number, tenantId: string, format: IngestFormat): SampleEvent {
  const kind = KINDS[n % KINDS.length]!;
  const id = randomUUID();
  return {
    id,
    format,
    tenantId,
    eventType: kind.eventType,
    resourceType: kind.resourceType,
    operationType: kind.operationType,
    sourceService: kind.source,
    occurredAt: new Date().toISOString(),
    payload: { seq: n, resourceId: `${kind.resourceType.toLowerCase()}-${1000 + n}`, actor: 'demo' },
  };
}

/** The platform-event fields every Kafka format of the demo shares. */
function platformFields(e: SampleEvent) {
  return {
    eventId: e.id,
    sourceService: e.sourceService,
    eventType: e.eventType,
    resourceType: e.resourceType,
    operationType: e.operationType,
    tenantId: e.tenantId,
    occurredAt: e.occurredAt,
  };
}

/** Raw platform event JSON (the hub normalises it into a CloudEvent with the same id). */
export function asRawJson(e: SampleEvent) {
  return {
    key: e.tenantId,
    value: JSON.stringify({
      ...platformFields(e),
      traceId: randomUUID().replace(/-/g, ''),
      correlationId: randomUUID(),
      payload: e.payload,
    }),
    headers: { 'content-type': 'application/json' },
  };
}

/** The event as the registry schemas hold it (the payload as JSON text). */
export function asPlatformRecord(e: SampleEvent): PlatformRecord {
  return { ...platformFields(e), payloadJson: JSON.stringify(e.payload) };
}

/** Confluent wire format (Avro or Protobuf) for the ingest topic. */
export async function asRegistryEncoded(e: SampleEvent, encoder: PlatformEncoder) {
  const record = asPlatformRecord(e);
  const value = e.format === 'avro' ? await encoder.avro(record) : encoder.protobuf(record);
  return { key: e.tenantId, value };
}

/** CloudEvents Kafka binding, binary mode. */
export function asBinaryCloudEvent(e: SampleEvent) {
  const { headers, value } = toKafkaBinary({
    specversion: '1.0',
    id: e.id,
    source: `//demo/${e.sourceService}`,
    type: e.eventType,
    time: e.occurredAt,
    datacontenttype: 'application/json',
    extensions: {
      tenantid: e.tenantId,
      sourceservice: e.sourceService,
      resourcetype: e.resourceType,
      operationtype: e.operationType,
    },
    data: Buffer.from(JSON.stringify(e.payload)),
  });
  return { key: e.tenantId, value, headers };
}

/** CloudEvents structured mode for the HTTP ingest API. */
export function asStructuredCloudEvent(e: SampleEvent): Record<string, unknown> {
  return {
    specversion: '1.0',
    id: e.id,
    source: `//demo/${e.sourceService}`,
    type: e.eventType,
    time: e.occurredAt,
    datacontenttype: 'application/json',
    tenantid: e.tenantId,
    sourceservice: e.sourceService,
    resourcetype: e.resourceType,
    operationtype: e.operationType,
    data: e.payload,
  };
}
