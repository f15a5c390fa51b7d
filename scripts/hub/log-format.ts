/**
 * Turns a child's log line (pino JSON, or anything else) into one compact, prefixed line for the terminal:
 *   `12:00:01 outbox-processor  INFO  delivered  eventId=… status=200 durationMs=12`
 * Pure; the supervisor calls it per line.
 */

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const COLORS: Record<string, string> = {
  TRACE: '\x1b[90m',
  DEBUG: '\x1b[90m',
  INFO: '\x1b[32m',
  WARN: '\x1b[33m',
  ERROR: '\x1b[31m',
  FATAL: '\x1b[35m',
};
const SERVICE_COLORS = ['\x1b[36m', '\x1b[34m', '\x1b[35m', '\x1b[33m', '\x1b[32m', '\x1b[96m'];
const RESET = '\x1b[0m';
const OMIT = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'service', 'name', 'v']);
const MAX_VALUE = 200;

export interface FormatOptions {
  color?: boolean;
  /** Pad the service name to this width so columns line up. */
  width?: number;
  /** Index of the service (picks its prefix colour). */
  index?: number;
}

export function formatLogLine(service: string, line: string, opts: FormatOptions = {}): string {
  const color = opts.color ?? false;
  const name = service.padEnd(opts.width ?? service.length);
  const prefix = color ? `${SERVICE_COLORS[(opts.index ?? 0) % SERVICE_COLORS.length]}${name}${RESET}` : name;
  const parsed = parseJson(line);
  if (!parsed) return `${prefix}  ${line}`;
  const level = typeof parsed.level === 'number' ? (LEVELS[parsed.level] ?? String(parsed.level)) : 'INFO';
  const levelText = color ? `${COLORS[level] ?? ''}${level.padEnd(5)}${RESET}` : level.padEnd(5);
  const time =
    typeof parsed.time === 'string'
      ? clock(parsed.time)
      : typeof parsed.time === 'number'
        ? clock(new Date(parsed.time).toISOString())
        : '';
  const fields = Object.entries(parsed)
    .filter(([k]) => !OMIT.has(k))
    .map(([k, v]) => `${k}=${renderValue(v)}`)
    .join(' ');
  const msg = typeof parsed.msg === 'string' ? parsed.msg : '';
  return [time, prefix, levelText, msg, fields].filter((s) => s !== '').join('  ');
}

function parseJson(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const v = JSON.parse(line) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function clock(iso: string): string {
  const m = /T(\d\d:\d\d:\d\d)/.exec(iso);
  return m ? m[1]! : '';
}

function renderValue(v: unknown): string {
  const s = typeof v === 'string' ? (/\s/.test(v) ? JSON.stringify(v) : v) : JSON.stringify(v);
  return s.length > MAX_VALUE ? `${s.slice(0, MAX_VALUE)}…` : s;
}

/** Splits a stream of chunks into lines (keeps the unfinished tail until the next chunk). */
export function lineSplitter(onLine: (line: string) => void): { push(chunk: Buffer | string): void; end(): void } {
  let tail = '';
  return {
    push(chunk) {
      const text = tail + chunk.toString();
      const lines = text.split('\n');
      tail = lines.pop() ?? '';
      for (const l of lines) if (l.trim() !== '') onLine(l.replace(/\r$/, ''));
    },
    end() {
      if (tail.trim() !== '') onLine(tail);
      tail = '';
    },
  };
}

const PROBE_PATHS = /^\/(readyz|healthz|metrics)(\?|$)/;

/**
 * Hides the per-request log lines of health and metrics probes (the launcher's own readiness polling, scrapers)
 * from the terminal: fastify logs "incoming request" with the URL and "request completed" with only the request
 * id, so the ids of probe requests are remembered until their completion line. Returns true to show a line.
 */
export function probeNoiseFilter(): (service: string, line: string) => boolean {
  const pending = new Set<string>();
  return (service, line) => {
    if (!line.startsWith('{') || !line.includes('"reqId"')) return true;
    let rec: { reqId?: string; req?: { url?: string }; msg?: string };
    try {
      rec = JSON.parse(line) as typeof rec;
    } catch {
      return true;
    }
    const key = `${service}:${rec.reqId}`;
    if (rec.req?.url && PROBE_PATHS.test(rec.req.url)) {
      pending.add(key);
      return false;
    }
    if (pending.has(key)) {
      if (rec.msg === 'request completed') pending.delete(key);
      return false;
    }
    return true;
  };
}
