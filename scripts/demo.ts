/**
 * `npm run demo`: against a running hub (`npm run up` in another terminal), shows the whole path:
 *
 *   1. creates a tenant API key (operator key from .data/hub.env), the event types, and three subscriptions
 *      pointing at a demo subscriber it serves on loopback: `healthy`, `oauth2` (the demo also serves the token
 *      endpoint) and `flaky` (answers 500 at first);
 *   2. produces sample platform events in three ingest formats: raw JSON and CloudEvents binary mode to the
 *      ingest topic, CloudEvents structured mode over HTTP; and when the hub runs with a schema registry
 *      (`HUB_SCHEMA_REGISTRY=local npm run up`), Avro and Protobuf in the Confluent wire format, of which one of
 *      each is shown as the subscriber received it: JSON, with `dataschema` naming the schema in the registry;
 *   3. the subscriber verifies every Standard Webhooks signature and prints what it receives;
 *   4. the flaky subscription's events go to the DLT; the subscriber recovers; what the scheduler has not yet
 *      retried is replayed through the operator API;
 *   5. prints a summary; exits 0 only if every event reached every subscription (delivered or replayed).
 *
 * Configuration (environment): HUB_DATA_DIR (.data), DEMO_EVENTS (15), DEMO_TIMEOUT_S (120), and to run
 * against a hub elsewhere SUBSCRIPTION_API_URL, EVENT_API_URL, DLT_API_URL, KAFKA_BROKERS, INGEST_TOPIC,
 * OPERATOR_API_KEY, SCHEMA_REGISTRY_URL (the registry the hub's event-processor uses).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { createSchemaRegistry } from '../pipeline/event-processor/schema-decoder.confluent';
import { type DemoSubscriber, type Receipt, startDemoSubscriber } from './demo/demo-subscriber';
import { type HubClient, hubClient, waitUntil } from './demo/hub-client';
import {
  asBinaryCloudEvent,
  asRawJson,
  asRegistryEncoded,
  asStructuredCloudEvent,
  DEMO_EVENT_TYPES,
  FORMATS,
  type IngestFormat,
  REGISTRY_FORMATS,
  type SampleEvent,
  sampleEvent,
} from './demo/sample-events';
import { parseEnvFile } from './hub/secrets';
import { findRoot } from './hub/start-hub';
import { type PlatformEncoder, platformEncoder } from './register-schemas';

const ALL = { sourceService: '*', eventType: '*', resourceType: '*', operationType: '*' };
const ENDPOINTS = ['healthy', 'oauth2', 'flaky'] as const;
type Endpoint = (typeof ENDPOINTS)[number];

const color = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code: string, s: string) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
const green = (s: string) => paint('32', s);
const red = (s: string) => paint('31', s);
const yellow = (s: string) => paint('33', s);
const bold = (s: string) => paint('1', s);
const say = (s = '') => process.stdout.write(`${s}\n`);

interface Target {
  subscriptionApi: string;
  eventApi: string;
  dltApi: string;
  brokers: string[];
  ingestTopic: string;
  operatorKey: string;
  /** The hub's schema registry (Confluent API), when it runs with one. */
  schemaRegistry?: string;
}

function discover(): Target {
  const root = findRoot();
  const dataDir = resolve(process.env.HUB_DATA_DIR ?? join(root, '.data'));
  const infoFile = join(dataDir, 'hub.json');
  const info = existsSync(infoFile)
    ? (JSON.parse(readFileSync(infoFile, 'utf8')) as {
        urls: Record<string, { url: string }>;
        kafka: { brokers: string };
        topics: { ingest: string };
        schemaRegistry?: string;
      })
    : undefined;
  const secretsFile = join(dataDir, 'hub.env');
  const secrets = existsSync(secretsFile) ? parseEnvFile(readFileSync(secretsFile, 'utf8')) : {};
  const pick = (envName: string, fromInfo: string | undefined, what: string) => {
    const v = process.env[envName] || fromInfo;
    if (!v)
      throw new Error(
        `no ${what}: the hub does not seem to be running (${infoFile} is missing). Start it with \`npm run up\` in another terminal, or set ${envName}.`,
      );
    return v;
  };
  return {
    subscriptionApi: pick('SUBSCRIPTION_API_URL', info?.urls['subscription-api']?.url, 'subscription-api URL'),
    eventApi: pick('EVENT_API_URL', info?.urls['event-processor']?.url, 'event-processor URL'),
    dltApi: pick('DLT_API_URL', info?.urls['dlt-processor']?.url, 'dlt-processor URL'),
    brokers: pick('KAFKA_BROKERS', info?.kafka.brokers, 'Kafka address').split(','),
    ingestTopic: pick('INGEST_TOPIC', info?.topics.ingest, 'ingest topic'),
    operatorKey: pick('OPERATOR_API_KEY', secrets.OPERATOR_API_KEY, `operator API key (${secretsFile})`),
    schemaRegistry: process.env.SCHEMA_REGISTRY_URL || info?.schemaRegistry,
  };
}

