/**
 * A stream client that stops reading vs the webhooks (issue 18: "a client that stops reading is disconnected within
 * the bound, and deliveries to webhooks are unaffected (scenario 5 style: healthy p99 within the bound)").
 *
 *   test producer ─ steady load, 40 events/s of 32 KiB, one tenant ─▶ outbox topic
 *     ├─▶ outbox-processor (in-process harness) ─▶ HTTP subscriber: each event's latency, produce → first receipt
 *     └─▶ GET /v1/stream (the dlt-processor's operator API, in the same process): a healthy WebSocket client, and
 *         a client whose socket is paused right after it opened (it reads nothing)
 *
 *   baseline run (no stream client) ─▶ run with both clients: the load goes on until the slow client was closed and
 *   a tail after that, at least MIN_PAUSED_MS after the pause
 *   ─▶ the slow client is closed by the server (reason `slow`) and sees close code 4008 once it reads again, after a
 *      gapless prefix of the events and no more bytes than the kernel's socket buffers and STREAM_BUFFER_BYTES hold;
 *      every event is delivered to the webhook, the webhook p99 stays within P99_BOUND_MS (the baseline is reported
 *      beside it); the healthy client gets every event in order.
 *
 * Why the bound is absolute and generous: on a shared 2-vCPU box the p99 of a few hundred deliveries moves by
 * hundreds of ms between identical runs (reliability scenario 5 compares with a baseline for that reason, with a
 * 200 ms floor on short runs). What this test must catch is a pipeline held up by a reader: the load runs for
 * MIN_PAUSED_MS and more while the slow client reads nothing, so deliveries stalled behind it would be seconds late.
 * The stream server shares this process's event loop with the outbox-processor here (in production they are
 * separate processes), so even a stream that only blocked its own process would show.
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { CLOSE_SLOW, STREAM_OPENED_TYPE } from '../../pipeline/dlt-processor/routes/stream';
import type { SubscriptionSnapshot } from '../../pipeline/shared/subscriptions/snapshot';
import { anEvent, type Harness, outboxRecord, startHarness } from '../outbox-processor/harness';
import { waitFor } from '../support/kafka';
import { type Receiver, startReceiver } from '../support/receiver';
import { startDltHarness } from './harness';

jest.setTimeout(300_000);

const TENANT = 'slow-stream';
const PER_TICK = 4;
const TICK_MS = 100; // 40 events/s
const PAD_BYTES = 32 * 1024;
const BUFFER_BYTES = 64 * 1024;
const P99_BOUND_MS = 2_500;
const BASELINE_MS = 4_000;
/** The slow client reads nothing for at least this long while the load runs. */
const MIN_PAUSED_MS = 6_000;
/** Load after the slow client was closed. */
const TAIL_MS = 3_000;
/** Give up: the slow client was not closed within this long of load (about 50 MiB of frames). */
const MAX_LOAD_MS = 40_000;

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Most payload bytes the kernel may hold for one loopback connection: the receiver's plus the sender's buffer. */
function kernelBufferBytes(): number {
  const max = (f: string) => Number(readFileSync(`/proc/sys/net/ipv4/${f}`, 'utf8').trim().split(/\s+/)[2]);
  try {
    return max('tcp_rmem') + max('tcp_wmem');
  } catch {
    return 64 * 1024 * 1024; // not Linux: a loose stand-in
  }
}

type Frame = { type: string; id: string; data?: { seq?: number } };

