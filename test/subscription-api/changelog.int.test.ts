/**
 * The changelog on the real broker and Postgres: every change reaches the compacted topic and a running
 * SubscriptionDirectory within a second; delete -> tombstone; a relay killed mid-batch loses nothing; no secret
 * in the database rows or in the logs of the run.
 */
import { decodeSnapshot, subscriptionSnapshotSchema } from '../../pipeline/shared/subscriptions/snapshot';
import { waitFor } from '../support/kafka';
import { aSubscription, type Harness, OPERATOR_KEY, readTopicUntil, startHarness } from './harness';

const SECRETS = {
  password: 'basic-password-Zq8!',
  clientSecret: 'oauth-client-secret-Xy7#',
  token: 'eyJhbGciOiJIUzI1NiJ9.jwt-bearer-token-Wv6.sig',
  apiKey: 'subscriber-api-key-Tu5$',
};

describe('subscription changelog', () => {
  let h: Harness;
  const issuedSecrets: string[] = [...Object.values(SECRETS), OPERATOR_KEY];

  beforeAll(async () => {
    h = await startHarness({ directory: true });
    // Warm-up (first Prisma query, producer id, metadata) so the latency checks measure the steady state.
    const warm = (await h.op.post('/v1/subscriptions', aSubscription({ tenantId: 'cl-warmup' }))).json();
    issuedSecrets.push(warm.signingSecret);
    await waitFor(() => h.directory!.get(warm.id), { what: 'the warm-up subscription' });
  });

  afterAll(async () => {
    await h.close();
    // The logs of the whole run (API, relay, directory) hold none of the secrets handed in or out.
    const all = h.logs.join('\n');
    expect(h.logs.length).toBeGreaterThan(10);
    for (const s of issuedSecrets) expect(all).not.toContain(s);
    for (const s of issuedSecrets.filter((x) => x.startsWith('whsec_'))) expect(all).not.toContain(s.slice(6));
  });

  it('publishes a new subscription to the topic and to a running directory within 1 s of the commit', async () => {
    const res = await h.op.post('/v1/subscriptions', aSubscription({ tenantId: 'cl-a' }));
    const started = Date.now(); // committed when the API answers
    expect(res.statusCode).toBe(201);
    const { id, signingSecret } = res.json();
    issuedSecrets.push(signingSecret);

    const inDirectory = await waitFor(() => h.directory!.get(id), { timeoutMs: 1000, what: 'the directory' });
    const latency = Date.now() - started;
    expect(latency).toBeLessThan(1000);
    expect(inDirectory).toMatchObject({ id, tenantId: 'cl-a', version: 1, status: 'ACTIVE' });
    expect(h.box.open(inDirectory.signing.current, id)).toBe(signingSecret);
    expect(
      h
        .directory!.match({
          tenantId: 'cl-a',
          sourceService: 'identity',
          eventType: 'user.created',
          resourceType: 'USER',
          operationType: 'CREATE',
        })
        .map((s) => s.id),
    ).toEqual([id]);

    const records = await readTopicUntil(h.kafka, h.topic, (rs) => rs.some((r) => r.key === id));
    const record = records.find((r) => r.key === id)!;
    // exactly the snapshot format (encodeSnapshot), keyed by the subscription id
    const snapshot = subscriptionSnapshotSchema.strict().parse(JSON.parse(record.value!.toString()));
    expect(snapshot).toEqual(inDirectory);
    h.log.info({ latencyMs: latency }, 'changelog latency (create -> directory)');
  });

  it('publishes updates in order and a tombstone on delete; the directory forgets it', async () => {
    const { id, signingSecret } = (await h.op.post('/v1/subscriptions', aSubscription({ tenantId: 'cl-b' }))).json();
    issuedSecrets.push(signingSecret);
    await h.op.post(`/v1/subscriptions/${id}/pause`);
    await h.op.patch(`/v1/subscriptions/${id}`, { ordered: true });
    await waitFor(() => h.directory!.get(id)?.version === 3 || undefined, { timeoutMs: 1000, what: 'version 3' });
    expect(h.directory!.get(id)).toMatchObject({ status: 'PAUSED', ordered: true });

    expect((await h.op.del(`/v1/subscriptions/${id}`)).statusCode).toBe(204);
    await waitFor(() => h.directory!.get(id) === undefined || undefined, { timeoutMs: 1000, what: 'forgetting' });

    const records = await readTopicUntil(h.kafka, h.topic, (rs) => rs.filter((r) => r.key === id).length >= 4);
    const mine = records.filter((r) => r.key === id);
    expect(mine.map((r) => (r.value === null ? 'tombstone' : decodeSnapshot(r.value)!.version))).toEqual([
      1,
      2,
      3,
      'tombstone',
    ]);
    expect(new Set(mine.map((r) => r.partition)).size).toBe(1);
  });

  it('stores no plaintext secret in any row', async () => {
    const withAuth: Array<[Record<string, string>, string]> = [
      [{ type: 'BASIC', username: 'hub', password: SECRETS.password }, SECRETS.password],
      [
        {
          type: 'OAUTH2',
          clientId: 'hub',
          clientSecret: SECRETS.clientSecret,
          tokenUrl: 'https://tokens.example.com/t',
        },
        SECRETS.clientSecret,
      ],
      [{ type: 'JWT', token: SECRETS.token }, SECRETS.token],
      [{ type: 'APIKEY', headerName: 'X-Api-Key', key: SECRETS.apiKey }, SECRETS.apiKey],
    ];
    const ids: string[] = [];
    for (const [auth, secret] of withAuth) {
      const res = await h.op.post('/v1/subscriptions', aSubscription({ tenantId: 'cl-secrets', auth }));
      expect(res.statusCode).toBe(201);
      expect(res.body).not.toContain(secret);
      ids.push(res.json().id);
      issuedSecrets.push(res.json().signingSecret);
    }
    const rotated = (await h.op.post(`/v1/subscriptions/${ids[0]}/rotate-secret`)).json();
    issuedSecrets.push(rotated.signingSecret);
    const tenantKey = await h.tenantKey('cl-secrets');
    issuedSecrets.push(tenantKey);
    await waitFor(() => ids.every((id) => h.directory!.get(id)) || undefined, { what: 'all four' });
    // The rotation is a later change of ids[0] than its creation: wait for that one too, not only for the id.
    await waitFor(
      () => {
        const current = h.directory!.get(ids[0]!)?.signing.current;
        return (current && h.box.open(current, ids[0]!) === rotated.signingSecret) || undefined;
      },
      { what: 'the rotated secret in the directory' },
    );

    const tables = (
      await h.pool.query<{ table_name: string }>(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
      )
    ).rows.map((r) => r.table_name);
    expect(tables).toEqual(expect.arrayContaining(['Subscription', 'SubscriptionChange', 'ApiKey']));
    let dump = '';
    for (const t of tables) {
      const rows = await h.pool.query(`SELECT row_to_json(t)::text AS j FROM "${t}" t`);
      dump += rows.rows.map((r) => r.j).join('\n');
    }
    expect(dump).toContain('cl-secrets');
    for (const s of issuedSecrets) {
      expect(dump).not.toContain(s);
      if (s.startsWith('whsec_')) expect(dump).not.toContain(s.slice(6));
    }
    // ...and the sealed values open to the originals with the hub key
    const snap = h.directory!.get(ids[0]!)!;
    expect(h.box.open((snap.auth as { secret: string }).secret, ids[0]!)).toBe(SECRETS.password);
    expect(h.box.open(snap.signing.current, ids[0]!)).toBe(rotated.signingSecret);
  });

  it('publishes a change committed while the relay was publishing at once, not at its next poll', async () => {
    // The relay sleeps on LISTEN with a poll far beyond this test; a change committed between its SELECT and the
    // end of its drain must still be published promptly (its notification came while nobody was waiting for it).
    await h.relay!.stop();
    let during: string | undefined;
    let hooked = false;
    h.relay = await h.startRelay({
      intervalMs: 60_000,
      listenPollMs: 60_000,
      afterProduce: async () => {
        if (hooked) return;
        hooked = true;
        const r = await h.op.post('/v1/subscriptions', aSubscription({ tenantId: 'cl-race' }));
        issuedSecrets.push(r.json().signingSecret);
        during = r.json().id;
      },
    });
    const first = await h.op.post('/v1/subscriptions', aSubscription({ tenantId: 'cl-race' }));
    issuedSecrets.push(first.json().signingSecret);
    await waitFor(() => during && h.directory!.get(during), {
      timeoutMs: 10_000,
      what: 'the change committed during a drain, on the topic within seconds',
    });
    expect(h.directory!.get(first.json().id)).toBeDefined();
  });

  it('loses no change when the relay is killed mid-batch', async () => {
    await h.relay!.stop();
    await h.relay!.drain(); // whatever the stopped relay had not published yet
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      const r = await h.op.post('/v1/subscriptions', aSubscription({ tenantId: 'cl-crash' }));
      ids.push(r.json().id);
      issuedSecrets.push(r.json().signingSecret);
    }
    for (const id of ids.slice(0, 6)) await h.op.post(`/v1/subscriptions/${id}/pause`);
    for (const id of ids.slice(0, 3)) await h.op.del(`/v1/subscriptions/${id}`);
    const pending = Number(
      (await h.pool.query('SELECT count(*) AS n FROM "SubscriptionChange" WHERE "publishedAt" IS NULL')).rows[0].n,
    );
    expect(pending).toBe(21);

    // A relay that dies after producing its second batch, before marking it published: its transaction never
    // commits, exactly like a process killed at that point (and it keeps dying until we stop it).
    let batches = 0;
    const doomed = await h.startRelay({
      batchSize: 5,
      intervalMs: 60_000,
      afterProduce: async () => {
        batches++;
        if (batches >= 2) throw new Error('relay killed');
      },
    });
    await waitFor(() => batches >= 2 || undefined, { what: 'the crash' });
    await doomed.stop();
    const left = Number(
      (await h.pool.query('SELECT count(*) AS n FROM "SubscriptionChange" WHERE "publishedAt" IS NULL')).rows[0].n,
    );
    expect(left).toBe(16); // only the first batch of 5 was marked

    h.relay = await h.startRelay();
    await waitFor(
      async () =>
        Number(
          (await h.pool.query('SELECT count(*) AS n FROM "SubscriptionChange" WHERE "publishedAt" IS NULL')).rows[0].n,
        ) === 0 || undefined,
      { what: 'the restarted relay to publish everything' },
    );

    // Every change is on the topic (some twice: at-least-once), in per-key order, and the directory converged.
    const records = await readTopicUntil(h.kafka, h.topic, (rs) =>
      ids.every((id, i) => {
        const last = rs.filter((r) => r.key === id).at(-1);
        if (!last) return false;
        if (i < 3) return last.value === null;
        return decodeSnapshot(last.value)!.version === (i < 6 ? 2 : 1);
      }),
    );
    for (const [i, id] of ids.entries()) {
      const seq = records
        .filter((r) => r.key === id)
        .map((r) => (r.value === null ? Number.POSITIVE_INFINITY : decodeSnapshot(r.value)!.version));
      expect([...seq].sort((a, b) => a - b)).toEqual(seq); // never goes backwards
      expect(new Set(seq)).toEqual(new Set(i < 3 ? [1, 2, Number.POSITIVE_INFINITY] : i < 6 ? [1, 2] : [1]));
    }
    await waitFor(
      () =>
        ids.every((id, i) => (i < 3 ? !h.directory!.get(id) : h.directory!.get(id)?.version === (i < 6 ? 2 : 1))) ||
        undefined,
      { what: 'the directory to converge' },
    );
  });

  it('publishes changes in commit order where the ids gain a digit (9 → 10, 99 → 100)', async () => {
    await h.relay!.stop();
    await h.relay!.drain();
    // The next changes get ids 98 … 103: one subscription created, then changed five times.
    await h.pool.query(`SELECT setval(pg_get_serial_sequence('"SubscriptionChange"', 'id'), 97)`);
    const { id, signingSecret } = (
      await h.op.post('/v1/subscriptions', aSubscription({ tenantId: 'cl-digits' }))
    ).json();
    issuedSecrets.push(signingSecret);
    for (let i = 0; i < 5; i++) await h.op.post(`/v1/subscriptions/${id}/${i % 2 === 0 ? 'pause' : 'resume'}`);
    const { rows } = await h.pool.query<{ id: string }>(
      `SELECT id::text FROM "SubscriptionChange" WHERE "subscriptionId" = $1 ORDER BY "createdAt", "SubscriptionChange".id`,
      [id],
    );
    expect(rows.map((r) => r.id)).toEqual(['98', '99', '100', '101', '102', '103']);

    h.relay = await h.startRelay({ batchSize: 2 }); // three takes: each must be the oldest two
    const records = await readTopicUntil(h.kafka, h.topic, (rs) => rs.filter((r) => r.key === id).length >= 6);
    const versions = records.filter((r) => r.key === id).map((r) => decodeSnapshot(r.value)!.version);
    expect(versions).toEqual([1, 2, 3, 4, 5, 6]);
    await waitFor(() => h.directory!.get(id)?.version === 6 || undefined, { what: 'the directory at version 6' });
  });
});
