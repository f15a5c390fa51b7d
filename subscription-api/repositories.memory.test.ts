import { subscriptionRepositoryContract } from '../test/contracts/subscription-repository.contract';
import { memorySubscriptionRepository } from './repositories.memory';

describe('SubscriptionRepository contract: memory', () => {
  subscriptionRepositoryContract(async () => {
    const repo = memorySubscriptionRepository();
    return {
      repo,
      changes: async () => repo.changes.map(({ subscriptionId, snapshot }) => ({ subscriptionId, snapshot })),
      audits: async () => [...repo.audits],
    };
  });
});
