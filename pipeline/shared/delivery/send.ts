/**
 * Port of the one I/O call of a delivery: what delivery needs from HTTP (`Sender`), its request and result, and the
 * sender's options. The adapter is `send.undici.ts` (`HttpSender`).
 */
import type { createSafeLookup } from '../net/safe-lookup';

export interface SenderOptions {
  connectTimeoutMs: number;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  /** Upper bound for one whole exchange (connect to last body byte read). */
  totalTimeoutMs: number;
  maxResponseBytes: number;
  connectionsPerOrigin: number;
  /** Close an origin's pool after this long without a request. */
  poolIdleMs: number;
  /** Hosts (or addresses) allowed although they are or resolve to internal addresses: same as the API's. */
  allowHosts: string[];
  /** The DNS lookup under the SSRF guard (tests inject one; default `dns.lookup`). */
  lookup?: Parameters<typeof createSafeLookup>[1];
}

export interface SendResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The response body, read up to maxResponseBytes. */
  body: Buffer;
  /** Its first characters, for diagnostics. */
  snippet: string;
  /** The body was longer than maxResponseBytes and was cut (the connection was dropped). */
  truncated: boolean;
  durationMs: number;
}

export interface HttpRequest {
  url: string;
  method?: 'POST' | 'GET';
  headers: Record<string, string>;
  body?: Buffer | string;
}

/** Port: what delivery needs from HTTP. Throws on network errors (see classifyError); any status is a result. */
export interface Sender {
  send(req: HttpRequest): Promise<SendResult>;
}
