import { ChangeAuditQueryPrisma } from '../../pipeline/shared/change-audit/change-audit.prisma';
import type { SubscriptionSnapshot } from '../../pipeline/shared/subscriptions/snapshot';
import { SubscriptionRepositoryPrisma } from '../../subscription-api/subscription-repository.prisma';
import { subscriptionRepositoryContract } from '../contracts/subscription-repository.contract';
import { createTestDatabase, type TestDatabase } from '../support/db';

describe('SubscriptionRepository contract: Prisma (Postgres)', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(() => db.drop());

  subscriptionRepositoryContract(async () => {
    await db.prisma.$executeRawUnsafe('TRUNCATE "Subscription", "SubscriptionChange", "ChangeAudit"');
    const auditQuery = new ChangeAuditQueryPrisma(db.prisma);
    return {
      repo: new SubscriptionRepositoryPrisma(db.prisma),
      // The transactional outbox table, in write order, as the changelog relay reads it.
      changes: async () =>
        (await db.prisma.subscriptionChange.findMany({ orderBy: { id: 'asc' } })).map((c) => ({
          subscriptionId: c.subscriptionId,
          snapshot: c.snapshot as SubscriptionSnapshot | null,
        })),
      // Through the operator API's read side (newest first), in write order.
      audits: async () =>
        (await auditQuery.list({}, 1000)).items.reverse().map(({ id: _id, at: _at, ...entry }) => entry),
    };
  });
});