function printReceipt(r: Receipt, probes: Set<string>, names: Map<string, SampleEvent>): void {
  if (probes.has(r.webhookId)) return;
  const e = names.get(r.webhookId);
  const what = e ? `${e.eventType.padEnd(14)} via ${e.format.padEnd(8)}` : (r.ce.type ?? '?').padEnd(26);
  const sig = r.signatureValid ? 'signature ok' : red(`signature INVALID (${r.verifyError})`);
  const mark = r.status < 300 ? green('✓') : r.status === 500 ? yellow('✗') : red('✗');
  const auth = r.endpoint === 'oauth2' ? (r.authorized ? ' bearer ok' : red(' no/bad bearer')) : '';
  say(`  ${mark} ${r.endpoint.padEnd(8)} ${r.status}  ${what}  webhook-id ${r.webhookId.slice(0, 8)}…  ${sig}${auth}`);
}

async function main(): Promise<number> {
  const count = Number(process.env.DEMO_EVENTS ?? 15);
  const timeoutMs = Number(process.env.DEMO_TIMEOUT_S ?? 120) * 1000;
  const t = discover();
  const operator = hubClient(t, t.operatorKey);
  const sub: DemoSubscriber = await startDemoSubscriber({ host: '127.0.0.1' });
  const kafka = new Kafka({ clientId: 'integration-hub-demo', brokers: t.brokers, logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  const created: { id: string }[] = [];
  let tenant: HubClient | undefined;
  const probes = new Set<string>();
  const byId = new Map<string, SampleEvent>();
  let quiet = true;
  sub.onReceipt((r) => {
    if (!quiet) printReceipt(r, probes, byId);
  });

  try {
    say(bold('1. Setting up'));
    say(`   demo subscriber listening on ${sub.url} (loopback is allowlisted by the local hub)`);
    const tenantId = `demo-${Date.now().toString(36)}`;
    const { key } = await operator.createApiKey({ name: 'demo tenant', role: 'TENANT', tenantId });
    tenant = hubClient(t, key);
    say(`   tenant "${tenantId}" and its API key created (operator key from .data/hub.env)`);
    for (const et of DEMO_EVENT_TYPES) await operator.ensureEventType(et);
    say(`   event types: ${DEMO_EVENT_TYPES.map((e) => e.name).join(', ')}`);
    const encoder = await registryStep(t);
    const formats: readonly IngestFormat[] = encoder ? [...FORMATS, ...REGISTRY_FORMATS] : FORMATS;
    for (const name of ENDPOINTS) sub.configure(name, {});
    const subs = {} as Record<Endpoint, { id: string; signingSecret: string }>;
    subs.healthy = await tenant.createSubscription({
      description: 'demo: healthy, binary mode',
      match: ALL,
      endpointUrl: sub.endpointUrl('healthy'),
    });
    subs.oauth2 = await tenant.createSubscription({
      description: 'demo: OAuth2 client credentials, structured mode',
      match: ALL,
      endpointUrl: sub.endpointUrl('oauth2'),
      contentMode: 'STRUCTURED',
      auth: {
        type: 'OAUTH2',
        clientId: sub.oauthClient.clientId,
        clientSecret: sub.oauthClient.clientSecret,
        tokenUrl: sub.tokenUrl,
      },
    });
    subs.flaky = await tenant.createSubscription({
      description: 'demo: fails with 500 until it recovers',
      match: ALL,
      endpointUrl: sub.endpointUrl('flaky'),
      // Its own short retry schedule (the hub's default spans about 28 hours): the demo shows rows exhausting.
      retrySchedule: ['1s', '2s'],
    });
    for (const name of ENDPOINTS) {
      created.push(subs[name]);
      sub.configure(name, { secret: subs[name].signingSecret, oauth2: name === 'oauth2' });
      say(`   subscription ${name.padEnd(8)} ${subs[name].id}`);
    }

    await producer.connect();
    // Subscriptions reach the processors through the changelog topic within about a second; probe until
    // all three endpoints have received one, so no demo event races the changelog.
    await waitUntil(
      'the subscriptions to reach the processors',
      async () => {
        const probe = sampleEvent(0, tenantId, 'raw');
        probes.add(probe.id);
        await producer.send({ topic: t.ingestTopic, messages: [asRawJson(probe)] });
        await new Promise((r) => setTimeout(r, 1000));
        return ENDPOINTS.every((e) => sub.receipts(e).some((r) => probes.has(r.webhookId) && r.status < 300));
      },
      60_000,
      0,
    );
    say('   the processors know the subscriptions (a probe event reached all three)');

    say();
    say(
      bold(
        `2. Producing ${count} events (raw JSON and CloudEvents binary to Kafka, structured over HTTP${encoder ? ', Avro and Protobuf in the Confluent wire format to Kafka' : ''})`,
      ),
    );
    sub.configure('flaky', { failing: true });
    quiet = false;
    const events: SampleEvent[] = [];
    for (let n = 0; n < count; n++) {
      const e = sampleEvent(n, tenantId, formats[n % formats.length]!);
      events.push(e);
      byId.set(e.id, e);
      if (e.format === 'raw') await producer.send({ topic: t.ingestTopic, messages: [asRawJson(e)] });
      else if (e.format === 'binary') await producer.send({ topic: t.ingestTopic, messages: [asBinaryCloudEvent(e)] });
      else if (e.format === 'http') await tenant.ingest(asStructuredCloudEvent(e));
      else await producer.send({ topic: t.ingestTopic, messages: [await asRegistryEncoded(e, encoder!)] });
      say(`  → sent ${e.eventType.padEnd(14)} via ${e.format.padEnd(8)} id ${e.id.slice(0, 8)}…`);
    }
    const ids = events.map((e) => e.id);
    const all = (name: Endpoint) => ids.every((id) => sub.deliveredIds(name).has(id));

    say();
    say(bold('3. Waiting for deliveries (healthy and oauth2) and for flaky to fail into the DLT'));
    await waitUntil('deliveries to healthy and oauth2', () => all('healthy') && all('oauth2'), timeoutMs);
    if (encoder) showRegistryDeliveries(sub, events);
    let lastShown = -1;
    const inDlt = await waitUntil(
      'the flaky events in the DLT',
      async () => {
        const rows = (await operator.listFailedEvents({ subscriptionId: subs.flaky.id })).filter((r) =>
          byId.has(r.eventId),
        );
        if (rows.length !== lastShown) {
          lastShown = rows.length;
          say(`   DLT: ${rows.length}/${count} of flaky's events persisted (${statusCounts(rows)})`);
        }
        return rows.length >= count ? rows : undefined;
      },
      timeoutMs,
      500,
    );

    // Keep flaky failing until the dlt-processor's scheduled retries have exhausted some rows (FAILED), so the
    // demo shows both recoveries: scheduled retry for rows still due, operator replay for exhausted ones.
    const half = Math.ceil(count / 2);
    let lastFailed = -1;
    await waitUntil(
      'some rows exhausted (FAILED)',
      async () => {
        const rows = (await operator.listFailedEvents({ subscriptionId: subs.flaky.id })).filter((r) =>
          byId.has(r.eventId),
        );
        const failed = rows.filter((r) => r.status === 'FAILED').length;
        if (failed !== lastFailed) {
          lastFailed = failed;
          say(`   scheduled retries keep failing: ${statusCounts(rows)}`);
        }
        return failed >= half;
      },
      timeoutMs,
      1000,
    ).catch(() => say(yellow('   (no row exhausted yet; continuing)')));

    say();
    say(bold('4. flaky recovers; the scheduler retries what is due, the operator replays what is exhausted'));
    sub.configure('flaky', { failing: false });
    const replayed = new Set<string>();
    let lastState = '';
    await waitUntil(
      'every flaky event delivered or replayed',
      async () => {
        const rows = (await operator.listFailedEvents({ subscriptionId: subs.flaky.id })).filter((r) =>
          byId.has(r.eventId),
        );
        for (const row of rows) {
          if (row.status === 'FAILED' && !replayed.has(row.id)) {
            replayed.add(row.id);
            await operator.replay(row.id);
          }
        }
        const state = statusCounts(rows);
        if (state !== lastState) {
          lastState = state;
          say(`   DLT rows: ${state}`);
        }
        return all('flaky') && rows.every((r) => r.status === 'DELIVERED' || r.status === 'REPLAYED')
          ? rows
          : undefined;
      },
      timeoutMs,
      1000,
    );
    quiet = true;
    const finalRows = (await operator.listFailedEvents({ subscriptionId: subs.flaky.id })).filter((r) =>
      byId.has(r.eventId),
    );

    // Summary.
    const receipts = sub.receipts().filter((r) => byId.has(r.webhookId));
    const badSignatures = receipts.filter((r) => !r.signatureValid).length;
    const delivered = (name: Endpoint) => ids.filter((id) => sub.deliveredIds(name).has(id)).length;
    const byFormat = formats.map((f) => `${events.filter((e) => e.format === f).length} ${f}`).join(', ');
    const retried = finalRows.filter((r) => r.status === 'DELIVERED').length;
    const replayedOk = finalRows.filter((r) => r.status === 'REPLAYED').length;
    const ok = ENDPOINTS.every((n) => delivered(n) === count) && badSignatures === 0;
    say();
    say(bold('Summary'));
    say(`  sent                 ${count} events (${byFormat}) × 3 subscriptions = ${count * 3} deliveries due`);
    for (const n of ENDPOINTS) say(`  delivered to ${n.padEnd(8)} ${delivered(n)}/${count}`);
    say(`  failed into the DLT  ${inDlt.length} (flaky answered 500)`);
    say(`  retried by schedule  ${retried}`);
    say(`  replayed by operator ${replayedOk}`);
    say(
      `  HTTP requests seen   ${receipts.length}, signatures verified ${receipts.length - badSignatures}/${receipts.length}`,
    );
    say(`  OAuth2 tokens issued ${sub.tokensIssued()} (cached and reused by the hub)`);
    say(ok ? green('  every event was delivered or replayed') : red('  some events were NOT delivered'));
    return ok ? 0 : 1;
  } finally {
    quiet = true;
    // Leave no subscription pointing at this (now closing) demo subscriber.
    for (const s of created) await tenant?.deleteSubscription(s.id).catch(() => undefined);
    await producer.disconnect().catch(() => undefined);
    await sub.stop();
  }
}

/** Registers the platform-event schemas when the hub has a registry; otherwise says how to get one. */
async function registryStep(t: Target): Promise<PlatformEncoder | undefined> {
  if (!t.schemaRegistry) {
    say(
      yellow(
        '   no schema registry: the Avro/Protobuf step is skipped. Start the hub with `HUB_SCHEMA_REGISTRY=local npm run up` to see registry-encoded events delivered as JSON',
      ),
    );
    return undefined;
  }
  try {
    const encoder = await platformEncoder(createSchemaRegistry({ url: t.schemaRegistry }), t.ingestTopic);
    say(
      `   schema registry ${t.schemaRegistry}: platform-event schemas registered (Avro id ${encoder.ids.avro}, Protobuf id ${encoder.ids.protobuf})`,
    );
    return encoder;
  } catch (err) {
    throw new Error(
      `the schema registry at ${t.schemaRegistry} does not answer (${(err as Error).message}). Is the hub still running with HUB_SCHEMA_REGISTRY=local? Restart it, or unset SCHEMA_REGISTRY_URL if you set it yourself.`,
    );
  }
}

/** One Avro and one Protobuf event as the healthy subscriber received them: JSON, whatever the wire format. */
function showRegistryDeliveries(sub: DemoSubscriber, events: SampleEvent[]): void {
  const lines: string[] = [];
  for (const format of REGISTRY_FORMATS) {
    const e = events.find((x) => x.format === format);
    const r = e && sub.receipts('healthy').find((x) => x.webhookId === e.id && x.status < 300);
    if (!r) continue;
    lines.push(`   ${format.padEnd(8)} → ${r.contentType}  dataschema ${r.ce.dataschema ?? '(none)'}`);
    lines.push(`            ${r.body}`);
  }
  if (lines.length === 0) return; // fewer events than formats (DEMO_EVENTS)
  say('   registry-encoded events as the subscriber received them:');
  for (const l of lines) say(l);
}

function statusCounts(rows: { status: string }[]): string {
  const counts = new Map<string, number>();
  for (const r of rows) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
  return [...counts].map(([s, n]) => `${s} ${n}`).join(', ') || 'none yet';
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`\ndemo: ${err.message}\n`);
    process.exit(1);
  },
);
