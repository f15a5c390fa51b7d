/** Puts a subscription straight onto a test's changelog topic (secrets sealed like subscription-api does). */
import { randomBytes } from 'node:crypto';
import type { Producer } from 'kafkajs';
import type { SecretBox } from '../../pipeline/shared/crypto/secret-box';
import type { SubscriptionLookup } from '../../pipeline/shared/subscriptions/directory';
import { encodeSnapshot, type SubscriptionSnapshot } from '../../pipeline/shared/subscriptions/snapshot';
import { aSnapshot } from '../fixtures/subscriptions';
import { uniqueName, waitFor } from './kafka';

export const whsec = () => `whsec_${randomBytes(32).toString('base64')}`;

export type SubscriptionSpec = Partial<SubscriptionSnapshot> & {
  plainAuth?: Record<string, string>;
  signingSecret?: string;
  previousSecret?: string;
};

export async function publishSubscription(
  ctx: { producer: Producer; topic: string; box: SecretBox; directory: SubscriptionLookup },
  s: SubscriptionSpec,
): Promise<SubscriptionSnapshot> {
  const { plainAuth, signingSecret, previousSecret, ...rest } = s;
  const id = s.id ?? uniqueName('sub');
  const seal = (v: string) => ctx.box.seal(v, id);
  let auth: SubscriptionSnapshot['auth'] = s.auth ?? { type: 'NONE' };
  if (plainAuth) {
    const p = plainAuth;
    if (p.type === 'BASIC') auth = { type: 'BASIC', username: p.username!, secret: seal(p.password!) };
    if (p.type === 'JWT') auth = { type: 'JWT', secret: seal(p.token!) };
    if (p.type === 'APIKEY') auth = { type: 'APIKEY', headerName: p.headerName!, secret: seal(p.key!) };
    if (p.type === 'OAUTH2')
      auth = {
        type: 'OAUTH2',
        clientId: p.clientId!,
        tokenUrl: p.tokenUrl!,
        secret: seal(p.clientSecret!),
        ...(p.scope ? { scope: p.scope } : {}),
        ...(p.clientAuth === 'body' ? { clientAuth: 'body' as const } : {}),
      };
  }
  const snapshot = aSnapshot({
    ...rest,
    id,
    auth,
    signing: {
      current: seal(signingSecret ?? whsec()),
      ...(previousSecret
        ? { previous: seal(previousSecret), previousExpiresAt: new Date(Date.now() + 3600_000).toISOString() }
        : {}),
    },
    version: (s.version ?? 1) + Math.floor(Math.random() * 1000),
  });
  await ctx.producer.send({ topic: ctx.topic, messages: [{ key: id, value: encodeSnapshot(snapshot) }] });
  await waitFor(() => ctx.directory.get(id)?.version === snapshot.version, {
    what: `subscription ${id} in the directory`,
  });
  return snapshot;
}
