/**
 * The schema registry for a test run: TEST_SCHEMA_REGISTRY_URL when set (a registry you run, its Confluent API),
 * else one local Apicurio Registry from Maven Central (scripts/local-registry.ts), started once and stopped at the end.
 */
import { startLocalRegistry } from '../../scripts/local-registry';

export async function startRegistryForTests(): Promise<{ url: string; stop(): Promise<void> }> {
  const given = process.env.TEST_SCHEMA_REGISTRY_URL?.trim();
  if (given) return { url: given, stop: async () => {} };
  return startLocalRegistry({ log: (l) => process.stderr.write(`[schema-registry] ${l}\n`) });
}
