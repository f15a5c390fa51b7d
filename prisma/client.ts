/** Prisma client factory: Prisma 7 with the pg driver adapter (no query engine binary). */
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../generated/prisma/client';

export { Prisma, PrismaClient } from '../generated/prisma/client';

export function createPrismaClient(
  databaseUrl: string,
  opts: { poolSize?: number; applicationName?: string } = {},
): PrismaClient {
  const adapter = new PrismaPg({
    connectionString: databaseUrl,
    max: opts.poolSize ?? 10,
    application_name: opts.applicationName ?? 'integration-hub',
  });
  return new PrismaClient({ adapter });
}
