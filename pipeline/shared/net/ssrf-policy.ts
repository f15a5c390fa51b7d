/**
 * SSRF policy: which endpoint URLs (and which resolved addresses) the hub may call.
 *
 * Used twice with the same policy object:
 *   - subscription-api validates endpoint and OAuth2 token URLs when they are written (`validateEndpointUrl`);
 *   - the delivery side re-checks every address it is about to connect to (`checkAddress`, or the
 *     `safe-lookup.ts` adapter), so DNS rebinding cannot reach an internal host.
 *
 * Pure: DNS is an injected port (`policy.resolve`). Hostnames are normalised by the WHATWG URL parser first,
 * which already turns odd IPv4 spellings (`2130706433`, `0x7f000001`, `0177.0.0.1`, `127.1`, `127.0.0.1.`,
 * percent-encoded and full-width digits) into dotted quads; `parseIpv4Whatwg` repeats that parse for callers that
 * hold a bare host string.
 */

export type AddressClass =
  | 'public'
  | 'unspecified'
  | 'private'
  | 'loopback'
  | 'link-local'
  | 'metadata'
  | 'cgnat'
  | 'multicast'
  | 'broadcast'
  | 'unique-local'
  | 'documentation'
  | 'reserved';

export interface AddressClassification {
  class: AddressClass;
  /** The matching range, e.g. `127.0.0.0/8`, or `::ffff:0:0/96 -> 127.0.0.0/8` for an embedded IPv4. */
  range: string;
}

export interface EndpointPolicy {
  /**
   * Hosts that may be called even over plain http and even when they are or resolve to internal addresses
   * (tests and local demos allowlist loopback). Exact host names or IP literals (case-insensitive; IPv6 with or
   * without brackets) or `*.example.com` for any subdomain of example.com.
   */
  allowHosts: readonly string[];
  /** https is required for every host not in `allowHosts`. */
  requireHttps: boolean;
  /** DNS port: all addresses a host name resolves to. Without it, DNS names are not resolved at validation. */
  resolve?: (host: string) => Promise<string[]>;
}

export type UrlRejectionCode =
  | 'URL.INVALID'
  | 'URL.SCHEME'
  | 'URL.HTTPS_REQUIRED'
  | 'URL.CREDENTIALS'
  | 'URL.BLOCKED_ADDRESS'
  | 'URL.BLOCKED_HOST'
  | 'URL.UNRESOLVABLE';

export type UrlCheck =
  | { ok: true; url: URL; allowlisted: boolean }
  | { ok: false; code: UrlRejectionCode; reason: string };

// ---------------------------------------------------------------------------------------------------------------
// IPv4

/**
 * The WHATWG URL host parser's IPv4 step: 1-4 dot-separated parts, each decimal, `0x` hex or leading-zero octal;
 * the last part fills the remaining bytes (`127.1` = 127.0.0.1, `2130706433` = 127.0.0.1); one trailing dot is
 * allowed. Returns the 32-bit value, or undefined when the string is not an IPv4 address in that grammar.
 */
export function parseIpv4Whatwg(input: string): number | undefined {
  let parts = input.split('.');
  if (parts[parts.length - 1] === '' && parts.length > 1) parts = parts.slice(0, -1);
  if (parts.length === 0 || parts.length > 4) return undefined;
  const nums: number[] = [];
  for (const part of parts) {
    const n = parseIpv4Number(part);
    if (n === undefined) return undefined;
    nums.push(n);
  }
  for (let i = 0; i < nums.length - 1; i++) if (nums[i]! > 255) return undefined;
  const last = nums[nums.length - 1]!;
  if (last >= 256 ** (5 - nums.length)) return undefined;
  let value = last;
  for (let i = 0; i < nums.length - 1; i++) value += nums[i]! * 256 ** (3 - i);
  return value;
}

