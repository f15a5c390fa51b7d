/**
 * `HUB_SCHEMA_REGISTRY=local` end to end, through the real command-line tools as a user runs them (their built
 * entry points: `npm start` = dist/scripts/hub.js, `npm run demo` = dist/scripts/demo.js; needs `npm run build`):
 *
 *   launcher: starts a local Apicurio Registry next to the test broker and a fresh Postgres database, prints its URL
 *             (start-up line and summary), writes it to hub.json, hands it to the event-processor; a healthy start
 *             prints no WARN or ERROR.
 *   demo:     registers the platform-event schemas, produces Avro and Protobuf (with the message-index array) to the
 *             ingest topic next to the other formats, and shows them delivered as JSON to its subscriber, with
 *             `dataschema` pointing at the schema in that registry; every event reaches every subscription.
 *   stop:     SIGTERM stops the hub and the registry with it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { SERVICE_NAMES } from '../../scripts/hub/services';
import { createTestDatabase } from '../support/db';
import { waitFor } from '../support/kafka';

// A registry start (about 5 s), four services and the demo's whole story (deliveries, DLT, retries, replay).
jest.setTimeout(240_000);

const ROOT = resolve(__dirname, '..', '..');
const DIST = join(ROOT, 'dist', 'scripts');

/** A built command-line tool as a child process, its output kept. */
function run(script: string, env: Record<string, string | undefined>) {
  const out: string[] = [];
  const child: ChildProcess = spawn(process.execPath, [join(DIST, script)], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const stream of [child.stdout!, child.stderr!]) stream.on('data', (b: Buffer) => out.push(b.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, exited, text: () => out.join('') };
}

describe('the hub with HUB_SCHEMA_REGISTRY=local', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let dataDir: string;
  let hub: ReturnType<typeof run> | undefined;
  const prefix = `reg-${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    if (!existsSync(join(DIST, 'hub.js'))) throw new Error('dist/ is missing: run `npm run build` first');
    db = await createTestDatabase({ migrate: false });
    dataDir = mkdtempSync(join(tmpdir(), 'hub-registry-'));
  });
  afterAll(async () => {
    if (hub?.child.exitCode === null) {
      hub.child.kill('SIGTERM');
      await hub.exited;
    }
    await db?.drop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }, 60_000);

  it('starts the registry, prints and records its URL, and the demo shows Avro and Protobuf delivered as JSON', async () => {
    hub = run('hub.js', {
      // The launcher itself, not its outer signal-forwarding process: the test signals it directly.
      HUB_LAUNCHER_GROUP: '1',
      HUB_SCHEMA_REGISTRY: 'local',
      HUB_DATA_DIR: dataDir,
      HUB_LOG_FORMAT: 'json',
      KAFKA_BROKERS: process.env.KAFKA_BROKERS,
      DATABASE_URL: db.url,
      TOPIC_PREFIX: prefix,
      INGEST_TOPIC: `${prefix}.platform.events.v1`,
      HUB_PARTITIONS: '2',
      ...Object.fromEntries(SERVICE_NAMES.map((n) => [`HUB_${n.toUpperCase().replace(/-/g, '_')}_PORT`, '0'])),
      // What the hub itself would use otherwise (the test run's own registry): the launcher must set it.
      SCHEMA_REGISTRY_URL: undefined,
      TEST_SCHEMA_REGISTRY_URL: undefined,
      // Short schedules so the demo's failure story runs in seconds.
      MAX_ATTEMPTS: '2',
      RETRY_BASE_MS: '100',
      RETRY_MAX_MS: '300',
      SCHEDULER_INTERVAL_MS: '250',
    });
    const h = hub;
    await waitFor(() => h.text().includes('Integration Hub is running.') || h.child.exitCode !== null, {
      what: 'the hub to start',
      timeoutMs: 150_000,
    });
    const startup = h.text();
    expect(h.child.exitCode).toBeNull();
    const url = /hub: schema registry is up at (\S+)/.exec(startup)?.[1];
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/apis\/ccompat\/v7$/);
    expect(startup).toContain(`Registry  ${url}  (local Apicurio Registry`);
    const info = JSON.parse(readFileSync(join(dataDir, 'hub.json'), 'utf8')) as { schemaRegistry?: string };
    expect(info.schemaRegistry).toBe(url);
    expect((await fetch(`${url}/schemas/types`)).status).toBe(200);
    // A healthy start: no service logged a WARN or an ERROR (JSON lines, pino levels 40 and up).
    const loud = startup
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .filter((l) => (JSON.parse(l) as { level: number }).level >= 40);
    expect(loud).toEqual([]);

    // Five events: one per format, Avro and Protobuf included because hub.json names the registry.
    const demo = run('demo.js', { HUB_DATA_DIR: dataDir, DEMO_EVENTS: '5', DEMO_TIMEOUT_S: '90', NO_COLOR: '1' });
    const code = await demo.exited;
    const said = demo.text();
    if (code !== 0) process.stdout.write(`---- demo ----\n${said}\n---- hub ----\n${h.text().slice(-20_000)}\n`);
    expect(code).toBe(0);
    expect(said).toMatch(/platform-event schemas registered \(Avro id \d+, Protobuf id \d+\)/);
    for (const format of ['avro', 'protobuf']) {
      const shown = new RegExp(`${format}\\s+→ application/json\\s+dataschema (\\S+)\\n\\s+(\\{.*\\})`).exec(said);
      expect(shown?.[1]).toMatch(new RegExp(`^${url}/schemas/ids/\\d+$`));
      expect(JSON.parse(shown![2]!)).toMatchObject({ actor: 'demo' });
    }
    expect(said).toContain('every event was delivered or replayed');

    h.child.kill('SIGTERM');
    expect(await h.exited).toBe(0);
    expect(h.text()).toContain('hub: stopping the schema registry');
    await expect(fetch(`${url}/schemas/types`)).rejects.toThrow();
  });
});
