/**
 * AES-256-GCM envelope for secrets at rest and on the changelog topic.
 *
 * Format: `v1.<keyId>.<iv b64url>.<tag b64url>.<ciphertext b64url>`. The key id lets the hub rotate its key:
 * a box opens with any key it was given whose id matches; new boxes use the primary key.
 * The subscription id is bound as additional authenticated data so a ciphertext cannot be moved
 * to another subscription.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export interface HubKey {
  id: string;
  /** 32 bytes */
  key: Buffer;
}

export class SecretBoxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretBoxError';
  }
}

/** Parses `HUB_ENCRYPTION_KEYS`-style config: `id1:base64key,id2:base64key` (first = primary). */
export function parseHubKeys(spec: string): HubKey[] {
  const keys = spec
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const idx = part.indexOf(':');
      if (idx <= 0) throw new SecretBoxError('each key must be "<id>:<base64 of 32 bytes>"');
      const id = part.slice(0, idx);
      const key = Buffer.from(part.slice(idx + 1), 'base64');
      if (key.length !== 32) throw new SecretBoxError(`key "${id}" must be 32 bytes (base64), got ${key.length}`);
      if (!/^[A-Za-z0-9_-]+$/.test(id)) throw new SecretBoxError(`key id "${id}" may hold only [A-Za-z0-9_-]`);
      return { id, key };
    });
  if (keys.length === 0) throw new SecretBoxError('at least one key is required');
  return keys;
}

export class SecretBox {
  private readonly byId: Map<string, Buffer>;
  private readonly primary: HubKey;

  constructor(keys: HubKey[]) {
    if (keys.length === 0) throw new SecretBoxError('at least one key is required');
    this.primary = keys[0]!;
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
  }

  seal(plaintext: string, aad: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.primary.key, iv);
    cipher.setAAD(Buffer.from(aad));
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return ['v1', this.primary.id, iv.toString('base64url'), tag.toString('base64url'), ct.toString('base64url')].join(
      '.',
    );
  }

  open(box: string, aad: string): string {
    const parts = box.split('.');
    if (parts.length !== 5 || parts[0] !== 'v1') throw new SecretBoxError('not a sealed secret');
    const [, keyId, iv, tag, ct] = parts as [string, string, string, string, string];
    const key = this.byId.get(keyId);
    if (!key) throw new SecretBoxError(`unknown encryption key id "${keyId}"`);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      decipher.setAAD(Buffer.from(aad));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new SecretBoxError('secret failed authentication (wrong key or tampered)');
    }
  }

  keyIdOf(box: string): string | undefined {
    return box.split('.')[1];
  }
}

/**
 * `box.open` memoized per (sealed secret, aad), for the delivery hot path: a delivery signs with, and often
 * authenticates by, sealed secrets, and an AES-GCM open per delivery showed in the outbox-processor's profile.
 * A sealed value never changes (rotation seals a new one), so an entry is never stale; the plaintexts are the ones
 * the process would hold while signing anyway. At most `max` entries; the cache starts afresh when full. Failures
 * are not cached (they throw each time).
 */
export function cachedOpener(box: SecretBox, max = 10_000): (sealed: string, aad: string) => string {
  const cache = new Map<string, string>();
  return (sealed, aad) => {
    const key = `${aad}\u0000${sealed}`;
    let plain = cache.get(key);
    if (plain === undefined) {
      plain = box.open(sealed, aad);
      if (cache.size >= max) cache.clear();
      cache.set(key, plain);
    }
    return plain;
  };
}

/** A fresh random key spec for local runs and tests: `local:<base64>`. */
export function generateHubKeySpec(id = 'local'): string {
  return `${id}:${randomBytes(32).toString('base64')}`;
}
