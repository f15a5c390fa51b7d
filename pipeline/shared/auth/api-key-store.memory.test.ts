import { apiKeyStoreContract } from '../../../test/contracts/api-key-store.contract';
import { memoryApiKeyStore } from './api-key-store.memory';

describe('ApiKeyStore contract: memory', () => {
  apiKeyStoreContract(async () => memoryApiKeyStore());
});
