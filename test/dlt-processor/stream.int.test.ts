/**
 * `GET /v1/stream` with a real WebSocket client (ws) against the dlt-processor's operator API, on the real broker:
 * a bad key gets 401 before the upgrade; 1,000 events arrive in per-tenant order and another tenant's never do;
 * a resume after a disconnect loses nothing and repeats nothing; a client that stops reading is closed at its buffer
 * bound while another client gets everything; filters and limits answer before the upgrade.
 */
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { STREAM_OPENED_TYPE, STREAM_PROTOCOL } from '../../pipeline/dlt-processor/routes/stream';
import { type HubCloudEvent, toKafkaBinary } from '../../pipeline/shared/cloudevents/envelope';
import { HUB_HEADERS } from '../../pipeline/shared/topics';
import { waitFor } from '../support/kafka';
import { anEvent, startDltHarness } from './harness';

jest.setTimeout(120_000);

type Frame = Record<string, unknown> & {
  type: string;
  streamid: string;
  subscriptionid?: string;
  data?: { seq?: number };
};

describe('GET /v1/stream', () => {
  let h: Awaited<ReturnType<typeof startDltHarness>>;
  let base: string;
  const closed: string[] = [];
  let readersOpen = 0; // stream readers (each a Kafka consumer) open now
  let stopped = false;

  beforeAll(async () => {
    h = await startDltHarness({
      scheduler: false,
      wrapStreamSource: (source) => ({
        async open(o) {
          const reader = await source.open(o);
          readersOpen++;
          return {
            start: reader.start,
            // A consumer's leave can take a while (a loaded broker): this one takes at least 500 ms.
            close: async () => {
              await Promise.all([reader.close(), new Promise((r) => setTimeout(r, 500))]);
              readersOpen--;
            },
          };
        },
      }),
      stream: { bufferBytes: 64 * 1024, maxPerKey: 3, onClosed: (reason) => closed.push(reason) },
    });
    await h.app.listen({ port: 0, host: '127.0.0.1' });
    base = `ws://127.0.0.1:${(h.app.server.address() as AddressInfo).port}/v1/stream`;
  });
  afterAll(async () => {
    if (!stopped) await h?.stop();
  });

  const topic = () => h.topics.outbox('user-lifecycle');
  const record = (e: HubCloudEvent, subscriptionId = 'sub-1') => {
    const tenant = e.extensions.tenantid!;
    return {
      key: tenant,
      partition: 0, // one partition: every tenant's events interleaved in one order, a sentinel after them all
      ...toKafkaBinary(e, {
        [HUB_HEADERS.subscriptionId]: subscriptionId,
        [HUB_HEADERS.tenantId]: tenant,
        [HUB_HEADERS.domain]: 'user-lifecycle',
      }),
    };
  };
  const seqEvent = (tenant: string, seq: number, pad = 0) =>
    anEvent(tenant, { data: Buffer.from(JSON.stringify({ seq, pad: 'x'.repeat(pad) })) });
  const produce = (records: ReturnType<typeof record>[]) =>
    h.producer.send({ topic: topic(), acks: -1, messages: records });

  /** Opens a stream; resolves once its position is fixed (the opened frame). */
  async function connect(key: string, query = '', o: { protocol?: boolean } = {}) {
    const frames: Frame[] = [];
    const ws = o.protocol
      ? new WebSocket(`${base}${query}`, [STREAM_PROTOCOL, `bearer.${key}`])
      : new WebSocket(`${base}${query}`, { headers: { authorization: `Bearer ${key}` } });
    const closeInfo = new Promise<{ code: number; reason: string }>((resolve) =>
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    let opened: Frame | undefined;
    ws.on('message', (m) => {
      const f = JSON.parse(m.toString()) as Frame;
      if (f.type === STREAM_OPENED_TYPE) opened = f;
      else frames.push(f);
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    const start = await waitFor(() => opened, { what: 'the opened frame' });
    const until = (done: (fs: Frame[]) => boolean, what: string) =>
      waitFor(() => done(frames) || undefined, { timeoutMs: 60_000, intervalMs: 20, what });
    return { ws, frames, start, until, closeInfo };
  }

  /** The status answered instead of the upgrade. */
  function refused(url: string, headers: Record<string, string> = {}, protocols?: string[]) {
    return new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(url, protocols, { headers });
      ws.on('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
        ws.terminate();
      });
      ws.on('open', () => reject(new Error('upgraded')));
      ws.on('error', () => {});
    });
  }

  it('a bad or missing key gets 401 before the upgrade; a key in the URL is not one', async () => {
    expect(await refused(base, { authorization: 'Bearer ihk_not_a_key' })).toBe(401);
    expect(await refused(base)).toBe(401);
    expect(await refused(`${base}?apiKey=${h.operatorKey}&key=${h.operatorKey}`)).toBe(401);
    expect(await refused(base, {}, [STREAM_PROTOCOL, 'bearer.ihk_not_a_key'])).toBe(401);
    // a tenant key may not ask for another tenant or for the facts
    const acme = await h.tenantKey('acme');
    expect(await refused(`${base}?tenantId=other`, { authorization: `Bearer ${acme}` })).toBe(403);
    expect(await refused(`${base}?source=facts`, { authorization: `Bearer ${acme}` })).toBe(403);
    expect(await refused(`${base}?lastEventId=bogus`, { authorization: `Bearer ${acme}` })).toBe(400);
  });

  it("1,000 events arrive in per-tenant order; another tenant's never appear", async () => {
    const key = await h.tenantKey('order-a');
    const s = await connect(key, '', { protocol: true }); // the key as the subprotocol
    expect(s.ws.protocol).toBe(STREAM_PROTOCOL);
    const records = [];
    for (let i = 0; i < 1000; i++) {
      records.push(record(seqEvent('order-a', i)));
      if (i % 3 === 0) records.push(record(seqEvent('order-b', i)));
    }
    records.push(record(seqEvent('order-a', 1000))); // the sentinel, after every other tenant's event
    for (let i = 0; i < records.length; i += 200) await produce(records.slice(i, i + 200));
    await s.until((fs) => fs.some((f) => f.data?.seq === 1000), 'the sentinel');
    expect(s.frames.map((f) => f.data?.seq)).toEqual(Array.from({ length: 1001 }, (_, i) => i));
    expect(s.frames.every((f) => f.tenantid === 'order-a' && f.subscriptionid === 'sub-1')).toBe(true);
    s.ws.close();
  });

  it('resumes after a disconnect with lastEventId: nothing lost, nothing repeated', async () => {
    const key = await h.tenantKey('resume-a');
    const first = await connect(key);
    await produce(Array.from({ length: 100 }, (_, i) => record(seqEvent('resume-a', i))));
    await first.until((fs) => fs.length >= 40, '40 frames');
    const last = first.frames[39]!;
    first.ws.terminate(); // gone mid-stream: whatever came after frame 40 is not counted as received
    await produce(Array.from({ length: 100 }, (_, i) => record(seqEvent('resume-a', 100 + i))));
    const again = await connect(key, `?lastEventId=${encodeURIComponent(last.streamid)}`);
    await again.until((fs) => fs.some((f) => f.data?.seq === 199), 'the last event');
    expect(again.frames.map((f) => f.data?.seq)).toEqual(Array.from({ length: 160 }, (_, i) => 40 + i));
    again.ws.close();
  });

  it('closes a client that stops reading at its buffer bound; another client gets every event', async () => {
    const key = await h.tenantKey('slow-a');
    const slow = await connect(key);
    const healthy = await connect(await h.tenantKey('slow-a'));
    (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause(); // stops reading
    const slowBefore = closed.filter((r) => r === 'slow').length;
    // Produce until the server gives up on the slow client (the kernel's socket buffers on loopback take a few MB
    // before the server's own buffer grows), at most 40 MB of frames against a 64 KiB bound.
    let n = 0;
    const isClosed = () => closed.filter((r) => r === 'slow').length > slowBefore;
    while (!isClosed() && n < 5000) {
      await produce(Array.from({ length: 100 }, (_, j) => record(seqEvent('slow-a', n + j, 8000))));
      n += 100;
      await healthy.until((fs) => fs.some((f) => f.data?.seq === n - 1), `the healthy client at ${n}`);
    }
    await waitFor(() => isClosed() || undefined, { timeoutMs: 30_000, what: 'the slow client closed' });
    await healthy.until((fs) => fs.some((f) => f.data?.seq === n - 1), 'the healthy client caught up');
    expect(healthy.frames.map((f) => f.data?.seq)).toEqual(Array.from({ length: n }, (_, i) => i));
    (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    const info = await slow.closeInfo;
    // Either the close frame got through (4008) or the server dropped the connection after its grace period.
    expect([4008, 1006]).toContain(info.code);
    expect(slow.frames.length).toBeLessThan(n);
    healthy.ws.close();
  });

  it('filters by subscription and type; an operator streams any tenant; at most maxPerKey streams per key', async () => {
    const sub = await connect(h.operatorKey, '?tenantId=filter-a&subscriptionId=sub-2&type=user.created');
    await produce([
      record(seqEvent('filter-a', 1), 'sub-1'),
      record(anEvent('filter-a', { type: 'user.deleted', data: Buffer.from('{"seq":2}') }), 'sub-2'),
      record(seqEvent('filter-b', 3), 'sub-2'),
      record(seqEvent('filter-a', 4), 'sub-2'),
    ]);
    await sub.until((fs) => fs.length >= 1, 'a frame');
    expect(sub.frames.map((f) => f.data?.seq)).toEqual([4]);
    const more = [await connect(h.operatorKey), await connect(h.operatorKey)];
    expect(await refused(base, { authorization: `Bearer ${h.operatorKey}` })).toBe(429);
    for (const s of [sub, ...more]) s.ws.close();
  });

  // Last: it stops the service. A reader whose client has just left is still closing its consumer (that takes a
  // second); a stop that did not wait for it left a consumer leaving its group after the process had moved on.
  it('a stop waits for every reader, also those whose client has just left', async () => {
    const key = await h.tenantKey('stop-a');
    const streams = [await connect(key), await connect(key)];
    const before = closed.filter((r) => r === 'client').length;
    for (const s of streams) s.ws.close();
    await waitFor(() => closed.filter((r) => r === 'client').length >= before + 2 || undefined, {
      what: 'the server saw both clients leave',
    });
    expect(readersOpen).toBeGreaterThanOrEqual(2); // still closing
    await h.app.close(); // what a stop does to the API (the harness's stop does more before it)
    expect(readersOpen).toBe(0);
    stopped = true;
    await h.stop();
  });
});
