/**
 * Changelog relay: publishes the transactional outbox (SubscriptionChange rows) to the compacted topic.
 *
 *   loop:
 *     BEGIN
 *       pg_try_advisory_xact_lock(relay)            one active relay at a time, so per-key order holds even
 *                                                   with several API instances (others idle until it frees)
 *       SELECT ... WHERE published_at IS NULL
 *         ORDER BY id LIMIT n FOR UPDATE SKIP LOCKED
 *       producer.send(key = subscription id, value = snapshot | null)   idempotent producer, acks = -1
 *       UPDATE ... SET published_at = now() WHERE id = ANY(ids)
 *     COMMIT
 *     wait for NOTIFY subscription_changes (sent by the repository's transaction) or the poll interval
 *
 * Crash-safe and at-least-once: a crash after the produce and before COMMIT leaves the rows unpublished, so
 * the next relay produces them again (same key, same snapshot; consumers keep the highest version). Rows are
 * produced in id order in one batch; records of one key go to one partition in that order.
 *
 * The hub's registry-side facts (issue 18, shared/facts/fact.ts) go out the same way, in the same transaction and
 * under the same lock: "ChangeAudit" rows (written in each change's own transaction) with "publishedAt" NULL are
 * produced as WebhookSubscribed / CredentialRotated CloudEvents to the facts topics and stamped. A fact's id derives
 * from its row's id, so a fact produced again after a crash carries the same id. Rows that stand for no fact (an
 * event-type change, a plain update) are stamped without a record. A trigger NOTIFYs the relay's channel.
 */
import type { Producer } from 'kafkajs';
import type { Pool, PoolClient } from 'pg';
import { Client } from 'pg';
import { toRow } from '../pipeline/shared/change-audit/change-audit.prisma';
import { WakeableSleep } from '../pipeline/shared/concurrency';
import { errorMessage } from '../pipeline/shared/errors';
import { type FactRecord, registryFactOf } from '../pipeline/shared/facts/fact';
import type { Logger } from '../pipeline/shared/logging/logger';
import { encodeSnapshot, subscriptionSnapshotSchema } from '../pipeline/shared/subscriptions/snapshot';
import type { TopicNames } from '../pipeline/shared/topics';
import { CHANGE_TABLE, NOTIFY_CHANNEL } from './subscription-repository.prisma';

/** Arbitrary constant identifying the relay's advisory lock. */
const RELAY_LOCK_KEY = 0x5b5c4a1;

export interface ChangelogRelayOptions {
  pool: Pool;
  /** For LISTEN (a dedicated connection). Omit to rely on polling only. */
  databaseUrl?: string;
  producer: Producer;
  topic: string;
  log: Logger;
  /** The facts topics: publish the change audit's facts too (the subscription-api always does; tests may not). */
  facts?: TopicNames['facts'];
  batchSize?: number;
  /** Poll interval without LISTEN. */
  intervalMs?: number;
  /** Poll interval while LISTEN is connected (a safety net for a missed notification). Default 5 s. */
  listenPollMs?: number;
  /** Test hook: runs after the batch was produced and before it is marked published (crash injection). */
  afterProduce?: (changeIds: string[]) => Promise<void>;
  /** Test hook: runs after the facts of these audit rows were produced and before they are stamped. */
  afterFactsProduce?: (auditIds: string[]) => Promise<void>;
}

export interface ChangelogRelay {
  /** Publishes everything pending now; resolves with the number of rows published. */
  drain(): Promise<number>;
  published(): number;
  /** Facts produced (change-audit rows that stand for a fact). */
  factsPublished(): number;
  stop(): Promise<void>;
}

interface ChangeRow {
  id: string;
  subscription_id: string;
  snapshot: unknown;
}

