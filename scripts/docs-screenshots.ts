/**
 * `npm run docs:screenshots`: regenerates the console screenshots the README shows (docs/console/*.png).
 *
 *   a throw-away hub (temporary data folder, local broker, embedded Postgres, ephemeral ports)
 *   -> a tenant with two subscriptions on a local subscriber: `crm` answers 2xx, `billing` answers 500
 *   -> a dozen events over HTTP ingest -> billing's deliveries exhaust their (short) schedule: FAILED
 *   -> headless Chromium (Debian's package) signs in with the operator key and takes overview, event, failures
 *   -> everything stopped, the temporary folder removed.
 *
 * Environment: KAFKA_BROKERS / DATABASE_URL to use a running broker / Postgres instead; SCREENSHOTS_DIR (docs/console).
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateApiKey } from '../pipeline/shared/auth/api-key';
import { generateHubKeySpec } from '../pipeline/shared/crypto/secret-box';
import { launchChromium } from './console/browser';
import { startDemoSubscriber } from './demo/demo-subscriber';
import { hubClient, waitUntil } from './demo/hub-client';
import { asStructuredCloudEvent, DEMO_EVENT_TYPES, sampleEvent } from './demo/sample-events';
import { findRoot, startHub } from './hub/start-hub';

const say = (s: string) => process.stdout.write(`${s}\n`);
const ALL = { sourceService: '*', eventType: '*', resourceType: '*', operationType: '*' };

async function main(): Promise<void> {
  const root = findRoot();
  const outDir = process.env.SCREENSHOTS_DIR ?? join(root, 'docs', 'console');
  mkdirSync(outDir, { recursive: true });
  const dataDir = mkdtempSync(join(tmpdir(), 'hub-screenshots-'));
  const lastLines: string[] = [];
  say('screenshots: starting a throw-away hub (local broker and Postgres unless KAFKA_BROKERS / DATABASE_URL)…');
  const hub = await startHub({
    dataDir,
    kafkaBrokers: process.env.KAFKA_BROKERS,
    kafkaPort: 0,
    databaseUrl: process.env.DATABASE_URL,
    topicPrefix: `shots-${randomUUID().slice(0, 8)}`,
    ports: { 'subscription-api': 0, 'event-processor': 0, 'outbox-processor': 0, 'dlt-processor': 0 },
    secrets: { HUB_ENCRYPTION_KEYS: generateHubKeySpec('shots'), OPERATOR_API_KEY: generateApiKey() },
    lock: false,
    writeInfo: false,
    onServiceExit: 'stop',
    env: { MAX_ATTEMPTS: '2', RETRY_BASE_MS: '100', RETRY_MAX_MS: '300', SCHEDULER_INTERVAL_MS: '250' },
    logSink: (service, line) => {
      lastLines.push(`${service} ${line}`);
      if (lastLines.length > 200) lastLines.shift();
    },
    log: say,
  });
  const subscriber = await startDemoSubscriber();
  const browser = await launchChromium().catch(async (err) => {
    await subscriber.stop();
    await hub.stop();
    throw err;
  });
  try {
    const urls = {
      subscriptionApi: hub.urls['subscription-api'].url,
      eventApi: hub.urls['event-processor'].url,
      dltApi: hub.urls['dlt-processor'].url,
    };
    const operator = hubClient(urls, hub.operatorApiKey);
    const tenantId = 'acme';
    const tenant = hubClient(urls, (await operator.createApiKey({ name: 'acme', role: 'TENANT', tenantId })).key);
    for (const et of DEMO_EVENT_TYPES) await operator.ensureEventType(et);
    const crm = await tenant.createSubscription({
      description: 'CRM sync',
      match: ALL,
      endpointUrl: subscriber.endpointUrl('crm'),
    });
    const billing = await tenant.createSubscription({
      description: 'Billing (endpoint down)',
      match: ALL,
      endpointUrl: subscriber.endpointUrl('billing'),
      retrySchedule: ['1s', '2s'],
    });
    subscriber.configure('crm', { secret: crm.signingSecret });
    subscriber.configure('billing', { secret: billing.signingSecret, failing: true });
    say('screenshots: sending events until both subscriptions are live, then a dozen more…');
    let n = 0;
    await waitUntil(
      'the first delivery to crm',
      async () => {
        await tenant.ingest(asStructuredCloudEvent(sampleEvent(n++, tenantId, 'http')));
        return subscriber.receipts('crm').some((r) => r.status < 300);
      },
      60_000,
      700,
    );
    for (let i = 0; i < 12; i++) await tenant.ingest(asStructuredCloudEvent(sampleEvent(n++, tenantId, 'http')));
    const failed = await waitUntil(
      'billing deliveries FAILED',
      async () => {
        const items = await operator.listFailedEvents({ tenantId, status: 'FAILED' });
        return items.length >= 5 ? items : undefined;
      },
      90_000,
      500,
    );

    const page = await (await browser.newContext({ viewport: { width: 1280, height: 860 } })).newPage();
    const consoleUrl = `${urls.dltApi}/console`;
    await page.goto(consoleUrl);
    await page.getByLabel('API key').fill(hub.operatorApiKey);
    await page.getByLabel('API key').press('Enter');
    await page.getByTestId('count-FAILED').waitFor();
    await page.screenshot({ path: join(outDir, 'overview.png'), fullPage: true });
    const eventId = failed[0]!.eventId;
    await page.evaluate(`location.hash = ${JSON.stringify(`#/events/${eventId}`)}`);
    await page.locator('article.delivery').nth(1).waitFor();
    await page.screenshot({ path: join(outDir, 'event.png'), fullPage: true });
    await page.evaluate(`location.hash = '#/failures/status/FAILED'`);
    await page.locator('tr[data-failure]').first().waitFor();
    await page.screenshot({ path: join(outDir, 'failures.png'), fullPage: true });
    say(`screenshots: wrote overview.png, event.png and failures.png to ${outDir}`);
  } catch (err) {
    say(`---- hub logs (last lines) ----\n${lastLines.slice(-60).join('\n')}`);
    throw err;
  } finally {
    await browser.close();
    await subscriber.stop();
    await hub.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(
      `screenshots failed: ${(err as Error).message}\nWhat to do: check the lines above; the hub needs Java (local broker) or KAFKA_BROKERS, and Chromium (apt-get install -y chromium).\n`,
    );
    process.exit(1);
  },
);
