/**
 * Standard Webhooks signing: `v1,<base64 HMAC-SHA256(secret, "<webhook-id>.<webhook-timestamp>.<body>")>`,
 * the secret being the base64 after `whsec_`. Several secrets (rotation overlap) -> space-separated signatures.
 */
import { createHmac } from 'node:crypto';

export function secretBytes(secret: string): Buffer {
  return Buffer.from(secret.startsWith('whsec_') ? secret.slice(6) : secret, 'base64');
}

export function sign(secret: string, id: string, timestamp: number, body: Buffer): string {
  const mac = createHmac('sha256', secretBytes(secret));
  mac.update(`${id}.${timestamp}.`);
  mac.update(body);
  return `v1,${mac.digest('base64')}`;
}

export function signatureHeader(secrets: string[], id: string, timestamp: number, body: Buffer): string {
  return secrets.map((s) => sign(s, id, timestamp, body)).join(' ');
}
