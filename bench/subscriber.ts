/**
 * Minimal benchmark subscriber in its own process: answers 204 (or 500 while failing: FAIL=1 or the `fail` IPC
 * message), records receive times. Reports over IPC: { count, unique, latencies (receive time - event time from
 * the `ce-time` header, else `x-sent-at`) }; counts only answered-2xx requests as unique deliveries. A batched
 * delivery (`application/cloudevents-batch+json`) counts each of its events (by its `id`, latency from its `time`).
 */
import { createServer } from 'node:http';

let fail = process.env.FAIL === '1';
const seen = new Set<string>();
const latencies: number[] = [];
let count = 0;
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const now = Date.now();
    count++;
    if (fail) {
      res.writeHead(500).end();
      return;
    }
    const sub = (req.url ?? '/').slice(1);
    if (String(req.headers['content-type'] ?? '').startsWith('application/cloudevents-batch+json')) {
      for (const e of JSON.parse(Buffer.concat(chunks).toString()) as { id: string; time?: string }[]) {
        const key = `${e.id}|${sub}`;
        if (seen.has(key)) continue;
        seen.add(key);
        if (e.time) latencies.push(now - Date.parse(e.time));
      }
      res.writeHead(204).end();
      return;
    }
    const id = (req.headers['webhook-id'] as string) ?? (req.headers['x-id'] as string) ?? '';
    const key = `${id}|${sub}`;
    if (!seen.has(key)) {
      seen.add(key);
      const sentAt = Number(req.headers['x-sent-at'] ?? Number.NaN);
      const time = req.headers['ce-time'] ? Date.parse(req.headers['ce-time'] as string) : sentAt;
      if (!Number.isNaN(time)) latencies.push(now - time);
    }
    res.writeHead(204).end();
  });
});
server.keepAliveTimeout = 30_000;
server.listen(0, '127.0.0.1', () => {
  process.send?.({ type: 'listening', port: (server.address() as { port: number }).port });
});
process.on('message', (m: { type: string; on?: boolean }) => {
  if (m.type === 'fail') {
    fail = m.on === true;
    process.send?.({ type: 'fail' });
  }
  if (m.type === 'report') process.send?.({ type: 'report', count, unique: seen.size, latencies });
  if (m.type === 'reset') {
    count = 0;
    seen.clear();
    latencies.length = 0;
    process.send?.({ type: 'reset' });
  }
});