function parseIpv4Number(part: string): number | undefined {
  if (part === '') return undefined;
  let radix = 10;
  let digits = part;
  if (/^0[xX]/.test(part)) {
    radix = 16;
    digits = part.slice(2);
  } else if (part.length > 1 && part.startsWith('0')) {
    radix = 8;
    digits = part.slice(1);
  }
  if (digits === '') return 0;
  const valid = radix === 16 ? /^[0-9a-fA-F]+$/ : radix === 8 ? /^[0-7]+$/ : /^[0-9]+$/;
  if (!valid.test(digits)) return undefined;
  const n = Number.parseInt(digits, radix);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Strict dotted-quad parse (what resolvers return). */
function parseDottedQuad(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const b = m.slice(1).map(Number);
  if (b.some((x) => x > 255)) return undefined;
  return ((b[0]! << 24) >>> 0) + (b[1]! << 16) + (b[2]! << 8) + b[3]!;
}

export function ipv4ToString(v: number): string {
  return [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join('.');
}

interface V4Range {
  base: number;
  bits: number;
  cidr: string;
  class: AddressClass;
}

const v4 = (cidr: string, cls: AddressClass): V4Range => {
  const [addr, bits] = cidr.split('/') as [string, string];
  return { base: parseDottedQuad(addr)!, bits: Number(bits), cidr, class: cls };
};

/** Most specific first (the metadata /32 before link-local, broadcast before 240/4). */
const V4_RANGES: V4Range[] = [
  v4('169.254.169.254/32', 'metadata'), // AWS, GCP, Azure, OpenStack instance metadata
  v4('100.100.100.200/32', 'metadata'), // Alibaba Cloud metadata
  v4('255.255.255.255/32', 'broadcast'),
  v4('0.0.0.0/8', 'unspecified'),
  v4('10.0.0.0/8', 'private'),
  v4('100.64.0.0/10', 'cgnat'),
  v4('127.0.0.0/8', 'loopback'),
  v4('169.254.0.0/16', 'link-local'),
  v4('172.16.0.0/12', 'private'),
  v4('192.0.0.0/24', 'reserved'), // IETF protocol assignments
  v4('192.0.2.0/24', 'documentation'),
  v4('192.88.99.0/24', 'reserved'), // 6to4 relay anycast
  v4('192.168.0.0/16', 'private'),
  v4('198.18.0.0/15', 'reserved'), // benchmarking
  v4('198.51.100.0/24', 'documentation'),
  v4('203.0.113.0/24', 'documentation'),
  v4('224.0.0.0/4', 'multicast'),
  v4('240.0.0.0/4', 'reserved'),
];

export function classifyIpv4(value: number): AddressClassification {
  for (const r of V4_RANGES) {
    const mask = r.bits === 0 ? 0 : (0xffffffff << (32 - r.bits)) >>> 0;
    if ((value & mask) >>> 0 === r.base) return { class: r.class, range: r.cidr };
  }
  return { class: 'public', range: '' };
}

// ---------------------------------------------------------------------------------------------------------------
// IPv6

/** Parses an IPv6 literal (optionally in brackets, optionally with a zone id) into 8 hextets. */
export function parseIpv6(input: string): number[] | undefined {
  let s = input.startsWith('[') && input.endsWith(']') ? input.slice(1, -1) : input;
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  if (!/^[0-9a-fA-F:.]+$/.test(s) || !s.includes(':')) return undefined;
  const lastColon = s.lastIndexOf(':');
  const lastPart = s.slice(lastColon + 1);
  if (lastPart.includes('.')) {
    // `::ffff:1.2.3.4` -> `::ffff:102:304`
    const v = parseDottedQuad(lastPart);
    if (v === undefined) return undefined;
    s = `${s.slice(0, lastColon + 1)}${(v >>> 16).toString(16)}:${(v & 0xffff).toString(16)}`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const parse = (h: string) => (h === '' ? [] : h.split(':'));
  const head = parse(halves[0]!);
  const rest = halves.length === 2 ? parse(halves[1]!) : [];
  const groups: number[] = [];
  for (const g of [...head, ...rest]) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
  }
  const total = head.length + rest.length;
  if (halves.length === 1 && total !== 8) return undefined;
  if (halves.length === 2 && total > 7) return undefined;
  groups.push(...head.map((g) => Number.parseInt(g, 16)));
  if (halves.length === 2) for (let i = 0; i < 8 - total; i++) groups.push(0);
  groups.push(...rest.map((g) => Number.parseInt(g, 16)));
  return groups.length === 8 ? groups : undefined;
}

const embeddedV4 = (hi: number, lo: number) => ((hi << 16) >>> 0) + lo;

function prefixMatches(h: number[], prefix: number[], bits: number): boolean {
  for (let i = 0; i < 8 && bits > 0; i++) {
    const take = Math.min(16, bits);
    const mask = (0xffff << (16 - take)) & 0xffff;
    if ((h[i]! & mask) !== (prefix[i]! & mask)) return false;
    bits -= take;
  }
  return true;
}

function embedded(v: number, via: string): AddressClassification {
  const inner = classifyIpv4(v);
  if (inner.class === 'public') return { class: 'public', range: '' };
  return { class: inner.class, range: `${via} -> ${inner.range}` };
}

export function classifyIpv6(h: number[]): AddressClassification {
  const allZeroUpTo = (n: number) => h.slice(0, n).every((x) => x === 0);
  if (allZeroUpTo(8)) return { class: 'unspecified', range: '::/128' };
  if (allZeroUpTo(7) && h[7] === 1) return { class: 'loopback', range: '::1/128' };
  // IPv4-mapped ::ffff:a.b.c.d: judged by the IPv4 address it carries.
  if (allZeroUpTo(5) && h[5] === 0xffff) return embedded(embeddedV4(h[6]!, h[7]!), '::ffff:0:0/96');
  // IPv4-translated ::ffff:0:a.b.c.d (SIIT)
  if (allZeroUpTo(4) && h[4] === 0xffff && h[5] === 0) return embedded(embeddedV4(h[6]!, h[7]!), '::ffff:0:0:0/96');
  // Deprecated IPv4-compatible ::a.b.c.d: never a legitimate public endpoint.
  if (allZeroUpTo(6)) return { class: 'reserved', range: '::/96 (IPv4-compatible)' };
  // NAT64 well-known prefix 64:ff9b::/96 reaches the embedded IPv4 address.
  if (prefixMatches(h, [0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96)) return embedded(embeddedV4(h[6]!, h[7]!), '64:ff9b::/96');
  if (prefixMatches(h, [0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48)) return { class: 'private', range: '64:ff9b:1::/48' };
  if (prefixMatches(h, [0x100, 0, 0, 0, 0, 0, 0, 0], 64)) return { class: 'reserved', range: '100::/64' };
  // 6to4 2002:AABB:CCDD::/48 embeds AA.BB.CC.DD.
  if (prefixMatches(h, [0x2002, 0, 0, 0, 0, 0, 0, 0], 16)) return embedded(embeddedV4(h[1]!, h[2]!), '2002::/16');
  // Teredo hides an obfuscated client address; a webhook endpoint has no business there.
  if (prefixMatches(h, [0x2001, 0, 0, 0, 0, 0, 0, 0], 32)) return { class: 'reserved', range: '2001::/32 (Teredo)' };
  if (prefixMatches(h, [0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32))
    return { class: 'documentation', range: '2001:db8::/32' };
  if (prefixMatches(h, [0x3fff, 0, 0, 0, 0, 0, 0, 0], 20)) return { class: 'documentation', range: '3fff::/20' };
  if (prefixMatches(h, [0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254], 128))
    return { class: 'metadata', range: 'fd00:ec2::254/128' };
  if (prefixMatches(h, [0xfc00, 0, 0, 0, 0, 0, 0, 0], 7)) return { class: 'unique-local', range: 'fc00::/7' };
  if (prefixMatches(h, [0xfe80, 0, 0, 0, 0, 0, 0, 0], 10)) return { class: 'link-local', range: 'fe80::/10' };
  if (prefixMatches(h, [0xfec0, 0, 0, 0, 0, 0, 0, 0], 10)) return { class: 'private', range: 'fec0::/10 (site-local)' };
  if (prefixMatches(h, [0xff00, 0, 0, 0, 0, 0, 0, 0], 8)) return { class: 'multicast', range: 'ff00::/8' };
  // Only 2000::/3 is allocated global unicast.
  if (!prefixMatches(h, [0x2000, 0, 0, 0, 0, 0, 0, 0], 3)) return { class: 'reserved', range: 'outside 2000::/3' };
  return { class: 'public', range: '' };
}

/**
 * Classifies an IP literal (IPv4 in any WHATWG spelling, IPv6 with or without brackets/zone).
 * Returns undefined when the string is not an IP address (i.e. a DNS name).
 */
export function classifyIp(ip: string): AddressClassification | undefined {
  if (ip.includes(':')) {
    const h = parseIpv6(ip);
    return h ? classifyIpv6(h) : undefined;
  }
  // A DNS name's last label is never all-numeric in the WHATWG grammar, so a numeric-looking host is an IPv4.
  const v = parseIpv4Whatwg(ip);
  return v === undefined ? undefined : classifyIpv4(v);
}

export function isIpLiteral(host: string): boolean {
  return classifyIp(host) !== undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Host names and URLs

/** Names that are internal by definition, rejected without asking DNS. */
const INTERNAL_NAMES: Array<{ test: (h: string) => boolean; class: AddressClass; what: string }> = [
  { test: (h) => h === 'localhost' || h.endsWith('.localhost'), class: 'loopback', what: 'localhost' },
  {
    test: (h) => h === 'metadata.google.internal' || h === 'metadata' || h === 'instance-data',
    class: 'metadata',
    what: 'cloud metadata host',
  },
];

/**
 * Why a host name is internal by definition (`localhost`, `*.localhost`, cloud metadata names), or undefined.
 * The registration check and the connect-time lookup both refuse these without asking DNS.
 */
export function internalHostName(host: string): string | undefined {
  const h = normaliseHost(host);
  const name = INTERNAL_NAMES.find((n) => n.test(h));
  return name ? `"${h}" is a ${name.what} (${name.class}); not allowed unless allowlisted` : undefined;
}

export function normaliseHost(host: string): string {
  let h = host.toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h;
}

export function isAllowlisted(host: string, allowHosts: readonly string[]): boolean {
  const h = normaliseHost(host);
  return allowHosts.some((entry) => {
    const e = normaliseHost(entry.trim());
    if (e === '') return false;
    if (e.startsWith('*.')) return h.endsWith(e.slice(1));
    if (h === e) return true;
    // IPv6 entries compare by value (`::1` = `0:0:0:0:0:0:0:1`); IPv4 hostnames are already dotted quads.
    const a = h.includes(':') ? parseIpv6(h) : undefined;
    const b = e.includes(':') ? parseIpv6(e) : undefined;
    return Boolean(a && b && a.every((x, i) => x === b[i]));
  });
}

function describe(c: AddressClassification): string {
  return `${c.class} address (${c.range})`;
}

/**
 * Is this resolved address acceptable for this host? The delivery side calls this for every address it
 * connects to (DNS rebinding guard); `validateEndpointUrl` uses it for literal and resolved addresses.
 */
export function checkAddress(
  host: string,
  address: string,
  policy: Pick<EndpointPolicy, 'allowHosts'>,
): { ok: true } | { ok: false; code: 'URL.BLOCKED_ADDRESS'; reason: string; classification: AddressClassification } {
  if (isAllowlisted(host, policy.allowHosts) || isAllowlisted(address, policy.allowHosts)) return { ok: true };
  const c = classifyIp(address);
  if (!c) {
    return {
      ok: false,
      code: 'URL.BLOCKED_ADDRESS',
      reason: `"${address}" is not an IP address`,
      classification: { class: 'reserved', range: 'not an IP' },
    };
  }
  if (c.class === 'public') return { ok: true };
  const shown = normaliseHost(host) === normaliseHost(address) ? address : `${host} resolves to ${address}, a`;
  return {
    ok: false,
    code: 'URL.BLOCKED_ADDRESS',
    reason: `${shown}${shown === address ? ' is a' : ''} ${describe(c)}; not allowed unless the host is allowlisted`,
    classification: c,
  };
}

/**
 * Validates an endpoint URL against the policy: http(s) only, no credentials in the URL, https unless the host is
 * allowlisted, and the host must not be or resolve to an internal address unless allowlisted.
 */
export async function validateEndpointUrl(raw: string, policy: EndpointPolicy): Promise<UrlCheck> {
  const first = checkEndpointUrlStatic(raw, policy);
  if (first.ok !== 'resolve') return first;
  const { url, host } = first;
  if (policy.resolve) {
    let addresses: string[];
    try {
      addresses = await policy.resolve(host);
    } catch (err) {
      return {
        ok: false,
        code: 'URL.UNRESOLVABLE',
        reason: `"${host}" does not resolve (${err instanceof Error ? err.message : String(err)})`,
      };
    }
    if (addresses.length === 0) return { ok: false, code: 'URL.UNRESOLVABLE', reason: `"${host}" has no addresses` };
    for (const address of addresses) {
      const check = checkAddress(host, address, policy);
      if (!check.ok) return { ok: false, code: check.code, reason: check.reason };
    }
  }
  return { ok: true, url, allowlisted: false };
}

/**
 * The checks of `validateEndpointUrl` that need no DNS (the delivery gate runs them before every attempt; the
 * sender checks the resolved address at connect time). `ok: 'resolve'` = a public-looking DNS name.
 */
export function checkEndpointUrlStatic(
  raw: string,
  policy: Pick<EndpointPolicy, 'allowHosts' | 'requireHttps'>,
): UrlCheck | { ok: 'resolve'; url: URL; host: string } {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, code: 'URL.INVALID', reason: 'not an absolute URL' };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return { ok: false, code: 'URL.SCHEME', reason: `scheme "${url.protocol.slice(0, -1)}" is not http or https` };
  }
  if (url.username !== '' || url.password !== '') {
    return {
      ok: false,
      code: 'URL.CREDENTIALS',
      reason: 'credentials in the URL are not allowed; use the auth settings',
    };
  }
  if (url.hostname === '') return { ok: false, code: 'URL.INVALID', reason: 'the URL has no host' };
  const host = normaliseHost(url.hostname);
  const allowlisted = isAllowlisted(host, policy.allowHosts);
  if (allowlisted) return { ok: true, url, allowlisted: true };
  if (policy.requireHttps && url.protocol !== 'https:') {
    return { ok: false, code: 'URL.HTTPS_REQUIRED', reason: `https is required for host "${host}" (not allowlisted)` };
  }
  if (isIpLiteral(host)) {
    const check = checkAddress(host, host, policy);
    return check.ok ? { ok: true, url, allowlisted: false } : { ok: false, code: check.code, reason: check.reason };
  }
  const internal = internalHostName(host);
  if (internal) return { ok: false, code: 'URL.BLOCKED_HOST', reason: internal };
  if (!host.includes('.')) {
    return { ok: false, code: 'URL.BLOCKED_HOST', reason: `"${host}" is a single-label (internal) host name` };
  }
  return { ok: 'resolve', url, host };
}
