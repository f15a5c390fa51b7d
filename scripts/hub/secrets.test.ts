import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseHubKeys } from '../../pipeline/shared/crypto/secret-box';
import { loadOrCreateSecrets, parseEnvFile } from './secrets';

const dir = () => mkdtempSync(join(tmpdir(), 'hub-secrets-'));

describe('loadOrCreateSecrets', () => {
  it('generates both secrets on first run into a 0600 file and reuses them afterwards', () => {
    const d = dir();
    const first = loadOrCreateSecrets(d);
    expect(first.created).toBe(true);
    expect(statSync(first.file).mode & 0o777).toBe(0o600);
    expect(parseHubKeys(first.secrets.HUB_ENCRYPTION_KEYS)).toHaveLength(1);
    expect(first.secrets.OPERATOR_API_KEY).toMatch(/^ihk_[A-Za-z0-9_-]{43}$/);
    const second = loadOrCreateSecrets(d);
    expect(second.created).toBe(false);
    expect(second.secrets).toEqual(first.secrets);
    expect(parseEnvFile(readFileSync(first.file, 'utf8'))).toEqual(first.secrets);
  });

  it('lets the environment win and writes no file when it provides both', () => {
    const d = dir();
    const given = {
      HUB_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64')}`,
      OPERATOR_API_KEY: `ihk_${'a'.repeat(43)}`,
    };
    const loaded = loadOrCreateSecrets(d, given);
    expect(loaded.secrets).toEqual(given);
    expect(existsSync(loaded.file)).toBe(false);
  });

  it('rejects a damaged encryption key with a clear message', () => {
    expect(() =>
      loadOrCreateSecrets(dir(), { HUB_ENCRYPTION_KEYS: 'k1:short', OPERATOR_API_KEY: 'x'.repeat(30) }),
    ).toThrow(/32 bytes/);
  });
});

describe('parseEnvFile', () => {
  it('skips comments and blank lines and unquotes values', () => {
    expect(parseEnvFile('# c\n\nA=1\nB="two=2"\n  C = x \nbad\n')).toEqual({ A: '1', B: 'two=2', C: 'x' });
  });
});
