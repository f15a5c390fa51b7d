/**
 * Registry-side facts across SIGKILLs (issue 18: "every fact type appears exactly once per cause, including after a
 * SIGKILL mid-stream"). The real subscription-api (its main.ts, as a child process: the REST API and the changelog
 * relay that publishes the change audit's facts) takes a steady stream of management calls while it is SIGKILLed
 * twice and restarted:
 *
 *   3 workers, each a loop of subscription lives: create, pause, resume, rotate the secret, new auth, create an API
 *   key, revoke it, delete (every call stands for one WebhookSubscribed or CredentialRotated fact); x-request-id per call
 *     ─▶ subscription-api child: the change and its ChangeAudit row in one transaction ─▶ 2xx
 *        relay: unpublished ChangeAudit rows ─▶ facts topics (acked) ─▶ rows stamped
 *   SIGKILL once calls succeed, restart at once; again after more succeeded; the workers go on (a call that fails at
 *   the kill abandons its life, the next starts once the API is back)
 *   ─▶ once every ChangeAudit row is stamped published: every call that got a 2xx has its fact (found by its request
 *      id, of the call's type, about its resource); the facts are exactly those of the committed changes (including
 *      a change whose call lost its answer to the kill), one id per change, every copy equal to the first; each
 *      valid against its JSON Schema, keyed by tenant, with the cs-* headers
 *
 * A kill may land between the relay's acked produce and its stamp, so copies are possible, not certain; the
 * certain case is injected in-process by facts.int.test.ts.
 */
import { randomUUID } from 'node:crypto';
import { toRow } from '../../pipeline/shared/change-audit/change-audit.prisma';
import { generateHubKeySpec } from '../../pipeline/shared/crypto/secret-box';
import { FACT_TYPES, type FactCloudEvent, type FactType, registryFactOf } from '../../pipeline/shared/facts/fact';
import { ensureTopics } from '../../pipeline/shared/kafka/admin';
import { topicNames } from '../../pipeline/shared/topics';
import { freePort } from '../../scripts/hub/ports';
import { type Child, killChild, spawnProcessor } from '../outbox-processor/child';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { validateFact } from '../support/fact-schemas';
import { brokers, consumeAll, recordsIn, testKafka, uniqueName, waitFor } from '../support/kafka';

jest.setTimeout(300_000);

const OPERATOR_KEY = `ihk_${randomUUID().replace(/-/g, '')}${randomUUID().replace(/-/g, '').slice(0, 11)}`;
const WORKERS = 3;
/** Successful calls between kills (and after the last one). */
const CALLS_PER_PHASE = 40;

/** A management call: what fact it stands for, and how it ended. */
interface Call {
  requestId: string;
  type: FactType;
  /** The fact's subject: the subscription or the API key. */
  subject?: string;
  status?: number;
  error?: string;
}

