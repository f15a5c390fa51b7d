/**
 * DNS adapters for the SSRF policy.
 *
 * - `dnsResolver()`: the `EndpointPolicy.resolve` port backed by the OS resolver (all A/AAAA answers).
 * - `createSafeLookup(policy)`: a drop-in `lookup` for `net.connect` / undici `connect: { lookup }` that refuses
 *   internal-by-definition names (`localhost`, `*.localhost`, metadata names) and checks every address it
 *   returns with `checkAddress`, so the address actually connected to is the one that was
 *   checked (no DNS-rebinding window between check and connect).
 */
import dns, { type LookupAddress, type LookupOptions } from 'node:dns';
import { checkAddress, classifyIp, type EndpointPolicy, internalHostName, isAllowlisted } from './ssrf-policy';

export function dnsResolver(): (host: string) => Promise<string[]> {
  return async (host) => (await dns.promises.lookup(host, { all: true, verbatim: true })).map((a) => a.address);
}

export class BlockedAddressError extends Error {
  readonly code = 'ERR_HUB_SSRF_BLOCKED';
  constructor(message: string) {
    super(message);
    this.name = 'BlockedAddressError';
  }
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;
type LookupFn = (hostname: string, options: LookupOptions, callback: LookupCallback) => void;

export function createSafeLookup(policy: Pick<EndpointPolicy, 'allowHosts'>, base: LookupFn = dns.lookup as LookupFn) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    const literal = classifyIp(hostname);
    const done = (addresses: LookupAddress[]) => {
      for (const a of addresses) {
        const check = checkAddress(hostname, a.address, policy);
        if (!check.ok) {
          callback(new BlockedAddressError(check.reason), '', 0);
          return;
        }
      }
      if (options.all) callback(null, addresses);
      else callback(null, addresses[0]!.address, addresses[0]!.family);
    };
    if (literal) {
      done([{ address: hostname, family: hostname.includes(':') ? 6 : 4 }]);
      return;
    }
    // Names internal by definition are refused before DNS, as at registration: a resolver that maps
    // `*.localhost` to loopback (RFC 6761) or knows the metadata names is not even asked.
    const internal = isAllowlisted(hostname, policy.allowHosts) ? undefined : internalHostName(hostname);
    if (internal) {
      callback(new BlockedAddressError(internal), '', 0);
      return;
    }
    base(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) {
        callback(err, '', 0);
        return;
      }
      const list = Array.isArray(addresses) ? addresses : [{ address: addresses, family: 4 }];
      if (list.length === 0) {
        callback(Object.assign(new Error(`${hostname} has no addresses`), { code: 'ENOTFOUND' }), '', 0);
        return;
      }
      done(list);
    });
  };
}
