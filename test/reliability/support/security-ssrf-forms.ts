/**
 * SSRF target forms for reliability scenario 8: spellings of internal addresses an endpoint URL can carry, and
 * DNS answers that point a public-looking name at internal addresses (for the parts of the scenario that
 * inject DNS). `canaryReachable` marks the forms that land on the loopback canary if the guard let them through.
 */
import type { LookupAddress } from 'node:dns';
import { createServer, type Server, type Socket } from 'node:net';

export interface TargetForm {
  /** The URL host part (brackets for IPv6). */
  host: string;
  what: string;
}

export const TARGET_FORMS: TargetForm[] = [
  // IPv4 loopback in every WHATWG spelling
  { host: '127.0.0.1', what: 'loopback' },
  { host: '127.1', what: 'loopback, short form' },
  { host: '127.0.1', what: 'loopback, three parts' },
  { host: '2130706433', what: 'loopback, one decimal number' },
  { host: '0x7f000001', what: 'loopback, one hex number' },
  { host: '0x7f.0.0.1', what: 'loopback, hex first part' },
  { host: '0177.0.0.1', what: 'loopback, octal first part' },
  { host: '017700000001', what: 'loopback, one octal number' },
  { host: '127.0.0.1.', what: 'loopback, trailing dot' },
  { host: '%31%32%37.0.0.1', what: 'loopback, percent-encoded' },
  { host: '１２７.０.０.１', what: 'loopback, full-width digits' },
  { host: '127.255.255.254', what: 'loopback /8, last host' },
  { host: '0.0.0.0', what: 'unspecified' },
  { host: '0', what: 'unspecified, one number' },
  // IPv4 internal ranges
  { host: '10.0.0.1', what: 'private 10/8' },
  { host: '172.16.0.1', what: 'private 172.16/12' },
  { host: '172.31.255.254', what: 'private 172.16/12, last host' },
  { host: '192.168.1.1', what: 'private 192.168/16' },
  { host: '100.64.0.1', what: 'CGNAT 100.64/10' },
  { host: '100.127.255.254', what: 'CGNAT 100.64/10, last host' },
  { host: '169.254.169.254', what: 'cloud metadata' },
  { host: '0xa9fea9fe', what: 'cloud metadata, hex' },
  { host: '100.100.100.200', what: 'Alibaba metadata' },
  { host: '169.254.1.1', what: 'link-local' },
  { host: '192.0.0.1', what: 'IETF protocol assignments' },
  { host: '198.18.0.1', what: 'benchmarking' },
  { host: '224.0.0.1', what: 'multicast' },
  { host: '255.255.255.255', what: 'broadcast' },
  { host: '240.0.0.1', what: 'reserved 240/4' },
  // IPv6
  { host: '[::1]', what: 'IPv6 loopback' },
  { host: '[0:0:0:0:0:0:0:1]', what: 'IPv6 loopback, long form' },
  { host: '[::]', what: 'IPv6 unspecified' },
  { host: '[::ffff:127.0.0.1]', what: 'IPv4-mapped loopback' },
  { host: '[::ffff:7f00:1]', what: 'IPv4-mapped loopback, hex' },
  { host: '[::ffff:169.254.169.254]', what: 'IPv4-mapped metadata' },
  { host: '[::ffff:0:127.0.0.1]', what: 'IPv4-translated (SIIT) loopback' },
  { host: '[::127.0.0.1]', what: 'IPv4-compatible loopback' },
  { host: '[64:ff9b::127.0.0.1]', what: 'NAT64 of loopback' },
  { host: '[64:ff9b::a9fe:a9fe]', what: 'NAT64 of metadata' },
  { host: '[2002:7f00:1::1]', what: '6to4 of loopback' },
  { host: '[fd00:ec2::254]', what: 'AWS IPv6 metadata' },
  { host: '[fc00::1]', what: 'unique local fc00::/7' },
  { host: '[fd12:3456:789a::1]', what: 'unique local fd00::/8' },
  { host: '[fe80::1]', what: 'link-local fe80::/10' },
  { host: '[fec0::1]', what: 'site-local' },
  { host: '[ff02::1]', what: 'IPv6 multicast' },
  // Names
  { host: 'localhost', what: 'localhost' },
  { host: 'LOCALHOST', what: 'localhost, upper case' },
  { host: 'localhost.', what: 'localhost, trailing dot' },
  { host: 'api.localhost', what: 'a .localhost subdomain' },
  { host: 'metadata.google.internal', what: 'GCP metadata name' },
  { host: 'vm', what: 'single-label name (resolves to 127.0.0.1 on this machine)' },
];

/** Names resolving to internal addresses, for the injected-DNS parts (registration policy and sender). */
export const REBINDING_DNS: Record<string, LookupAddress[]> = {
  'rebind.hub.test': [{ address: '127.0.0.1', family: 4 }],
  'mixed.hub.test': [
    { address: '93.184.216.34', family: 4 },
    { address: '127.0.0.1', family: 4 },
  ],
  'v6.hub.test': [{ address: '::1', family: 6 }],
  'mapped.hub.test': [{ address: '::ffff:127.0.0.1', family: 6 }],
  'metadata.hub.test': [{ address: '169.254.169.254', family: 4 }],
  'metadata6.hub.test': [{ address: 'fd00:ec2::254', family: 6 }],
  'cgnat.hub.test': [{ address: '100.64.0.1', family: 4 }],
  'private.hub.test': [{ address: '10.0.0.1', family: 4 }],
  'nat64.hub.test': [{ address: '64:ff9b::7f00:1', family: 6 }],
  'ula.hub.test': [{ address: 'fd12::1', family: 6 }],
};

/** The names the machine's own resolver maps to loopback (/etc/hosts), for the real processes. */
export const HOSTS_FILE_NAMES = ['localhost', 'vm', 'runsc'];

export interface Canary {
  port: number;
  /** TCP connections accepted so far (IPv4 and IPv6: the listener is dual-stack on `::`). */
  connections(): number;
  close(): Promise<void>;
}

/** A real TCP listener on every local address that only counts connections (and closes them). */
export async function startCanary(): Promise<Canary> {
  let count = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    count++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: 0, host: '::', ipv6Only: false }, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  return {
    port,
    connections: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