export async function startChangelogRelay(opts: ChangelogRelayOptions): Promise<ChangelogRelay> {
  const batchSize = opts.batchSize ?? 500;
  const intervalMs = opts.intervalMs ?? 250;
  const listenPollMs = opts.listenPollMs ?? 5000;
  let running = true;
  let publishedCount = 0;
  let factsCount = 0;
  const idle = new WakeableSleep();
  /** A notification came since the current drain began: drain again at once (none may be lost while draining). */
  let notified = false;
  let listener: Client | undefined;
  let failures = 0;

  async function connectListener(): Promise<void> {
    if (!opts.databaseUrl || !running) return;
    const client = new Client({ connectionString: opts.databaseUrl });
    client.on('notification', () => {
      notified = true;
      idle.wake();
    });
    client.on('error', (err) => {
      opts.log.warn({ err: errorMessage(err) }, 'changelog relay LISTEN connection lost; polling until it is back');
      listener = undefined;
      client.end().catch(() => {});
      if (running) setTimeout(() => void connectListener().catch(() => {}), 1000).unref();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${NOTIFY_CHANNEL}`);
      listener = client;
    } catch (err) {
      opts.log.warn({ err: errorMessage(err) }, 'changelog relay could not LISTEN; polling only');
      await client.end().catch(() => {});
    }
  }

  /** Produces the facts of up to `batchSize` unpublished audit rows and stamps them (inside the caller's tx). */
  async function publishFacts(client: PoolClient, facts: TopicNames['facts']): Promise<number> {
    const { rows } = await client.query<AuditRow>(
      `SELECT id::text AS id, to_char("at", 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at, "tenantId", "actorKeyId",
              "actorName", "requestId", "action", "resourceType", "resourceId", "version", "changedFields"
         FROM "ChangeAudit"
        WHERE "publishedAt" IS NULL
        ORDER BY "ChangeAudit".id
        LIMIT $1
        FOR UPDATE SKIP LOCKED`,
      [batchSize],
    );
    if (rows.length === 0) return 0;
    const records = rows.flatMap(
      (r) => registryFactOf(toRow({ ...r, id: BigInt(r.id), at: new Date(r.at) }), facts) ?? [],
    );
    if (records.length > 0) {
      const byTopic = new Map<string, FactRecord[]>();
      for (const f of records) byTopic.set(f.topic, [...(byTopic.get(f.topic) ?? []), f]);
      await opts.producer.sendBatch({
        acks: -1,
        topicMessages: [...byTopic].map(([topic, fs]) => ({
          topic,
          messages: fs.map((f) => ({ key: f.key, value: f.value, headers: f.headers })),
        })),
      });
    }
    const ids = rows.map((r) => r.id);
    await opts.afterFactsProduce?.(ids);
    await client.query(`UPDATE "ChangeAudit" SET "publishedAt" = now() WHERE id = ANY($1::bigint[])`, [ids]);
    factsCount += records.length;
    opts.log.debug({ rows: rows.length, facts: records.length, lastAuditId: ids.at(-1) }, 'facts batch published');
    return rows.length;
  }

  async function publishBatch(): Promise<number> {
    let client: PoolClient | undefined;
    try {
      client = await opts.pool.connect();
      await client.query('BEGIN');
      const lock = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS ok', [RELAY_LOCK_KEY]);
      if (!lock.rows[0]?.ok) {
        await client.query('COMMIT');
        return 0;
      }
      const { rows } = await client.query<ChangeRow>(
        `SELECT id::text AS id, ${CHANGE_TABLE.subscriptionId} AS subscription_id, ${CHANGE_TABLE.snapshot} AS snapshot
           FROM ${CHANGE_TABLE.name}
          WHERE ${CHANGE_TABLE.publishedAt} IS NULL
          -- the table's id: a bare "id" is the text alias above, which orders 10 before 9 (a subscription's older
          -- snapshot published after its newer one would win the compacted topic)
          ORDER BY ${CHANGE_TABLE.name}.id
          LIMIT $1
          FOR UPDATE SKIP LOCKED`,
        [batchSize],
      );
      const factRows = opts.facts ? await publishFacts(client, opts.facts) : 0;
      if (rows.length === 0) {
        await client.query('COMMIT');
        return factRows;
      }
      await opts.producer.send({
        topic: opts.topic,
        acks: -1,
        messages: rows.map((r) => ({
          key: r.subscription_id,
          value: toValue(r, opts.log),
        })),
      });
      const ids = rows.map((r) => r.id);
      await opts.afterProduce?.(ids);
      await client.query(
        `UPDATE ${CHANGE_TABLE.name} SET ${CHANGE_TABLE.publishedAt} = now() WHERE id = ANY($1::bigint[])`,
        [ids],
      );
      await client.query('COMMIT');
      publishedCount += rows.length;
      opts.log.debug({ published: rows.length, lastChangeId: ids[ids.length - 1] }, 'changelog batch published');
      return Math.max(rows.length, factRows);
    } catch (err) {
      await client?.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client?.release();
    }
  }

  async function drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await publishBatch();
      total += n;
      if (n < batchSize) return total;
    }
  }

  await connectListener();

  const loop = (async () => {
    while (running) {
      try {
        notified = false;
        await drain();
        failures = 0;
        // LISTEN wakes the relay on every commit: the poll is then only a safety net, and polling an idle table 4
        // times a second was a quarter of the service's idle CPU. A commit notified while the drain ran (after its
        // SELECT) is drained now, not at the next poll.
        if (running && !notified) await idle.sleep(listener ? Math.max(intervalMs, listenPollMs) : intervalMs);
      } catch (err) {
        failures++;
        const backoff = Math.min(5000, 100 * 2 ** Math.min(failures, 6));
        opts.log.error({ err: errorMessage(err), backoffMs: backoff }, 'changelog relay batch failed; will retry');
        if (running) await idle.sleep(backoff);
      }
    }
  })();

  return {
    drain,
    published: () => publishedCount,
    factsPublished: () => factsCount,
    async stop() {
      running = false;
      idle.wake();
      await loop;
      await listener?.end().catch(() => {});
    },
  };
}

/**
 * The record value: `encodeSnapshot` of the stored snapshot (re-parsed, so the bytes are canonical whatever key
 * order jsonb returns), or null for a tombstone. A row that does not parse is a bug upstream; it is published as
 * stored (directories log and ignore it) rather than blocking every later change.
 */
function toValue(r: ChangeRow, log: Logger): Buffer | null {
  const raw = typeof r.snapshot === 'string' ? (JSON.parse(r.snapshot) as unknown) : r.snapshot;
  if (raw === null || raw === undefined) return null;
  const parsed = subscriptionSnapshotSchema.safeParse(raw);
  if (parsed.success) return encodeSnapshot(parsed.data);
  log.error(
    { changeId: r.id, subscriptionId: r.subscription_id },
    'malformed snapshot in the change table; published as stored',
  );
  return Buffer.from(JSON.stringify(raw));
}

/** A "ChangeAudit" row as the relay selects it (id as text, "at" as UTC ISO: the column has no time zone). */
type AuditRow = Omit<Parameters<typeof toRow>[0], 'id' | 'at'> & { id: string; at: string };