describe('a stream client that stops reading, beside webhook deliveries', () => {
  let hub: Harness;
  let dlt: Awaited<ReturnType<typeof startDltHarness>>;
  let receiver: Receiver;
  let sub: SubscriptionSnapshot;
  let base: string;
  const closed: string[] = [];
  let onSlow: (() => void) | undefined;

  beforeAll(async () => {
    hub = await startHarness();
    receiver = await startReceiver();
    sub = await hub.subscribe({ tenantId: TENANT, endpointUrl: receiver.url });
    dlt = await startDltHarness({
      stage: { kafka: hub.kafka, topics: hub.topics, box: hub.box },
      scheduler: false,
      stream: {
        bufferBytes: BUFFER_BYTES,
        // Pings far apart: a paused client answers none, and this test is about the buffer bound, not heartbeats.
        pingMs: 120_000,
        onClosed: (reason) => {
          closed.push(reason);
          if (reason === 'slow') onSlow?.();
        },
      },
    });
    await dlt.app.listen({ port: 0, host: '127.0.0.1' });
    base = `ws://127.0.0.1:${(dlt.app.server.address() as AddressInfo).port}/v1/stream`;
  });
  afterAll(async () => {
    await dlt?.stop();
    await hub?.stop();
    await receiver?.close();
  });

  /** The first 2xx receipt of each event id at the subscriber. */
  const firstReceipt = () => {
    const at = new Map<string, number>();
    for (const r of receiver.received) {
      const id = String(r.headers['webhook-id']);
      if (!at.has(id)) at.set(id, r.at);
    }
    return at;
  };

  /** Produces PER_TICK events every TICK_MS until `more()` says stop; the send time of each event id, in order. */
  async function load(more: (elapsedMs: number) => boolean, seq0: number): Promise<Map<string, number>> {
    const sentAt = new Map<string, number>();
    const t0 = Date.now();
    for (let tick = 0; more(Date.now() - t0); tick++) {
      const wait = t0 + tick * TICK_MS - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait)); // pacing the load, not waiting for an outcome
      const events = Array.from({ length: PER_TICK }, (_, i) =>
        anEvent({
          extensions: { tenantid: TENANT },
          data: Buffer.from(JSON.stringify({ seq: seq0 + sentAt.size + i, pad: 'x'.repeat(PAD_BYTES) })),
        }),
      );
      const now = Date.now();
      for (const e of events) sentAt.set(e.id, now);
      await hub.producer.send({
        topic: hub.topics.outbox('user-lifecycle'),
        acks: -1,
        messages: events.map((e) => outboxRecord(e, sub.id)),
      });
    }
    return sentAt;
  }

  /** Waits until every event reached the subscriber; their latencies (first receipt minus send time). */
  async function latencies(sentAt: Map<string, number>): Promise<Map<string, number>> {
    const at = await waitFor(
      () => {
        const got = firstReceipt();
        return [...sentAt.keys()].every((id) => got.has(id)) ? got : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 100, what: `all ${sentAt.size} events at the subscriber` },
    );
    return new Map([...sentAt].map(([id, t]) => [id, at.get(id)! - t]));
  }

  async function connect(key: string) {
    const ws = new WebSocket(base, { headers: { authorization: `Bearer ${key}` } });
    const raw: Buffer[] = [];
    let opened = false;
    ws.on('message', (m: Buffer) => {
      if (!opened && (JSON.parse(m.toString()) as Frame).type === STREAM_OPENED_TYPE) opened = true;
      else raw.push(m); // parsed at the end: a client that resumes reading drains its backlog fast
    });
    const closeInfo = new Promise<{ code: number; reason: string; at: number }>((resolve) =>
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString(), at: Date.now() })),
    );
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    await waitFor(() => opened, { what: 'the opened frame' });
    const frames = () => raw.map((m) => JSON.parse(m.toString()) as Frame);
    return { ws, raw, frames, closeInfo };
  }

  it('closes the client that stops reading at its bound (4008) while webhook deliveries stay on time', async () => {
    // Baseline (and warm-up: connections, JIT): the same load with no stream client.
    const baseSent = await load((ms) => ms < BASELINE_MS, 0);
    const baseline = await latencies(baseSent);

    const key = await dlt.tenantKey(TENANT);
    const healthy = await connect(key);
    const slow = await connect(key);
    const socket = (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    socket.pause(); // stops reading: what the server sends piles up in the kernel, then in the server's buffer
    const pausedAt = Date.now();
    let slowClosedAt: number | undefined;
    // Told by the server the moment it gives up on the client: read again, to see the close frame it sent.
    onSlow = () => {
      slowClosedAt ??= Date.now();
      socket.resume();
    };

    const sentAt = await load(
      (ms) =>
        ms < MAX_LOAD_MS &&
        !(slowClosedAt !== undefined && Date.now() - slowClosedAt >= TAIL_MS && Date.now() - pausedAt >= MIN_PAUSED_MS),
      baseSent.size,
    );
    const lat = await latencies(sentAt);
    const ids = [...sentAt.keys()];
    await waitFor(() => healthy.raw.length >= ids.length, {
      timeoutMs: 60_000,
      what: `all ${ids.length} events at the healthy stream client`,
    });
    expect(slowClosedAt).toBeDefined(); // closed within MAX_LOAD_MS of load
    const info = await slow.closeInfo;

    // The slow client: closed by the server as a slow consumer with the documented code, after a gapless prefix.
    expect(closed.filter((r) => r === 'slow')).toHaveLength(1);
    expect({ code: info.code, reason: info.reason }).toEqual({
      code: CLOSE_SLOW,
      reason: expect.stringMatching(/slow consumer/),
    });
    const slowSeqs = slow.frames().map((f) => f.data?.seq);
    const firstSeq = baseSent.size; // the load numbers its events on from the baseline's
    expect(slowSeqs).toEqual(Array.from({ length: slowSeqs.length }, (_, i) => firstSeq + i));
    expect(slowSeqs.length).toBeLessThan(ids.length);
    // Within the bound: no more than the kernel's buffers and the server's own bound (plus one frame) ever waited.
    const slowBytes = slow.raw.reduce((n, m) => n + m.length, 0);
    const frameBytes = Math.max(...healthy.raw.map((m) => m.length));
    expect(slowBytes).toBeLessThanOrEqual(kernelBufferBytes() + BUFFER_BYTES + frameBytes);

    // The healthy client: every event, in order.
    expect(healthy.frames().map((f) => f.id)).toEqual(ids);

    // The webhook: every event delivered, p99 within the bound, also over the events sent while the client sat paused.
    const all = [...lat.values()];
    const whilePaused = ids.filter((id) => sentAt.get(id)! <= slowClosedAt!).map((id) => lat.get(id)!);
    const p99 = percentile(all, 99);
    const p99Paused = percentile(whilePaused, 99);
    console.log(
      `[stream slow client] ${ids.length} events (${(PAD_BYTES / 1024).toFixed(0)} KiB, ${(1000 * PER_TICK) / TICK_MS}/s); ` +
        `slow client closed ${slowClosedAt! - pausedAt} ms after it stopped reading, having ${(slowBytes / 1048576).toFixed(1)} MiB / ` +
        `${slowSeqs.length} frames unread (kernel buffers up to ${(kernelBufferBytes() / 1048576).toFixed(0)} MiB); ` +
        `webhook p50/p99 ms: baseline ${percentile([...baseline.values()], 50)}/${percentile([...baseline.values()], 99)}, ` +
        `with the slow client ${percentile(all, 50)}/${p99} (while it sat paused: ${whilePaused.length} events, p99 ${p99Paused})`,
    );
    expect(whilePaused.length).toBeGreaterThan(0);
    expect(p99).toBeLessThanOrEqual(P99_BOUND_MS);
    expect(p99Paused).toBeLessThanOrEqual(P99_BOUND_MS);
    healthy.ws.close();
  });
});
