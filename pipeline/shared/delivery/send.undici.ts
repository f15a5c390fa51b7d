/**
 * The one I/O call of a delivery: the undici adapter of `Sender` (send.ts).
 *
 * - One keep-alive `Pool` per origin, at most `connectionsPerOrigin` sockets; pools idle for `poolIdleMs` are
 *   closed so a hub that delivered to many endpoints once does not keep their sockets forever.
 * - Timeouts: connect, response headers, body (between chunks), and one bound on the whole exchange so a
 *   subscriber trickling a never-ending body cannot hold a slot.
 * - The response body is read up to `maxResponseBytes` (64 KiB); past that the socket is dropped.
 * - Redirects are never followed (a 3xx is a result, classified as a failure).
 * - SSRF guard at connect time: the socket connects through a `lookup` that checks every resolved address with
 *   the shared policy (`net/ssrf-policy.ts`), so the address connected to is the address checked and DNS
 *   rebinding cannot reach an internal host. IP literals never reach a lookup, so they are checked here first.
 */
import { setMaxListeners } from 'node:events';
import { Pool } from 'undici';
import { BlockedAddressError, createSafeLookup } from '../net/safe-lookup';
import { checkAddress, classifyIp } from '../net/ssrf-policy';
import type { HttpRequest, Sender, SenderOptions, SendResult } from './send';

export const DEFAULT_SENDER: SenderOptions = {
  connectTimeoutMs: 5_000,
  headersTimeoutMs: 10_000,
  bodyTimeoutMs: 10_000,
  totalTimeoutMs: 30_000,
  maxResponseBytes: 64 * 1024,
  connectionsPerOrigin: 32,
  poolIdleMs: 60_000,
  allowHosts: [],
};

/** Characters of the response kept for diagnostics (DLT header, attempt history). */
export const SNIPPET_CHARS = 512;

/** A parsed endpoint URL: where to send, or why not (`'scheme'`: not http(s), `origin` then holds the scheme). */
interface Target {
  origin: string;
  path: string;
  refused: string | undefined;
}

/** Endpoint URLs remembered parsed at most (see `HttpSender.target`). */
const TARGETS_MAX = 10_000;

interface PoolEntry {
  pool: Pool;
  lastUsed: number;
  active: number;
}

export class HttpSender implements Sender {
  private readonly pools = new Map<string, PoolEntry>();
  private readonly targets = new Map<string, Target>();
  private readonly opts: SenderOptions;
  private readonly lookup: ReturnType<typeof createSafeLookup>;
  private readonly sweeper: NodeJS.Timeout;
  /** The deadline slot requests join (see `deadlineSignal`). */
  private slot: { signal: AbortSignal; endsAt: number } | undefined;

  constructor(opts: Partial<SenderOptions> = {}) {
    this.opts = { ...DEFAULT_SENDER, ...opts };
    this.lookup = createSafeLookup({ allowHosts: this.opts.allowHosts }, this.opts.lookup);
    this.sweeper = setInterval(() => this.closeIdle(), Math.max(1000, Math.floor(this.opts.poolIdleMs / 2)));
    this.sweeper.unref();
  }

  /**
   * The whole-exchange bound (`totalTimeoutMs`), rejecting as AbortSignal.timeout would (a DOMException named
   * TimeoutError). Requests started within the same slot (1% of the bound, at most 250 ms) share one controller and
   * one timer, which fires `totalTimeoutMs` after the slot's end: each request is bounded at `totalTimeoutMs` to 1%
   * more. undici removes a request's abort listener when its response ends, so a slot's signal holds only requests
   * still running. One AbortSignal.timeout per request kept its signal and timer for the whole bound (~1.1 KB of heap
   * each, ~130 MB at 4,000 deliveries/s); one controller and timer per request, with the URL parsed each time, made a
   * request cost 61.5-66.7 µs of CPU here against 36.5-43.0 now (BENCHMARKS.md, 2026-12-02, 16:25 and 21:30 sections).
   */
  private deadlineSignal(): AbortSignal {
    const now = performance.now();
    let slot = this.slot;
    if (slot === undefined || now >= slot.endsAt) {
      const slotMs = Math.max(1, Math.min(250, Math.floor(this.opts.totalTimeoutMs / 100)));
      const controller = new AbortController();
      // Thousands of requests may wait on one slot's signal: not a leak (Node warns past 10 listeners otherwise).
      setMaxListeners(0, controller.signal);
      slot = this.slot = { signal: controller.signal, endsAt: now + slotMs };
      setTimeout(
        () => controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError')),
        this.opts.totalTimeoutMs + slotMs,
      ).unref();
    }
    return slot.signal;
  }

