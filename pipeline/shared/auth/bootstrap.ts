/**
 * Bootstrap: the first operator key comes from configuration (`OPERATOR_API_KEY`). At start it is ensured to
 * exist in the store (hashed, never stored or logged in clear). Further keys are created through the API.
 * A bootstrap key that an operator has revoked stays revoked.
 */
import { BOOTSTRAP_ACTOR } from '../change-audit/change-audit';
import { generateApiKey, hashApiKey, publicPrefix } from './api-key';
import type { ApiKeyRecord, ApiKeyStore } from './api-key-store';

export const MIN_BOOTSTRAP_KEY_LENGTH = 24;

export async function ensureOperatorKey(
  store: ApiKeyStore,
  presented: string,
  name = 'bootstrap-operator',
): Promise<{ created: boolean; record: ApiKeyRecord }> {
  if (presented.length < MIN_BOOTSTRAP_KEY_LENGTH) {
    throw new Error(`OPERATOR_API_KEY must be at least ${MIN_BOOTSTRAP_KEY_LENGTH} characters (e.g. ${'ihk_...'})`);
  }
  const hash = hashApiKey(presented);
  const existing = await store.findByHash(hash);
  if (existing) return { created: false, record: existing };
  try {
    const record = await store.create(
      { name, role: 'OPERATOR', tenantId: null, prefix: publicPrefix(presented), hash },
      BOOTSTRAP_ACTOR,
    );
    return { created: true, record };
  } catch (err) {
    // Another instance created it concurrently.
    const raced = await store.findByHash(hash);
    if (raced) return { created: false, record: raced };
    throw err;
  }
}

/** For `npm run`-style tooling and docs: a fresh key to put in OPERATOR_API_KEY. */
export { generateApiKey };
