/**
 * Signing conformance (reliability scenario 9), the pure half: the hub's Standard Webhooks signer
 * (`pipeline/shared/delivery/sign.ts`) against the reference verifier, the `standardwebhooks` npm package.
 * Random payloads are random JSON with text from every Unicode plane (what the hub sends is JSON text; the
 * reference library verifies text); ids, secrets and timestamps vary too.
 */
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { Webhook } from 'standardwebhooks';
import { signatureHeader } from '../../../pipeline/shared/delivery/sign';
import { generateSigningSecret } from '../../../subscription-api/service';
import { flatHeaders } from './security-routes';

/** A random code point, never a lone surrogate: ASCII, Latin-1, the rest of the BMP, or an astral plane. */
function randomCodePoint(): number {
  switch (randomInt(4)) {
    case 0:
      return randomInt(0x20, 0x7f);
    case 1:
      return randomInt(0xa0, 0x100);
    case 2: {
      const c = randomInt(0x100, 0xfffe);
      return c >= 0xd800 && c <= 0xdfff ? 0x4e00 + (c % 1000) : c;
    }
    default:
      return randomInt(0x10000, 0x110000);
  }
}

export function randomText(max = 64): string {
  return String.fromCodePoint(...Array.from({ length: randomInt(max + 1) }, randomCodePoint));
}

/** Random JSON, up to `depth` levels of objects and arrays, strings from every plane. */
export function randomPayload(depth = 3): unknown {
  const kind = depth === 0 ? randomInt(3) : randomInt(5);
  if (kind === 0) return randomText();
  if (kind === 1) return randomInt(2) ? randomInt(-1e9, 1e9) : Math.random() * 1e6;
  if (kind === 2) return [true, false, null][randomInt(3)];
  if (kind === 3) return Array.from({ length: randomInt(5) }, () => randomPayload(depth - 1));
  const o: Record<string, unknown> = {};
  for (let i = randomInt(6); i > 0; i--) o[randomText(12)] = randomPayload(depth - 1);
  return o;
}

const verifies = (secret: string, body: string, headers: Record<string, string>) => {
  try {
    new Webhook(secret).verify(body, headers);
    return true;
  } catch {
    return false;
  }
};

export interface SignerFigures {
  payloads: number;
  verified: number;
  /** Signed with a timestamp 5 min + 1 s .. 1 h off (either side): the verifier must reject each. */
  skewedRejected: number;
  skewed: number;
  /** Inside the window (up to 4 min 50 s off): the verifier must accept each. */
  nearAccepted: number;
  near: number;
  /** Rotation: two signatures, each secret alone verifies, an unrelated secret does not. */
  rotationOk: number;
  rotation: number;
  /** A flipped body byte must fail verification. */
  tamperedRejected: number;
}

export function signerConformance(n: number): SignerFigures {
  const f: SignerFigures = {
    payloads: n,
    verified: 0,
    skewedRejected: 0,
    skewed: 0,
    nearAccepted: 0,
    near: 0,
    rotationOk: 0,
    rotation: 0,
    tamperedRejected: 0,
  };
  const now = () => Math.floor(Date.now() / 1000);
  for (let i = 0; i < n; i++) {
    const secret = i % 7 === 0 ? `whsec_${randomBytes(randomInt(16, 65)).toString('base64')}` : generateSigningSecret();
    const id = i % 2 ? randomUUID() : `evt_${randomBytes(randomInt(1, 40)).toString('base64url')}`;
    const body = JSON.stringify(randomPayload());
    const buf = Buffer.from(body, 'utf8');
    const sign = (ts: number, secrets = [secret]) => ({
      'webhook-id': id,
      'webhook-timestamp': String(ts),
      'webhook-signature': signatureHeader(secrets, id, ts, buf),
    });
    if (verifies(secret, body, sign(now()))) f.verified++;
    const tampered = `${body} `;
    if (!verifies(secret, tampered, sign(now()))) f.tamperedRejected++;
    if (i % 4 === 0) {
      f.skewed++;
      const off = randomInt(301, 3601) * (randomInt(2) ? 1 : -1);
      if (!verifies(secret, body, sign(now() + off))) f.skewedRejected++;
      f.near++;
      const near = randomInt(0, 291) * (randomInt(2) ? 1 : -1);
      if (verifies(secret, body, sign(now() + near))) f.nearAccepted++;
    }
    if (i % 4 === 1) {
      f.rotation++;
      const next = generateSigningSecret();
      const h = sign(now(), [next, secret]);
      const both = h['webhook-signature'].split(' ').length === 2;
      if (both && verifies(next, body, h) && verifies(secret, body, h) && !verifies(generateSigningSecret(), body, h))
        f.rotationOk++;
    }
  }
  return f;
}

/** Standard Webhooks verification of a request a real subscriber received. */
export function verifyReceived(secret: string, headers: IncomingHttpHeaders, body: Buffer): boolean {
  return verifies(secret, body.toString('utf8'), flatHeaders(headers));
}
