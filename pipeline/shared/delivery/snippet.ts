/**
 * The subscriber's answer as stored with an attempt: truncated, and with anything that looks like a credential
 * masked — an echoing endpoint may send back the Authorization header or signature it received. NUL characters
 * become U+FFFD: Postgres text refuses them, and one NUL in an answer failed the transaction recording the attempt
 * (and every other attempt grouped into it), so the row was retried and failed again at every lease.
 */
const MAX_SNIPPET = 512;
const PATTERNS: [RegExp, string][] = [
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, '$1 [redacted]'],
  [/whsec_[A-Za-z0-9+/=]+/g, 'whsec_[redacted]'],
  [/\bv1,[A-Za-z0-9+/=]{16,}/g, 'v1,[redacted]'],
  [
    /("?(?:authorization|password|secret|client_secret|access_token|api[-_]?key|token)"?\s*[:=]\s*)"[^"]*"/gi,
    '$1"[redacted]"',
  ],
];

export function safeSnippet(raw: string | undefined): string | null {
  if (raw === undefined || raw === '') return null;
  let s = raw.slice(0, MAX_SNIPPET * 2).replaceAll('\u0000', '\uFFFD');
  for (const [re, by] of PATTERNS) s = s.replace(re, by);
  return s.slice(0, MAX_SNIPPET);
}
