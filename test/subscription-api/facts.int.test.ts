/**
 * Registry-side facts (issue 18) on the real broker and Postgres: each subscription create/pause/resume/delete, secret
 * rotation, auth change and API key create/revoke is published exactly once, through the change audit's
 * transactional outbox, as a CloudEvent valid against its schema, keyed by tenant, with the cs-* headers, linked to
 * the API call that caused it, and without any secret. A relay that dies between the produce and the stamp publishes
 * the batch again with the same fact ids and loses nothing.
 */
import { type FactCloudEvent, registryFactOf } from '../../pipeline/shared/facts/fact';
import { topicNames } from '../../pipeline/shared/topics';
import { validateFact } from '../support/fact-schemas';
import { type ConsumedRecord, consumeAll, recordsIn, waitFor } from '../support/kafka';
import { aSubscription, type Harness, startHarness } from './harness';

jest.setTimeout(60_000);

/** The facts the audit rows stand for (fact.ts), by id. */
async function expectedFacts(h: Harness): Promise<Map<string, FactCloudEvent>> {
  const rows = await h.db.prisma.changeAudit.findMany({ orderBy: { id: 'asc' } });
  const out = new Map<string, FactCloudEvent>();
  for (const r of rows) {
    const row = {
      ...r,
      id: r.id.toString(),
      actor: { keyId: r.actorKeyId, name: r.actorName, requestId: r.requestId },
      changedFields: r.changedFields as string[],
    };
    const f = registryFactOf(row as never, topicNames(h.prefix).facts);
    if (f) out.set(f.event.id, f.event);
  }
  return out;
}

/** Every fact on the three topics once every audit row is stamped (the stamp follows the acked produce). */
async function publishedFacts(h: Harness): Promise<ConsumedRecord[]> {
  await waitFor(
    async () => {
      const [row] = await h.db.prisma.$queryRawUnsafe<{ n: number }[]>(
        `SELECT count(*)::int AS n FROM "ChangeAudit" WHERE "publishedAt" IS NULL`,
      );
      return row?.n === 0 || undefined;
    },
    { what: 'every change-audit row published' },
  );
  const topics = Object.values(topicNames(h.prefix).facts);
  return consumeAll(topics, { count: await recordsIn(topics) });
}

/** One tenant's registry life: every change that stands for a fact, and one that does not. */
async function registryLife(h: Harness, tenantId: string, secrets: string[]) {
  const password = `basic-pw-${tenantId}-Zq8!`;
  secrets.push(password);
  const created = await h.op.post('/v1/subscriptions', aSubscription({ tenantId }));
  expect(created.statusCode).toBe(201);
  const { id, signingSecret } = created.json();
  secrets.push(signingSecret);
  expect((await h.op.post(`/v1/subscriptions/${id}/pause`)).statusCode).toBe(200);
  expect((await h.op.post(`/v1/subscriptions/${id}/resume`)).statusCode).toBe(200);
  const rotated = await h.op.post(`/v1/subscriptions/${id}/rotate-secret`);
  expect(rotated.statusCode).toBe(200);
  secrets.push(rotated.json().signingSecret);
  const auth = { type: 'BASIC', username: 'hub', password };
  expect((await h.op.patch(`/v1/subscriptions/${id}`, { auth })).statusCode).toBe(200);
  expect((await h.op.patch(`/v1/subscriptions/${id}`, { ordered: true })).statusCode).toBe(200); // no fact
  const key = await h.op.post('/v1/api-keys', { name: `k-${tenantId}`, role: 'TENANT', tenantId });
  expect(key.statusCode).toBe(201);
  secrets.push(key.json().key);
  expect((await h.op.del(`/v1/api-keys/${key.json().id}`)).statusCode).toBe(204);
  expect((await h.op.del(`/v1/subscriptions/${id}`)).statusCode).toBe(204);
  return { id, keyId: key.json().id as string };
}

