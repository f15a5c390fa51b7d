/**
 * Inbound webhooks across a crash (issue 19): the event-processor runs as a real child process; a burst of signed
 * GitHub deliveries is sent to it and the process is SIGKILLed in the middle of the burst, then restarted (same
 * instance id). Every delivery that got a 2xx must be fanned out to the tenant's subscription (0 lost: the 2xx is sent
 * only after the produce was acknowledged); no delivery that got a non-2xx answer may be. Deliveries cut off by the
 * kill (no answer) are what a vendor retries; they may or may not be there.
 *
 * Proof without sleeping: after the restart a sentinel delivery of the same tenant is accepted; the ingest topic is
 * keyed by tenant and fanned out in partition order, so once the sentinel's outbox record is visible (read_committed),
 * every earlier record of the tenant is too.
 *
 * Then the vendor retries what got no 2xx, and every delivery of the burst is fanned out.
 *
 * INBOUND_CRASH_REQUESTS sets the burst size (default 1000, the figure).
 */
import { createHmac, randomUUID } from 'node:crypto';
import { Agent, request } from 'undici';
import { inboundEventId } from '../../pipeline/event-processor/inbound-event';
import { generateHubKeySpec, parseHubKeys, SecretBox } from '../../pipeline/shared/crypto/secret-box';
import { InboundSourceRepositoryPrisma } from '../../subscription-api/inbound-source-repository.prisma';
import { createInboundSourceService } from '../../subscription-api/inbound-sources';
import { aSnapshot } from '../fixtures/subscriptions';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { consumeUntil } from '../support/inbound';
import { waitFor } from '../support/kafka';
import {
  aScenario,
  type ProcessorChild,
  type ProcessorScenario,
  publishSubscriptions,
  spawnProcessor,
  whileAlive,
} from './harness';

jest.setTimeout(300_000);

const REQUESTS = Number(process.env.INBOUND_CRASH_REQUESTS ?? 1000);
const CONCURRENCY = 16;
const tenant = `crash-${randomUUID().slice(0, 8)}`;

let db: TestDatabase;
let child: ProcessorChild | undefined;
const agent = new Agent({ connections: CONCURRENCY, pipelining: 0 });

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  if (child && child.proc.exitCode === null && child.proc.signalCode === null) {
    child.proc.kill('SIGKILL');
    await child.exited;
  }
  await agent.close();
  await db?.drop();
});

/** Starts the child and reads its HTTP port from the "event-processor ready" log line. */
async function start(s: ProcessorScenario, env: Record<string, string>): Promise<{ c: ProcessorChild; port: number }> {
  const c = spawnProcessor(s, env);
  const port = await whileAlive(
    c,
    waitFor(
      () => {
        const line = c.output.find((l) => l.includes('"event-processor ready"'));
        return line ? (JSON.parse(line) as { port: number }).port : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 50, what: 'the event-processor to be ready' },
    ),
  );
  return { c, port };
}

