/**
 * Reliability scenarios 1, 2, 5 and 6 (issue 9): process-level faults against the hub running as four real
 * processes (the launcher's child processes from dist/), the suite's real broker, a fresh Postgres database and
 * real HTTP subscribers. One hub serves the four scenarios one after another (starting one costs ~20 s on a 2-core
 * box); each scenario has its own tenant, subscriptions and subscribers, so its figures count only its own events.
 *
 *   1 hard kills         SIGKILL event-processor and outbox-processor in turn while events stream; restart each
 *   2 rolling restarts   SIGTERM every service in turn (graceful drain), while events stream
 *   6 rebalance          outbox-processor instances 1 -> 3 -> 1 while events stream
 *   5 head-of-line       a hanging and a 50%-failing subscriber beside healthy ones, against a run without them
 *
 * Needs `npm run build` first.
 */
import type { ServiceName } from '../../scripts/hub/services';
import { pick } from './profile';
import { recordScenario } from './report';
import {
  account,
  configure,
  cpuBetween,
  cpuSample,
  createTenant,
  deliveryFigures,
  drain,
  expectNothingLost,
  percentile,
  produceEvents,
  RELIABILITY_ENV,
  type RelHub,
  sleep,
  startRelHub,
  type Target,
  type Tenant,
  waitUntil,
} from './support/reliability-harness';

jest.setTimeout(pick(300_000, 3_600_000));