function expectFact(r: ConsumedRecord): FactCloudEvent {
  const event = JSON.parse(r.value!.toString('utf8')) as FactCloudEvent;
  expect(validateFact(event)).toEqual([]);
  expect(r.key).toBe(event.data.tenantId ?? '_hub');
  expect(r.headers).toMatchObject({
    'cs-event-type': event.type,
    'cs-trace-id': event.data.traceId,
    'cs-correlation-id': event.data.correlationId,
    'cs-schema-version': '1',
    ...(event.data.tenantId ? { 'cs-tenant-id': event.data.tenantId } : {}),
  });
  return event;
}

describe('registry facts', () => {
  it('publishes each change exactly once, valid, keyed by tenant, linked to its API call, with no secret', async () => {
    const h = await startHarness();
    try {
      const secrets: string[] = [];
      const a = await registryLife(h, 'facts-a', secrets);
      await registryLife(h, 'facts-b', secrets);
      const records = await publishedFacts(h);
      const events = records.map(expectFact);

      // exactly once per cause: one record per audit row that stands for a fact, no more
      const expected = await expectedFacts(h);
      expect(events.map((e) => e.id).sort()).toEqual([...expected.keys()].sort());
      for (const e of events) expect(e).toEqual(expected.get(e.id));

      // one tenant's facts, in the order of its changes
      const ofA = events.filter((e) => e.data.tenantId === 'facts-a');
      expect(ofA.filter((e) => e.data.fact === 'WebhookSubscribed').map((e) => e.type)).toEqual([
        'io.integration-hub.webhook.subscribed.v1',
        'io.integration-hub.webhook.paused.v1',
        'io.integration-hub.webhook.resumed.v1',
        'io.integration-hub.webhook.unsubscribed.v1',
      ]);
      expect(
        ofA
          .filter((e) => e.data.fact === 'CredentialRotated')
          .map((e) => [e.data.payload.credential, e.data.payload.change]),
      ).toEqual([
        ['signing_secret', 'rotated'],
        ['auth_credentials', 'rotated'],
        ['api_key', 'created'],
        ['api_key', 'revoked'],
      ]);
      expect(ofA.every((e) => e.subject === a.id || e.subject === a.keyId)).toBe(true);
      expect(records.filter((r) => r.headers['cs-tenant-id'] === 'facts-a').every((r) => r.key === 'facts-a')).toBe(
        true,
      );

      // linked to the API call: the request id of the change is the causation and correlation id
      const requestIds = await h.db.prisma.$queryRawUnsafe<{ requestId: string }[]>(
        `SELECT "requestId" FROM "ChangeAudit" WHERE "tenantId" = 'facts-a' AND "action" = 'subscription.paused'`,
      );
      const paused = ofA.find((e) => e.type === 'io.integration-hub.webhook.paused.v1')!;
      expect(paused.data.causationId).toBe(requestIds[0]!.requestId);
      expect(paused.correlationid).toBe(requestIds[0]!.requestId);

      // never a credential's value
      const all = records.map((r) => r.value!.toString('utf8')).join('\n');
      for (const s of secrets) expect(all).not.toContain(s);
    } finally {
      await h.close();
    }
  });

  it('a relay that dies after the produce and before the stamp publishes again with the same ids, losing none', async () => {
    const h = await startHarness({ relay: false });
    try {
      let crashes = 0;
      await h.startRelay({
        // Fails the transaction after the facts were acked: the rows stay unpublished, as after a SIGKILL there.
        afterFactsProduce: async () => {
          if (crashes++ < 2) throw new Error('relay killed after the produce');
        },
      });
      await registryLife(h, 'facts-c', []);
      const events = (await publishedFacts(h)).map(expectFact);
      expect(crashes).toBeGreaterThan(2);
      const expected = await expectedFacts(h);
      const ids = events.map((e) => e.id);
      expect(new Set(ids)).toEqual(new Set(expected.keys()));
      expect(ids.length).toBeGreaterThan(expected.size); // duplicates, and they carry the same id
      for (const e of events) expect(e).toEqual(expected.get(e.id));
    } finally {
      await h.close();
    }
  });
});
