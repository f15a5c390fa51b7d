/**
 * Domain routing: resource type / event type -> outbox domain, from `schemas/routing-table.json`.
 * Pure; the table is data so operators can read and change it without code.
 */
import { z } from 'zod';
import table from '../../schemas/routing-table.json';
import { DOMAINS, type Domain } from './topics';

const ruleSchema = z.object({
  resourceType: z.string().optional(),
  eventType: z.string().optional(),
  eventTypePrefix: z.string().optional(),
  domain: z.enum(DOMAINS),
});
const tableSchema = z.object({ default: z.enum(DOMAINS), rules: z.array(ruleSchema) });
export type RoutingTable = z.infer<typeof tableSchema>;

export const defaultRoutingTable: RoutingTable = tableSchema.parse(table);

export function routeDomain(
  event: { resourceType: string; eventType: string },
  routing: RoutingTable = defaultRoutingTable,
): Domain {
  const resource = event.resourceType.toUpperCase();
  const type = event.eventType.toLowerCase();
  for (const rule of routing.rules) {
    if (rule.resourceType !== undefined && rule.resourceType.toUpperCase() !== resource) continue;
    if (rule.eventType !== undefined && rule.eventType.toLowerCase() !== type) continue;
    if (rule.eventTypePrefix !== undefined && !type.startsWith(rule.eventTypePrefix.toLowerCase())) continue;
    return rule.domain;
  }
  return routing.default;
}