describe('process-level faults (reliability scenarios 1, 2, 5, 6)', () => {
  let rel: RelHub;
  const tenants: Tenant[] = [];

  beforeAll(async () => {
    rel = await startRelHub('proc');
  }, 180_000);

  // A scenario's receivers keep every receipt (bodies included). Drop them after each scenario, so the test
  // process's heap, and with it its GC pauses (which delay receive timestamps), does not grow from one to the next.
  afterEach(async () => {
    await Promise.all(tenants.splice(0).map((t) => t.stop()));
  }, 60_000);

  afterAll(async () => {
    await rel?.stop();
  }, 60_000);

  const tenant = async (names: string[]) => {
    const t = await createTenant(rel, names);
    tenants.push(t);
    return t;
  };

  /** Runs `step(i)` when the stream has sent `at[i]` events, one step after the other. */
  const schedule = async (sent: () => number, at: number[], step: (i: number) => Promise<void>) => {
    for (const [i, threshold] of at.entries()) {
      await waitUntil(`${threshold} events sent`, () => sent() >= threshold, 600_000, 50);
      await step(i);
    }
  };

  it('loses nothing when the event-processor and the outbox-processor are SIGKILLed mid-stream (scenario 1)', () =>
    rel.withLogs(async () => {
      const events = pick(3_000, 100_000);
      const killsEach = pick(2, 5);
      const t = await tenant(['a', 'b', 'c']);
      const started = Date.now();
      const stream = produceEvents(rel, t.tenantId, events, { perSecond: pick(150, 400) });
      // Kills spread over the stream, alternating the two processors; each is restarted at once (as a supervisor
      // would) and the next kill waits until it is ready again.
      const order: ServiceName[] = [];
      for (let i = 0; i < killsEach; i++) order.push('event-processor', 'outbox-processor');
      const at = order.map((_, i) => Math.floor(((i + 1) / (order.length + 1)) * events));
      await schedule(
        () => stream.ids.length,
        at,
        async (i) => {
          await rel.hub.restart(order[i]!, 0, 'SIGKILL');
        },
      );
      await stream.done;
      const r = await drain(rel, t.targets, stream.ids, pick(180_000, 900_000));
      const pass = r.lost === 0 && r.foreignWebhookIds === 0 && r.badSignatures === 0;
      recordScenario({
        id: 'hard-kills',
        order: 1,
        title: 'SIGKILL event-processor and outbox-processor mid-stream',
        pass,
        figures: {
          events,
          subscriptions: t.targets.length,
          'SIGKILLs (event-processor + outbox-processor)': `${killsEach} + ${killsEach}`,
          ...deliveryFigures(r),
          'run + drain s': Math.round((Date.now() - started) / 1000),
        },
        criteria:
          '0 lost (every pair received with a valid signature or parked as a replayable DLT row); every duplicate carries the same webhook-id (the event id); duplicates reported (target < 1%)',
      });
      expectNothingLost(r);
    }));

  it('loses and duplicates nothing when every service is restarted with SIGTERM in turn (scenario 2)', () =>
    rel.withLogs(async () => {
      const rounds = pick(1, 3);
      const events = pick(2_000, 30_000);
      const services: ServiceName[] = ['subscription-api', 'event-processor', 'outbox-processor', 'dlt-processor'];
      const t = await tenant(['a', 'b', 'c']);
      const started = Date.now();
      const stream = produceEvents(rel, t.tenantId, events, { perSecond: pick(80, 150) });
      const steps = rounds * services.length;
      const at = Array.from({ length: steps }, (_, i) => Math.floor(((i + 1) / (steps + 2)) * events));
      await schedule(
        () => stream.ids.length,
        at,
        async (i) => {
          await rel.hub.restart(services[i % services.length]!, 0, 'SIGTERM');
        },
      );
      await stream.done;
      const r = await drain(rel, t.targets, stream.ids, pick(120_000, 600_000));
      const pass = r.lost === 0 && r.duplicates === 0 && r.badSignatures === 0;
      recordScenario({
        id: 'rolling-restarts',
        order: 2,
        title: 'Clean rolling restarts (SIGTERM each service in turn)',
        pass,
        figures: {
          events,
          subscriptions: t.targets.length,
          rounds,
          restarts: steps,
          ...deliveryFigures(r),
          'run + drain s': Math.round((Date.now() - started) / 1000),
        },
        criteria: '0 lost, 0 duplicates',
      });
      expectNothingLost(r);
      expect(r.duplicates).toBe(0);
    }));

  it('loses nothing while the outbox-processor is scaled 1 -> 3 -> 1 instances (scenario 6)', () =>
    rel.withLogs(async () => {
      const events = pick(3_000, 60_000);
      const t = await tenant(['a', 'b', 'c']);
      const started = Date.now();
      const stream = produceEvents(rel, t.tenantId, events, { perSecond: pick(150, 400) });
      const added: number[] = [];
      const steps: (() => Promise<void>)[] = [
        async () => void added.push((await rel.hub.addInstance('outbox-processor')).id),
        async () => void added.push((await rel.hub.addInstance('outbox-processor')).id),
        () => rel.hub.removeInstance('outbox-processor', added[0]!),
        () => rel.hub.removeInstance('outbox-processor', added[1]!),
      ];
      let peak = 1;
      await schedule(
        () => stream.ids.length,
        [0.1, 0.3, 0.6, 0.8].map((f) => Math.floor(f * events)),
        async (i) => {
          await steps[i]!();
          peak = Math.max(peak, rel.hub.instances('outbox-processor').length);
        },
      );
      await stream.done;
      const r = await drain(rel, t.targets, stream.ids, pick(180_000, 900_000));
      const final = rel.hub.instances('outbox-processor').length;
      const pass = r.lost === 0 && r.foreignWebhookIds === 0 && r.badSignatures === 0 && peak === 3 && final === 1;
      recordScenario({
        id: 'rebalance',
        order: 6,
        title: 'Rebalance: outbox-processor scaled 1 -> 3 -> 1 mid-stream',
        pass,
        figures: {
          events,
          subscriptions: t.targets.length,
          'instances (peak, final)': `${peak}, ${final}`,
          ...deliveryFigures(r),
          'run + drain s': Math.round((Date.now() - started) / 1000),
        },
        criteria: '0 lost; duplicates reported; every duplicate carries the same webhook-id',
      });
      expect(peak).toBe(3);
      expect(final).toBe(1);
      expectNothingLost(r);
    }));

  it('keeps healthy subscribers on time beside a hanging and a 50%-failing one (scenario 5)', () =>
    rel.withLogs(async () => {
      const events = pick(900, 12_000);
      const perSecond = pick(40, 100);
      // Both processes that send to subscribers cap the requests open to one endpoint: the outbox-processor
      // (one instance here) and the dlt-processor's retries. Together they may hold both caps at once.
      const cap = Number(RELIABILITY_ENV.PER_ENDPOINT_CONCURRENCY) * 2;
      const healthy = ['h1', 'h2', 'h3'];
      // "A run without them" has the same shape: five subscriptions, the two in the bad ones' place healthy too.
      // So the comparison isolates how the hanging and the failing subscriber behave, not that two more
      // subscriptions (two more deliveries per event) exist.
      const standIns = ['h4', 'h5'];
      // The first seconds of a run are not steady state: new endpoints get their first connections, and a
      // breaker needs failed requests (BREAKER_MIN_REQUESTS, each waiting out the header timeout) before it trips.
      // The compared p99 is over events sent after this; the whole run's p99 is reported beside it.
      const warmupMs = 3_000;

      /** One run of the load for a tenant: p99 of each healthy pair's first 2xx receipt minus its send time. */
      const run = async (t: Tenant, targets: Target[]) => {
        const cpuAtStart = cpuSample(rel);
        const stream = produceEvents(rel, t.tenantId, events, { perSecond });
        await stream.done;
        const cpu = cpuBetween(cpuAtStart, cpuSample(rel));
        const figures = await drain(rel, targets, stream.ids, 120_000, 1_000);
        const t0 = Math.min(...stream.sentAt.values());
        const latencies: number[] = [];
        const steady: number[] = [];
        for (const name of healthy) {
          const first = new Map<string, number>();
          for (const r of t.target(name).receiver.receipts(name)) {
            const id = r.ce.id ?? r.webhookId;
            if (r.status < 300 && stream.sentAt.has(id) && !first.has(id)) first.set(id, r.receivedAt.getTime());
          }
          for (const [id, at] of first) {
            const sent = stream.sentAt.get(id)!;
            latencies.push(at - sent);
            if (sent - t0 >= warmupMs) steady.push(at - sent);
          }
        }
        // REL_DEBUG=1: h1's p50/p99 per second of the run, to tell a warm-up spike from a backlog that builds up.
        if (process.env.REL_DEBUG) {
          const bySecond = new Map<number, number[]>();
          for (const r of t.target('h1').receiver.receipts('h1')) {
            const sent = stream.sentAt.get(r.ce.id ?? r.webhookId);
            if (r.status >= 300 || sent === undefined) continue;
            const k = Math.floor((sent - t0) / 1000);
            bySecond.set(k, [...(bySecond.get(k) ?? []), r.receivedAt.getTime() - sent]);
          }
          const line = [...bySecond]
            .sort((a, b) => a[0] - b[0])
            .map(([k, v]) => `${k}:${percentile(v, 50)}/${percentile(v, 99)}`);
          process.stdout.write(`[debug] ${t.targets.length} targets h1 ${line.join(' ')}\n`);
        }
        const hubCpuSec = Math.round(Object.values(cpu.serviceCpuSec).reduce((a, b) => a + b, 0) * 10) / 10;
        return {
          figures,
          p99: percentile(steady, 99),
          p99All: percentile(latencies, 99),
          stream,
          cpu: `${cpu.boxBusyPct}% / ${hubCpuSec} s`,
        };
      };

      // The outbox-processor's /metrics is scraped every 200 ms through all runs (baselines included), so the
      // scrapes' cost is the same on both sides of the comparison; breaker states count only during the bad run.
      const seen = { open: 0, halfOpen: 0, inFlight: 0 };
      let badRun = false;
      let watching = true;
      const watcher = (async () => {
        while (watching) {
          for (const inst of rel.hub.instances('outbox-processor')) {
            const text = await fetch(`${inst.url}/metrics`)
              .then((res) => res.text())
              .catch(() => '');
            const gauge = (state: string) =>
              Number(new RegExp(`^hub_outbox_breakers\\{state="${state}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
            if (badRun) {
              seen.open = Math.max(seen.open, gauge('open'));
              seen.inFlight = Math.max(seen.inFlight, Number(/^hub_outbox_in_flight (\d+)/m.exec(text)?.[1] ?? 0));
              seen.halfOpen = Math.max(seen.halfOpen, gauge('half-open'));
            }
          }
          await sleep(200);
        }
      })();

      // Baseline runs (healthy subscribers only) before and after the run with the bad subscribers: the box's
      // noise moves between runs, so the bad run is compared with the slower of the two runs around it. A first,
      // unmeasured run warms the hub up (JIT, connections, pools): on a fresh hub the first run is the slowest.
      const base = await tenant([...healthy, ...standIns]);
      await run(base, base.targets);
      const before = await run(base, base.targets);

      const t = await tenant([...healthy, 'hang', 'flaky']);
      configure(t.target('hang'), { hanging: true });
      configure(t.target('flaky'), { failRatio: 0.5 });
      badRun = true;
      // Everything sent to the hanging and the flaky subscriber must be delivered or parked in the DLT too.
      const bad = await run(t, t.targets);
      const healthyLost = (
        await account(
          rel,
          healthy.map((n) => t.target(n)),
          bad.stream.ids,
        )
      ).lost;
      // The breaker keeps cycling while the hanging subscriber is tried: give the watcher a little longer.
      await waitUntil('the breaker seen open and half-open', () => seen.open > 0 && seen.halfOpen > 0, 15_000).catch(
        () => undefined,
      );
      badRun = false;
      const hangMax = t.target('hang').receiver.concurrency('hang').max;

      const after = await run(base, base.targets);
      watching = false;
      await watcher;
      const baseP99 = Math.max(before.p99, after.p99);
      // Long profile: the issue's bound, 10%. Short profile (CI): 10% or 200 ms, whichever is larger. Its ~2,700
      // samples per run give a p99 that moves by up to 30% between identical baseline runs on this box, so it can
      // only catch gross head-of-line blocking (a partition held up behind the hanging endpoint costs seconds).
      const floorMs = pick(200, 0);
      const bound = Math.max(baseP99 * 1.1, baseP99 + floorMs);
      const lost = before.figures.lost + after.figures.lost + bad.figures.lost;
      const pass =
        bad.p99 <= bound && hangMax <= cap && hangMax > 0 && seen.open > 0 && seen.halfOpen > 0 && lost === 0;
      recordScenario({
        id: 'head-of-line',
        order: 5,
        title: 'Head-of-line: a hanging and a 50%-failing subscriber among healthy ones',
        pass,
        figures: {
          'events per run': events,
          'events/s': perSecond,
          'healthy p99 ms (baseline before, after)': `${before.p99}, ${after.p99}`,
          'healthy p99 ms (with bad subscribers)': bad.p99,
          'healthy p99 ms, whole runs incl. warm-up (before, bad, after)': `${before.p99All}, ${bad.p99All}, ${after.p99All}`,
          'p99 bound ms': Math.round(bound),
          'machine CPU busy / hub services CPU s while sending (before, bad, after)': `${before.cpu}, ${bad.cpu}, ${after.cpu}`,
          'hanging: max concurrent requests': hangMax,
          'per-endpoint cap (outbox + dlt-processor)': cap,
          'outbox max in-flight': seen.inFlight,
          'breaker seen open': seen.open > 0,
          'breaker seen half-open': seen.halfOpen > 0,
          'hanging + flaky parked in DLT': bad.figures.parked,
          lost,
        },
        criteria: `healthy p99 (events sent after the first ${warmupMs / 1000} s of each run) within 10%${floorMs ? ` (short profile: or ${floorMs} ms)` : ''} of the slower of the two baseline runs around it (the same five subscriptions, all healthy); the hanging subscriber never holds more requests than the per-endpoint caps of the outbox-processor and the dlt-processor together; its breaker seen open and half-open on the outbox-processor's /metrics; nothing lost`,
      });
      expect(lost).toBe(0);
      expect(healthyLost).toBe(0);
      expect(bad.p99).toBeLessThanOrEqual(bound);
      expect(hangMax).toBeGreaterThan(0);
      expect(hangMax).toBeLessThanOrEqual(cap);
      expect(seen.open).toBeGreaterThan(0);
      expect(seen.halfOpen).toBeGreaterThan(0);
    }));
});
