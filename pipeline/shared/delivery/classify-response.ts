/**
 * Classifies a subscriber's answer (pure).
 *
 * | answer                                     | result                         |
 * |--------------------------------------------|--------------------------------|
 * | 2xx                                        | delivered                      |
 * | 408, 429, 5xx                              | retriable (honours Retry-After) |
 * | 410 Gone, other 4xx                        | permanent                      |
 * | 3xx (redirects are not followed)           | permanent DELIVERY.REDIRECT    |
 * | timeout, connection error, reset           | retriable                      |
 * | SSRF-blocked address                       | permanent DELIVERY.SSRF_BLOCKED |
 */
import { type Failure, permanent, retriable } from '../errors';

export type Classification = { delivered: true } | { delivered: false; failure: Failure };

/** Milliseconds to wait asked by a Retry-After header, or undefined when absent or unparsable. */
export function parseRetryAfter(value: string | undefined, now: Date): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  // delay-seconds or an HTTP-date (RFC 9110 10.2.3); a date in the past means "now".
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now.getTime());
}

export function classifyResponse(
  status: number,
  headers: Record<string, string | string[] | undefined>,
  now: Date,
): Classification {
  if (status >= 200 && status < 300) return { delivered: true };
  const raw = headers['retry-after'];
  const retryAfterMs = parseRetryAfter(Array.isArray(raw) ? raw[0] : raw, now);
  const code = `DELIVERY.HTTP_${status}`;
  if (status >= 300 && status < 400)
    return {
      delivered: false,
      failure: permanent('DELIVERY.REDIRECT', `subscriber redirected (${status}); redirects are not followed`, {
        status,
      }),
    };
  if (status === 408 || status === 429 || status >= 500)
    return { delivered: false, failure: retriable(code, `subscriber answered ${status}`, { status, retryAfterMs }) };
  return { delivered: false, failure: permanent(code, `subscriber answered ${status}`, { status }) };
}

const TIMEOUT_CODES = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_ABORTED',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
]);
const CONNECT_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'ECONNABORTED']);

/** Classifies an exception of the send stage (network level: nothing or no complete answer came back). */
export function classifyError(err: unknown): Failure {
  const e = err as { code?: string; name?: string; message?: string; cause?: { code?: string; name?: string } };
  const code = e?.code ?? e?.cause?.code;
  const message = e?.message ?? String(err);
  if (code === 'ERR_HUB_SSRF_BLOCKED' || e?.cause?.code === 'ERR_HUB_SSRF_BLOCKED')
    return permanent('DELIVERY.SSRF_BLOCKED', message);
  // AbortSignal.timeout (the whole-exchange bound) rejects with a DOMException named TimeoutError.
  if ((code && TIMEOUT_CODES.has(code)) || e?.name === 'TimeoutError' || e?.cause?.name === 'TimeoutError')
    return retriable('DELIVERY.TIMEOUT', message);
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return retriable('DELIVERY.DNS', message);
  if (code && CONNECT_CODES.has(code)) return retriable('DELIVERY.CONNECT', message);
  if (code && RESET_CODES.has(code)) return retriable('DELIVERY.RESET', message);
  if (code === 'ERR_INVALID_URL' || code === 'UND_ERR_INVALID_ARG') return permanent('DELIVERY.BAD_ENDPOINT', message);
  return retriable('DELIVERY.NETWORK', message);
}
