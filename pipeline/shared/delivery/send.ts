/**
 * The one I/O call of a delivery: an undici keep-alive Pool per origin, timeouts, a capped response read,
 * no redirects, and the SSRF guard at connect time (the address connected to is the address checked).
 */
import { Pool } from 'undici';
import { createSafeLookup } from '../net/safe-lookup';

export interface SenderOptions {
  connectTimeoutMs: number;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  /** Upper bound for one whole exchange, so a subscriber trickling a never-ending body cannot hold a slot. */
  totalTimeoutMs: number;
  maxResponseBytes: number;
  connectionsPerOrigin: number;
  allowHosts: string[];
  /** DNS lookup used under the SSRF guard (tests inject one). */
  lookup?: Parameters<typeof createSafeLookup>[1];
}

export const DEFAULT_SENDER: SenderOptions = {
  connectTimeoutMs: 5_000,
  headersTimeoutMs: 10_000,
  bodyTimeoutMs: 10_000,
  totalTimeoutMs: 30_000,
  maxResponseBytes: 64 * 1024,
  connectionsPerOrigin: 32,
  allowHosts: [],
};

export interface SendResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** First bytes of the response body (capped), for diagnostics. */
  snippet: string;
  durationMs: number;
}

export interface HttpRequest {
  url: string;
  method?: 'POST' | 'GET';
  headers: Record<string, string>;
  body?: Buffer | string;
}

export class HttpSender {
  private readonly pools = new Map<string, Pool>();
  private readonly opts: SenderOptions;
  private readonly lookup: ReturnType<typeof createSafeLookup>;

  constructor(opts: Partial<SenderOptions> = {}) {
    this.opts = { ...DEFAULT_SENDER, ...opts };
    this.lookup = createSafeLookup({ allowHosts: this.opts.allowHosts }, this.opts.lookup);
  }

  private pool(origin: string): Pool {
    let p = this.pools.get(origin);
    if (!p) {
      p = new Pool(origin, {
        connections: this.opts.connectionsPerOrigin,
        pipelining: 1,
        keepAliveTimeout: 30_000,
        headersTimeout: this.opts.headersTimeoutMs,
        bodyTimeout: this.opts.bodyTimeoutMs,
        connect: { timeout: this.opts.connectTimeoutMs, lookup: this.lookup as never },
      });
      this.pools.set(origin, p);
    }
    return p;
  }

  /** Throws on network errors (classified by classifyError); any HTTP status is a result. */
  async send(req: HttpRequest): Promise<SendResult> {
    const started = performance.now();
    const url = new URL(req.url);
    const res = await this.pool(url.origin).request({
      path: `${url.pathname}${url.search}`,
      method: req.method ?? 'POST',
      headers: req.headers,
      body: req.body,
      signal: AbortSignal.timeout(this.opts.totalTimeoutMs),
    });
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of res.body) {
        const buf = chunk as Buffer;
        if (size < this.opts.maxResponseBytes) chunks.push(buf.subarray(0, this.opts.maxResponseBytes - size));
        size += buf.length;
        if (size >= this.opts.maxResponseBytes) {
          // Enough for diagnostics: drop the rest (and the socket) instead of reading a huge body.
          res.body.destroy();
          break;
        }
      }
    } catch {
      // The status is what counts; a body cut short is only a shorter snippet.
    }
    return {
      status: res.statusCode,
      headers: res.headers,
      snippet: Buffer.concat(chunks).toString('utf8').slice(0, 512),
      durationMs: Math.round(performance.now() - started),
    };
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.close().catch(() => {})));
    this.pools.clear();
  }
}
