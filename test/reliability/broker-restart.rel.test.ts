/**
 * Reliability scenario 3 (issue 9): the Kafka broker stops mid-stream and starts again on the same data directory
 * and port. The hub (four real processes) runs on a broker of this test's own, never the suite's shared one.
 * Pass: nothing lost, and the services resume by themselves: every service process that was started is the one
 * still running afterwards (no restart by the test, no crash). Needs `npm run build` first.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SERVICE_NAMES } from '../../scripts/hub/services';
import { type LocalKafka, startLocalKafka } from '../../scripts/local-kafka';
import { pick } from './profile';
import { recordScenario } from './report';
import {
  createTenant,
  deliveryFigures,
  drain,
  expectNothingLost,
  produceEvents,
  type RelHub,
  sleep,
  startRelHub,
  type Tenant,
  waitUntil,
} from './support/reliability-harness';

jest.setTimeout(pick(300_000, 1_800_000));

describe('broker restart (reliability scenario 3)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'hub-rel-broker-'));
  let broker: LocalKafka | undefined;
  let rel: RelHub | undefined;
  let t: Tenant | undefined;

  afterAll(async () => {
    await rel?.stop();
    await t?.stop();
    await broker?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }, 90_000);

  it('loses nothing when the broker is stopped mid-stream and started again, and every service resumes by itself', async () => {
    broker = await startLocalKafka({ dataDir, heapMb: 384 });
    const brokers = broker.brokers;
    rel = await startRelHub('broker', { kafkaBrokers: brokers });
    const hub = rel.hub;
    await rel.withLogs(async () => {
      t = await createTenant(rel!, ['a', 'b', 'c']);
      const pids = SERVICE_NAMES.map((s) => hub.instances(s)[0]!.child.pid);
      const events = pick(2_000, 50_000);
      const downMs = pick(5_000, 30_000);
      const started = Date.now();
      const stream = produceEvents(rel!, t.tenantId, events, { perSecond: pick(100, 300) });
      await waitUntil('40% of the events sent', () => stream.ids.length >= events * 0.4, 120_000, 50);
      await broker!.stop();
      const stoppedAt = Date.now();
      await sleep(downMs);
      broker = await startLocalKafka({ dataDir, heapMb: 384 });
      const outageMs = Date.now() - stoppedAt;
      await stream.done;
      const r = await drain(rel!, t.targets, stream.ids, pick(180_000, 900_000));
      const samePids = SERVICE_NAMES.map((s) => hub.instances(s)[0]?.child.pid);
      const resumed =
        samePids.every((p, i) => p === pids[i]) && SERVICE_NAMES.every((s) => hub.instances(s)[0]!.child.running);
      const pass =
        r.lost === 0 && r.badSignatures === 0 && r.foreignWebhookIds === 0 && resumed && broker.brokers === brokers;
      recordScenario({
        id: 'broker-restart',
        order: 3,
        title: 'Broker restart mid-stream (same data directory and port)',
        pass,
        figures: {
          events,
          subscriptions: t.targets.length,
          'broker away s': Math.round(outageMs / 100) / 10,
          ...deliveryFigures(r),
          'services resumed by themselves': resumed,
          'run + drain s': Math.round((Date.now() - started) / 1000),
        },
        criteria: '0 lost; every service process resumes by itself (same processes before and after, none restarted)',
      });
      expect(broker.brokers).toBe(brokers);
      expectNothingLost(r);
      expect(samePids).toEqual(pids);
      expect(resumed).toBe(true);
    });
  });
});