describe('inbound webhooks across a SIGKILL of the event-processor', () => {
  it(`fans out every 2xx delivery of a ${REQUESTS}-request burst and no delivery refused with a status`, async () => {
    const s = aScenario('inbound-crash');
    await publishSubscriptions(s, [
      aSnapshot({
        id: `sub-${tenant}`,
        tenantId: tenant,
        match: { sourceService: '*', eventType: '*', resourceType: '*', operationType: '*' },
      }),
    ]);
    const keySpec = generateHubKeySpec('crash');
    const sources = createInboundSourceService({
      repository: new InboundSourceRepositoryPrisma(db.prisma),
      box: new SecretBox(parseHubKeys(keySpec)),
      rotationOverlapMs: 3600_000,
      publicBaseUrl: 'http://127.0.0.1',
    });
    const { record, secret } = await sources.create(
      { keyId: 'test', role: 'OPERATOR' },
      { tenantId: tenant, name: 'gh', verification: { scheme: 'GITHUB' }, allowedCidrs: [], mapping: {} },
    );
    const env = {
      DATABASE_URL: db.url,
      HUB_ENCRYPTION_KEYS: keySpec,
      GRPC_ENABLED: 'false',
      INBOUND_RATE_LIMIT_PER_MINUTE: String(REQUESTS * 10),
    };

    let { c, port } = await start(s, env);
    child = c;
    const send = async (deliveryId: string, to = port) => {
      const body = JSON.stringify({ action: 'opened', delivery: deliveryId });
      try {
        const res = await request(`http://127.0.0.1:${to}/v1/inbound/${record.id}`, {
          method: 'POST',
          dispatcher: agent,
          headers: {
            'content-type': 'application/json',
            'x-github-event': 'issues',
            'x-github-delivery': deliveryId,
            'x-hub-signature-256': `sha256=${createHmac('sha256', secret!).update(body).digest('hex')}`,
          },
          body,
          headersTimeout: 30_000,
        });
        await res.body.dump();
        return res.statusCode;
      } catch {
        return 'no answer' as const;
      }
    };

    // The burst, CONCURRENCY at a time; the kill lands once a third of it has been answered.
    const answers = new Map<string, number | 'no answer'>();
    let next = 0;
    const killAt = Math.floor(REQUESTS / 3);
    let killed: Promise<unknown> | undefined;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < REQUESTS) {
          const id = `burst-${next++}`;
          answers.set(id, await send(id));
          if (!killed && answers.size >= killAt) {
            c.proc.kill('SIGKILL');
            killed = c.exited;
          }
        }
      }),
    );
    await killed;
    const accepted = [...answers].filter(([, a]) => typeof a === 'number' && a >= 200 && a < 300).map(([id]) => id);
    const refused = [...answers].filter(([, a]) => typeof a === 'number' && (a < 200 || a >= 300)).map(([id]) => id);
    const cut = [...answers].filter(([, a]) => a === 'no answer').length;
    // The kill must have landed mid-burst, or the test proves nothing.
    expect(accepted.length).toBeGreaterThanOrEqual(killAt);
    expect(accepted.length).toBeLessThan(REQUESTS);

    ({ c, port } = await start(s, env));
    child = c;
    // The vendor retries what it got no 2xx for: each is now accepted (202) or, if it was produced and its dedupe row
    // committed just before the kill, answered as a duplicate (200).
    const retried = [...answers].filter(([, a]) => !(typeof a === 'number' && a >= 200 && a < 300)).map(([id]) => id);
    const retryAnswers: (number | string)[] = [];
    for (const id of retried) retryAnswers.push(await send(id, port));
    expect(retryAnswers.filter((a) => a !== 200 && a !== 202)).toEqual([]);
    const sentinel = `sentinel-${randomUUID()}`;
    expect(await send(sentinel, port)).toBe(202);
    const sentinelId = inboundEventId(record.id, sentinel);
    const outbox = await whileAlive(
      c,
      consumeUntil(s.topics.outbox('organization'), (r) => r.headers.ce_id === sentinelId, 120_000),
    );
    const fannedOut = new Set(outbox.map((r) => r.headers.ce_id));
    const lost = accepted.filter((id) => !fannedOut.has(inboundEventId(record.id, id)));
    const leaked = refused.filter((id) => fannedOut.has(inboundEventId(record.id, id)));
    process.stderr.write(
      `[inbound-crash] ${accepted.length} answered 2xx, ${refused.length} non-2xx, ${cut} cut off by the kill; ` +
        `lost ${lost.length}, non-2xx delivered ${leaked.length}\n`,
    );
    expect(lost).toEqual([]);
    expect(leaked).toEqual([]);
    // After the vendor's retries every delivery of the burst is there.
    const missing = [...answers.keys()].filter((id) => !fannedOut.has(inboundEventId(record.id, id)));
    expect(missing).toEqual([]);
  });
});
