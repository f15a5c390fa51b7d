/** kafkajs header values arrive as Buffer, string or arrays of them; the hub reads the first as UTF-8. */
export function headerString(raw: Buffer | string | (Buffer | string)[] | undefined | null): string | undefined {
  if (raw === undefined || raw === null) return undefined;
  const first = Array.isArray(raw) ? raw[0] : raw;
  if (first === undefined) return undefined;
  return typeof first === 'string' ? first : first.toString('utf8');
}
