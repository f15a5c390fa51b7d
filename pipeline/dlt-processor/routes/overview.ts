/**
 * GET /v1/stats/overview: the console overview's delivery figures (overview-stats.ts). Tenant-scoped as every route:
 * a tenant key sees its own tenant's attempts (naming another: 403) and no lag (the whole hub's figure).
 */
import { z } from 'zod';
import { tenantScope } from '../../shared/auth/api-key';
import { principalOf } from '../../shared/auth/api-key-auth';
import type { HubApp } from '../../shared/http/create-app';
import { forbidden } from '../../shared/http/problem';
import type { OverviewStats } from '../overview-stats';

const query = z
  .object({
    tenantId: z.string().min(1).max(128).optional(),
    minutes: z.coerce
      .number()
      .int()
      .min(5)
      .max(24 * 60)
      .default(60),
  })
  .strict();
const view = z.object({
  minutes: z.array(z.object({ at: z.string(), delivered: z.number(), failed: z.number() })),
  deliveriesPerSecond: z.number().describe('delivered attempts per second over the last 5 minutes'),
  errorRate: z.number().describe('share of attempts not answered 2xx over the last 5 minutes (0 when none)'),
  lag: z
    .array(z.object({ groupId: z.string(), lag: z.number() }))
    .nullable()
    .describe('records behind per consumer group (operators only; null for tenant keys or when Kafka does not answer)'),
});

export function registerOverviewRoutes(api: HubApp, stats: OverviewStats): void {
  api.get(
    '/v1/stats/overview',
    {
      schema: {
        tags: ['ledger'],
        summary: 'Deliveries per minute (last hour by default), the current rate and error rate, consumer lag',
        querystring: query,
        response: { 200: view },
      },
    },
    async (req) => {
      const principal = principalOf(req);
      const scope = tenantScope(principal, req.query.tenantId);
      if (!scope.ok) throw forbidden(scope.detail);
      const [minutes, lag] = await Promise.all([
        stats.attemptsPerMinute(scope.tenantId, req.query.minutes),
        principal.role === 'OPERATOR' ? stats.lag() : Promise.resolve(undefined),
      ]);
      const recent = minutes.slice(-5);
      const delivered = recent.reduce((n, m) => n + m.delivered, 0);
      const failed = recent.reduce((n, m) => n + m.failed, 0);
      return {
        minutes,
        deliveriesPerSecond: Math.round((delivered / (recent.length * 60)) * 100) / 100,
        errorRate: delivered + failed === 0 ? 0 : Math.round((failed / (delivered + failed)) * 1000) / 1000,
        lag: lag ?? null,
      };
    },
  );
}
