/**
 * CloudEvents HTTP binding -> ingest records (pure), so HTTP ingest validates with exactly the rules of the
 * Kafka path (`decodeInput`).
 *
 *   content-type application/cloudevents-batch+json ─▶ one structured record per array element
 *   content-type application/cloudevents+json ───────▶ one structured record
 *   ce-specversion header ────────────────────────────▶ binary mode: ce-<attr> headers -> ce_<attr>
 *   anything else ────────────────────────────────────▶ 415
 */
import type { HubCloudEvent } from '../shared/cloudevents/envelope';
import { type DecodeOptions, decodeInput, type IngestRecord } from './decode-input';

export type HttpMode = 'binary' | 'structured' | 'batch';

export type HttpDecodeResult =
  | { ok: true; mode: HttpMode; events: HubCloudEvent[] }
  | { ok: false; status: 400 | 413 | 415; detail: string; errors?: { path: string; message: string }[] };

type HeaderBag = Record<string, string | string[] | undefined>;

const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);

/** HTTP binding: header values are percent-encoded outside printable ASCII. */
function percentDecode(v: string): string {
  if (!v.includes('%')) return v;
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}

export function decodeHttpRequest(
  headers: HeaderBag,
  body: Buffer | undefined,
  opts: DecodeOptions & { maxBatchEvents: number },
): HttpDecodeResult {
  const contentType = first(headers['content-type']) ?? '';
  const value = body ?? Buffer.alloc(0);

  let mode: HttpMode;
  let records: IngestRecord[];
  if (/^application\/cloudevents-batch\+json\s*(;|$)/i.test(contentType)) {
    mode = 'batch';
    let parsed: unknown;
    try {
      parsed = JSON.parse(value.toString('utf8'));
    } catch {
      return { ok: false, status: 400, detail: 'The batch body is not valid JSON' };
    }
    if (!Array.isArray(parsed)) return { ok: false, status: 400, detail: 'A CloudEvents batch is a JSON array' };
    if (parsed.length === 0) return { ok: false, status: 400, detail: 'The batch is empty' };
    if (parsed.length > opts.maxBatchEvents)
      return {
        ok: false,
        status: 413,
        detail: `The batch has ${parsed.length} events; at most ${opts.maxBatchEvents} are accepted per request`,
      };
    records = parsed.map((e) => ({
      value: Buffer.from(JSON.stringify(e)),
      headers: { 'content-type': 'application/cloudevents+json' },
    }));
  } else if (/^application\/cloudevents\b/i.test(contentType)) {
    mode = 'structured';
    records = [{ value, headers: { 'content-type': contentType } }];
  } else if (first(headers['ce-specversion']) !== undefined) {
    mode = 'binary';
    const kafkaHeaders: Record<string, string> = {};
    for (const [name, raw] of Object.entries(headers)) {
      const v = first(raw);
      if (v === undefined) continue;
      const lower = name.toLowerCase();
      if (lower.startsWith('ce-')) kafkaHeaders[`ce_${lower.slice(3)}`] = percentDecode(v);
    }
    if (contentType) kafkaHeaders['content-type'] = contentType;
    records = [{ value: value.length > 0 ? value : null, headers: kafkaHeaders }];
  } else {
    return {
      ok: false,
      status: 415,
      detail:
        'Send a CloudEvent: binary mode (ce-* headers), structured mode (application/cloudevents+json) or a batch (application/cloudevents-batch+json)',
    };
  }

  const events: HubCloudEvent[] = [];
  const errors: { path: string; message: string; code: string }[] = [];
  records.forEach((record, i) => {
    const r = decodeInput(record, opts);
    if (r.ok) events.push(r.event);
    else errors.push({ path: mode === 'batch' ? `[${i}]` : '', message: `${r.code}: ${r.reason}`, code: r.code });
  });
  if (errors.length > 0) {
    const tooLarge = errors.every((e) => e.code === 'INGEST.TOO_LARGE');
    return {
      ok: false,
      status: tooLarge ? 413 : 400,
      detail:
        mode === 'batch'
          ? `${errors.length} of ${records.length} events are invalid; nothing was accepted`
          : errors[0]!.message,
      errors: errors.map(({ path, message }) => ({ path, message })),
    };
  }
  return { ok: true, mode, events };
}
