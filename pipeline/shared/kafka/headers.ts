/**
 * Reading kafkajs headers: each value arrives as a Buffer, a string, an array of them (a repeated header) or
 * undefined. The hub's headers are single-valued UTF-8; for repeated ones the first wins, as in `headerString`.
 */
import type { IHeaders } from 'kafkajs';
import { headerString } from '../cloudevents/header-value';

export { headerString };

/** One header as a string (case-sensitive name, as Kafka stores it). */
export function header(headers: IHeaders | undefined, name: string): string | undefined {
  return headerString(headers?.[name]);
}

/** Every value of a possibly repeated header, as strings. */
export function headerValues(headers: IHeaders | undefined, name: string): string[] {
  const raw = headers?.[name];
  if (raw === undefined || raw === null) return [];
  return (Array.isArray(raw) ? raw : [raw]).map((v) => (typeof v === 'string' ? v : v.toString('utf8')));
}

/** All headers flattened to strings (first value of repeated ones); absent values dropped. */
export function headersToStrings(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers ?? {})) {
    const s = headerString(v);
    if (s !== undefined) out[k] = s;
  }
  return out;
}

/** Header values as kafkajs sends them; undefined values dropped so no header is written as "undefined". */
export function stringHeaders(values: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(values)) if (v !== undefined) out[k] = v;
  return out;
}