  /**
   * An endpoint URL parsed and its literal checked, remembered: a hub sends to the same few endpoints over and over,
   * and parsing each request's URL was ~1% of the outbox-processor's CPU. (A host name is still checked per connect,
   * by the lookup.) Forgotten all at once past TARGETS_MAX URLs.
   */
  private target(raw: string): Target {
    const known = this.targets.get(raw);
    if (known !== undefined) return known;
    const url = new URL(raw);
    let target: Target;
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      target = { origin: url.protocol, path: '', refused: 'scheme' };
    else {
      target = { origin: url.origin, path: `${url.pathname}${url.search}`, refused: undefined };
      const host = url.hostname.replace(/^\[|\]$/g, '');
      // net.connect does not call `lookup` for an IP literal: check the literal itself.
      if (classifyIp(host)) {
        const check = checkAddress(host, host, { allowHosts: this.opts.allowHosts });
        if (!check.ok) target.refused = check.reason;
      }
    }
    if (this.targets.size >= TARGETS_MAX) this.targets.clear();
    this.targets.set(raw, target);
    return target;
  }

  /** Origins with an open pool (metrics, tests). */
  origins(): string[] {
    return [...this.pools.keys()];
  }

  private pool(origin: string): PoolEntry {
    let entry = this.pools.get(origin);
    if (!entry) {
      const pool = new Pool(origin, {
        connections: this.opts.connectionsPerOrigin,
        pipelining: 1,
        keepAliveTimeout: 30_000,
        keepAliveMaxTimeout: 60_000,
        headersTimeout: this.opts.headersTimeoutMs,
        bodyTimeout: this.opts.bodyTimeoutMs,
        connect: { timeout: this.opts.connectTimeoutMs, lookup: this.lookup as never },
      });
      entry = { pool, lastUsed: Date.now(), active: 0 };
      this.pools.set(origin, entry);
    }
    return entry;
  }

  private closeIdle(): void {
    const cutoff = Date.now() - this.opts.poolIdleMs;
    for (const [origin, entry] of this.pools) {
      if (entry.active === 0 && entry.lastUsed < cutoff) {
        this.pools.delete(origin);
        void entry.pool.close().catch(() => {});
      }
    }
  }

  async send(req: HttpRequest): Promise<SendResult> {
    const started = performance.now();
    const target = this.target(req.url);
    if (target.refused === 'scheme')
      throw Object.assign(new Error(`unsupported URL scheme ${target.origin}`), { code: 'ERR_INVALID_URL' });
    if (target.refused !== undefined) throw new BlockedAddressError(target.refused);
    const entry = this.pool(target.origin);
    entry.active++;
    entry.lastUsed = Date.now();
    try {
      const res = await entry.pool.request({
        path: target.path,
        method: req.method ?? 'POST',
        headers: req.headers,
        body: req.body,
        signal: this.deadlineSignal(),
      });
      const chunks: Buffer[] = [];
      let size = 0;
      let truncated = false;
      try {
        for await (const chunk of res.body) {
          const buf = chunk as Buffer;
          const room = this.opts.maxResponseBytes - size;
          if (buf.length > room) {
            chunks.push(buf.subarray(0, room));
            size += room;
            truncated = true;
            // Enough: drop the rest, and with it the connection, instead of reading a huge or endless body.
            res.body.destroy();
            break;
          }
          chunks.push(buf);
          size += buf.length;
        }
      } catch {
        // The status is what counts; a body cut short (timeout, reset) is only a shorter snippet.
        truncated = true;
      }
      const body = Buffer.concat(chunks, size);
      return {
        status: res.statusCode,
        headers: res.headers,
        body,
        snippet: body
          .subarray(0, SNIPPET_CHARS * 4)
          .toString('utf8')
          .slice(0, SNIPPET_CHARS),
        truncated,
        durationMs: Math.round(performance.now() - started),
      };
    } finally {
      entry.active--;
      entry.lastUsed = Date.now();
    }
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    const all = [...this.pools.values()];
    this.pools.clear();
    // Let requests in flight finish for a moment, then cut them (a hanging subscriber must not block shutdown).
    await Promise.all(
      all.map(async (e) => {
        const closed = e.pool.close().then(
          () => true,
          () => false,
        );
        const timer = new Promise<false>((r) => setTimeout(() => r(false), 1000).unref());
        if (!(await Promise.race([closed, timer]))) await e.pool.destroy().catch(() => {});
      }),
    );
  }
}
