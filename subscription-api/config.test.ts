import { ConfigError } from '../pipeline/shared/config/load-config';
import { generateHubKeySpec } from '../pipeline/shared/crypto/secret-box';
import { loadSubscriptionApiConfig } from './config';

const valid = { DATABASE_URL: 'postgres://localhost/hub', HUB_ENCRYPTION_KEYS: generateHubKeySpec('k1') };

describe('subscription-api config', () => {
  it('applies defaults', () => {
    const c = loadSubscriptionApiConfig(valid);
    expect(c).toMatchObject({
      PORT: 8080,
      ENDPOINT_REQUIRE_HTTPS: true,
      ENDPOINT_ALLOW_HOSTS: [],
      SECRET_ROTATION_OVERLAP_HOURS: 24,
      TOPIC_PREFIX: 'integration-hub',
    });
    expect(c.OPERATOR_API_KEY).toBeUndefined();
  });

  it('refuses to start without an encryption key, listing every bad variable and hiding secrets', () => {
    let err: unknown;
    try {
      loadSubscriptionApiConfig({ PORT: 'eighty', OPERATOR_API_KEY: 'short-secret' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const msg = (err as Error).message;
    for (const v of ['HUB_ENCRYPTION_KEYS', 'DATABASE_URL', 'PORT', 'OPERATOR_API_KEY']) expect(msg).toContain(v);
    expect(msg).not.toContain('short-secret');
  });

  it('rejects a malformed key spec', () => {
    expect(() => loadSubscriptionApiConfig({ ...valid, HUB_ENCRYPTION_KEYS: 'k1:dG9vLXNob3J0' })).toThrow(/32 bytes/);
  });

  it('parses the allowlist and https switch', () => {
    const c = loadSubscriptionApiConfig({
      ...valid,
      ENDPOINT_ALLOW_HOSTS: '127.0.0.1, localhost ,::1',
      ENDPOINT_REQUIRE_HTTPS: 'false',
    });
    expect(c.ENDPOINT_ALLOW_HOSTS).toEqual(['127.0.0.1', 'localhost', '::1']);
    expect(c.ENDPOINT_REQUIRE_HTTPS).toBe(false);
  });
});
