/**
 * What every ingest edge (HTTP, gRPC) does with decoded events before producing them: the tenant check (tenant
 * keys send only their own tenant's events) and the binary-mode ingest records (key = tenant). Pure.
 */
import type { Principal } from '../shared/auth/api-key';
import { EXT, type HubCloudEvent, toKafkaBinary } from '../shared/cloudevents/envelope';
import { forbidden, type ProblemError } from '../shared/http/problem';

/** The 403 for an event another tenant owns, or undefined when the principal may send it. */
export function tenantRefusal(principal: Principal, event: HubCloudEvent): ProblemError | undefined {
  if (principal.role !== 'TENANT' || event.extensions[EXT.tenant] === principal.tenantId) return undefined;
  return forbidden(
    `this API key may only ingest events of tenant "${principal.tenantId}" (event ${event.id} is for another tenant)`,
  );
}

export interface IngestMessage {
  key: string;
  value: Buffer | null;
  headers: Record<string, string>;
}

export function toIngestMessage(e: HubCloudEvent): IngestMessage {
  const { headers, value } = toKafkaBinary(e);
  return { key: e.extensions[EXT.tenant]!, headers, value: value.length > 0 ? value : null };
}
