/**
 * Stage 1, decode (pure): an outbox record as the delivery item it carries, or why it cannot be one.
 *
 *   CloudEvent (Kafka binary mode) + hub-subscription-id ─▶ { event, subscriptionId, tenantId }
 *   tenant: hub-tenant-id header, else the event's tenantid extension, else the record key
 *
 * A record that cannot be decoded is settled into the DLT as `OUTBOX.MALFORMED` (settle-record.ts).
 */
import { fromKafkaBinary, type KafkaHeaders } from '../shared/cloudevents/envelope';
import { headerString } from '../shared/cloudevents/header-value';
import { HUB_HEADERS } from '../shared/topics';
import type { OutboxItem } from './handler';

/** An outbox record as the stages see it (a kafkajs `KafkaMessage` is one). */
export interface OutboxRecord {
  key?: Buffer | null;
  value: Buffer | null;
  headers?: KafkaHeaders;
  offset: string;
}

export type DecodedRecord = { ok: true; item: OutboxItem } | { ok: false; reason: string };

export function decodeOutboxRecord(record: Omit<OutboxRecord, 'offset'>): DecodedRecord {
  const decoded = fromKafkaBinary(record.headers, record.value);
  const subscriptionId = headerString(record.headers?.[HUB_HEADERS.subscriptionId]);
  if (!decoded.ok) return { ok: false, reason: decoded.reason };
  if (!subscriptionId) return { ok: false, reason: 'outbox record has no hub-subscription-id header' };
  const event = decoded.event;
  const tenantId =
    headerString(record.headers?.[HUB_HEADERS.tenantId]) ?? event.extensions.tenantid ?? record.key?.toString() ?? '';
  return { ok: true, item: { event, subscriptionId, tenantId } };
}
