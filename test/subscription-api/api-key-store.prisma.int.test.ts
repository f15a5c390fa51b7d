import { ApiKeyStorePrisma } from '../../pipeline/shared/auth/api-key-store.prisma';
import { apiKeyStoreContract } from '../contracts/api-key-store.contract';
import { createTestDatabase } from '../support/db';

describe('ApiKeyStore contract: Prisma (Postgres)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(() => db.drop());

  apiKeyStoreContract(async () => {
    await db.prisma.apiKey.deleteMany({});
    return new ApiKeyStorePrisma(db.prisma);
  });
});
