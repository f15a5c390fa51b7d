/**
 * Local secrets, generated once and kept in `<dataDir>/hub.env` (mode 0600):
 *   HUB_ENCRYPTION_KEYS  the AES-256-GCM key that seals subscription secrets at rest and on the changelog
 *   OPERATOR_API_KEY     the bootstrap operator API key
 * Values already in the environment win (that is how a deployment passes its own). The launcher never logs
 * the values; it says where the file is.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateApiKey } from '../../pipeline/shared/auth/api-key';
import { generateHubKeySpec, parseHubKeys } from '../../pipeline/shared/crypto/secret-box';

export interface HubSecrets {
  HUB_ENCRYPTION_KEYS: string;
  OPERATOR_API_KEY: string;
}

export interface LoadedSecrets {
  secrets: HubSecrets;
  file: string;
  /** True when this call generated the file (first run). */
  created: boolean;
}

const HEADER =
  '# Integration Hub local secrets (generated on first start; keep private, mode 0600).\n' +
  '# HUB_ENCRYPTION_KEYS seals subscription secrets; OPERATOR_API_KEY is the bootstrap operator key.\n';

export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const idx = line.indexOf('=');
    if (idx <= 0) continue;
    let value = line.slice(idx + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    out[line.slice(0, idx).trim()] = value;
  }
  return out;
}

export function hubEnvFile(dataDir: string): string {
  return join(dataDir, 'hub.env');
}

export function loadOrCreateSecrets(dataDir: string, env: Record<string, string | undefined> = {}): LoadedSecrets {
  const file = hubEnvFile(dataDir);
  const given = { HUB_ENCRYPTION_KEYS: env.HUB_ENCRYPTION_KEYS, OPERATOR_API_KEY: env.OPERATOR_API_KEY };
  let created = false;
  if (!given.HUB_ENCRYPTION_KEYS || !given.OPERATOR_API_KEY) {
    // Only what the environment does not provide is generated and kept in the file.
    const stored = existsSync(file) ? parseEnvFile(readFileSync(file, 'utf8')) : {};
    if (!stored.HUB_ENCRYPTION_KEYS || !stored.OPERATOR_API_KEY) {
      const merged = {
        ...stored,
        HUB_ENCRYPTION_KEYS: stored.HUB_ENCRYPTION_KEYS || generateHubKeySpec('local'),
        OPERATOR_API_KEY: stored.OPERATOR_API_KEY || generateApiKey(),
      };
      mkdirSync(dataDir, { recursive: true });
      const body = Object.entries(merged)
        .map(([k, v]) => `${k}=${v}`)
        .join('\n');
      writeFileSync(file, `${HEADER}${body}\n`, { mode: 0o600 });
      created = true;
      Object.assign(stored, merged);
    }
    chmodSync(file, 0o600);
    given.HUB_ENCRYPTION_KEYS ||= stored.HUB_ENCRYPTION_KEYS;
    given.OPERATOR_API_KEY ||= stored.OPERATOR_API_KEY;
  }
  const secrets: HubSecrets = {
    HUB_ENCRYPTION_KEYS: given.HUB_ENCRYPTION_KEYS!,
    OPERATOR_API_KEY: given.OPERATOR_API_KEY!,
  };
  parseHubKeys(secrets.HUB_ENCRYPTION_KEYS); // fail early and clearly on a damaged value
  return { secrets, file, created };
}