async function whileAlive<T>(c: Child, p: Promise<T>): Promise<T> {
  const died = c.exited.then((code) => {
    throw new Error(`the subscription-api exited (code ${code}) early`);
  });
  died.catch(() => {});
  try {
    return await Promise.race([p, died]);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${c.output.slice(-30).join('\n')}`);
  }
}

describe('registry facts across SIGKILLs of the subscription-api', () => {
  let db: TestDatabase;
  let child: Child | undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await killChild(child);
    await db?.drop();
  });

  it('every management call that got a 2xx has its fact after SIGKILLs mid-stream; one id per change', async () => {
    const prefix = uniqueName('sapi');
    const topics = topicNames(prefix);
    const factTopics = Object.values(topics.facts);
    await ensureTopics(
      testKafka('facts-sigkill'),
      factTopics.map((topic) => ({ topic, partitions: 3 })),
    );
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const env = {
      KAFKA_BROKERS: brokers().join(','),
      TOPIC_PREFIX: prefix,
      DATABASE_URL: db.url,
      HUB_ENCRYPTION_KEYS: generateHubKeySpec('facts'),
      OPERATOR_API_KEY: OPERATOR_KEY,
      PORT: String(port),
      HOST: '127.0.0.1',
      GRPC_ENABLED: 'false',
      ENDPOINT_ALLOW_HOSTS: '127.0.0.1',
      ENDPOINT_RESOLVE_DNS: 'false',
      RATE_LIMIT_PER_MINUTE: '1000000',
      SUBSCRIPTIONS_TOPIC_PARTITIONS: '3',
      LOG_LEVEL: 'info',
    };
    const up = async () => (await fetch(`${base}/readyz`).catch(() => undefined))?.status === 200;
    let c: Child;
    const start = async () => {
      c = spawnProcessor(env, 'subscription-api');
      child = c;
      await whileAlive(c, waitFor(up, { timeoutMs: 90_000, what: 'the subscription-api ready' }));
    };
    const sigkill = async () => {
      expect(c.proc.exitCode).toBeNull(); // alive until now: the kill is what stops it
      c.proc.kill('SIGKILL');
      await c.exited;
    };

    const calls: Call[] = [];
    const ok = () => calls.filter((x) => x.status !== undefined && x.status < 300).length;
    /** One call, recorded; its JSON body on a 2xx, undefined otherwise. */
    const call = async (
      type: FactType,
      method: string,
      path: string,
      o: { body?: object; subject?: string; subjectOf?: (body: Record<string, string>) => string } = {},
    ) => {
      const rec: Call = { requestId: `facts-kill-${randomUUID()}`, type, subject: o.subject };
      calls.push(rec);
      try {
        const res = await fetch(`${base}${path}`, {
          method,
          headers: {
            authorization: `Bearer ${OPERATOR_KEY}`,
            'x-request-id': rec.requestId,
            ...(o.body ? { 'content-type': 'application/json' } : {}),
          },
          body: o.body ? JSON.stringify(o.body) : undefined,
        });
        const text = await res.text();
        if (res.status >= 300) {
          rec.status = res.status;
          return undefined;
        }
        const body = (text ? JSON.parse(text) : {}) as Record<string, string>;
        if (o.subjectOf) rec.subject = o.subjectOf(body);
        rec.status = res.status; // counted as answered only now, with its subject known
        return body;
      } catch (err) {
        rec.error = (err as Error).message;
        return undefined;
      }
    };
    /** One subscription's life; stops at the first call that fails (the next life starts once the API is back). */
    const life = async (tenantId: string): Promise<boolean> => {
      const created = await call(FACT_TYPES.subscribed, 'POST', '/v1/subscriptions', {
        body: {
          tenantId,
          match: {
            sourceService: 'identity',
            eventType: 'user.created',
            resourceType: 'USER',
            operationType: 'CREATE',
          },
          endpointUrl: 'http://127.0.0.1:9/hook',
        },
        subjectOf: (b) => b.id!,
      });
      if (!created) return false;
      const subject = created.id!;
      const sub = `/v1/subscriptions/${subject}`;
      if (!(await call(FACT_TYPES.paused, 'POST', `${sub}/pause`, { subject }))) return false;
      if (!(await call(FACT_TYPES.resumed, 'POST', `${sub}/resume`, { subject }))) return false;
      if (!(await call(FACT_TYPES.credentialRotated, 'POST', `${sub}/rotate-secret`, { subject }))) return false;
      const auth = { type: 'BASIC', username: 'hub', password: `pw-${randomUUID()}` };
      if (!(await call(FACT_TYPES.credentialRotated, 'PATCH', sub, { body: { auth }, subject }))) return false;
      const key = await call(FACT_TYPES.credentialRotated, 'POST', '/v1/api-keys', {
        body: { name: `k-${tenantId}`, role: 'TENANT', tenantId },
        subjectOf: (b) => b.id!,
      });
      if (!key) return false;
      const keyPath = `/v1/api-keys/${key.id}`;
      if (!(await call(FACT_TYPES.credentialRotated, 'DELETE', keyPath, { subject: key.id }))) return false;
      return (await call(FACT_TYPES.unsubscribed, 'DELETE', sub, { subject })) !== undefined;
    };

    await start();
    let stop = false;
    const workers = Array.from({ length: WORKERS }, async (_, w) => {
      while (!stop) {
        // A failed life (the API went away mid-call): go on once it answers again.
        if (!(await life(`facts-kill-${w}`)))
          await waitFor(async () => stop || (await up()), { timeoutMs: 120_000, what: 'the API back' });
      }
    });
    const kills: { calls: number; ok: number }[] = [];
    for (let k = 0; k < 2; k++) {
      const target = ok() + CALLS_PER_PHASE;
      await whileAlive(
        c!,
        waitFor(() => ok() >= target, { timeoutMs: 90_000, what: `${target} calls answered 2xx` }),
      );
      await sigkill();
      kills.push({ calls: calls.length, ok: ok() });
      await start();
    }
    const target = ok() + CALLS_PER_PHASE;
    await whileAlive(
      c!,
      waitFor(() => ok() >= target, { timeoutMs: 90_000, what: `${target} calls answered 2xx` }),
    );
    stop = true;
    await Promise.all(workers);

    // Every call either got its answer or failed at a kill (the connection went away): no other refusals.
    const failed = calls.filter((x) => x.status === undefined || x.status >= 300);
    expect(failed.filter((x) => x.status !== undefined)).toEqual([]);
    expect(failed.length).toBeGreaterThan(0); // the kills hit calls (or the API while it was down)

    // The relay has published every change once no ChangeAudit row is left unstamped (the stamp follows the ack).
    await whileAlive(
      c!,
      waitFor(
        async () => {
          const [row] = await db.prisma.$queryRawUnsafe<{ n: number }[]>(
            `SELECT count(*)::int AS n FROM "ChangeAudit" WHERE "publishedAt" IS NULL`,
          );
          return row?.n === 0;
        },
        { timeoutMs: 60_000, what: 'every change-audit row published' },
      ),
    );
    const records = await consumeAll(factTopics, { count: await recordsIn(factTopics), timeoutMs: 60_000 });
    const rows = await db.prisma.changeAudit.findMany({ orderBy: { id: 'asc' } });
    const expected = new Map<string, FactCloudEvent>();
    for (const r of rows) {
      const f = registryFactOf(toRow(r), topics.facts);
      if (f) expected.set(f.event.id, f.event);
    }
    expect(expected.size).toBe(rows.length); // every change of these calls stands for a fact

    const byRequest = new Map<string, Set<string>>();
    const events = records.map((r) => {
      const e = JSON.parse(r.value!.toString('utf8')) as FactCloudEvent;
      expect(validateFact(e)).toEqual([]);
      // The operator key ensured at start is a change about no tenant: key `_hub`, no cs-tenant-id.
      expect(r.key).toBe(e.data.tenantId ?? '_hub');
      expect(r.headers['cs-tenant-id']).toBe(e.data.tenantId ?? undefined);
      expect(r.headers).toMatchObject({
        'cs-event-type': e.type,
        'cs-trace-id': e.data.traceId,
        'cs-correlation-id': e.data.correlationId,
        'cs-schema-version': '1',
      });
      // A copy is the change's one fact: same id, same content.
      expect(e).toEqual(expected.get(e.id));
      byRequest.set(e.correlationid, (byRequest.get(e.correlationid) ?? new Set()).add(e.id));
      return e;
    });
    // Exactly the committed changes' facts, each present.
    expect(new Set(events.map((e) => e.id))).toEqual(new Set(expected.keys()));

    // Every call that got a 2xx: one fact, found by its request id, of its type, about its resource.
    const answered = calls.filter((x) => x.status !== undefined && x.status < 300);
    const missing = answered.filter((x) => byRequest.get(x.requestId)?.size !== 1);
    expect(missing).toEqual([]);
    for (const x of answered) {
      const e = expected.get([...byRequest.get(x.requestId)!][0]!)!;
      expect({ requestId: x.requestId, type: e.type, subject: e.subject }).toEqual({
        requestId: x.requestId,
        type: x.type,
        subject: x.subject,
      });
    }

    console.log(
      `[registry facts SIGKILL] ${calls.length} calls (${answered.length} 2xx, ${failed.length} failed at a kill); ` +
        `kills after ${kills.map((k) => `${k.ok} 2xx / ${k.calls} calls`).join(', ')}; ${rows.length} changes ` +
        `committed; ${records.length} fact records (${records.length - expected.size} copies)`,
    );
  });
});
