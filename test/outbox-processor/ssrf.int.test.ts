/**
 * SSRF guard at connect time: the sender resolves names through the policy's lookup port, so a name that
 * resolves to an internal address is refused before any socket is opened, and literal internal IPs are refused
 * without a lookup. A canary listener on 127.0.0.1 counts connections: it must see none.
 *
 * The test injects the DNS answers (no `*.localtest.me`-style names resolve on this machine): `rebind.hub.test`
 * resolves to 127.0.0.1, `mixed.hub.test` to a public and a loopback address, and `localhost` - the one
 * allowlisted host here - to 127.0.0.1.
 */
import type { LookupAddress } from 'node:dns';
import { HUB_HEADERS } from '../../pipeline/shared/topics';
import { waitFor } from '../support/kafka';
import { type Receiver, startReceiver } from '../support/receiver';
import { anEvent, dltRecordsOf, type Harness, startHarness } from './harness';

jest.setTimeout(60_000);

const DNS: Record<string, LookupAddress[]> = {
  'rebind.hub.test': [{ address: '127.0.0.1', family: 4 }],
  'mixed.hub.test': [
    { address: '93.184.216.34', family: 4 },
    { address: '127.0.0.1', family: 4 },
  ],
  'metadata.hub.test': [{ address: '169.254.169.254', family: 4 }],
  'mapped.hub.test': [{ address: '::ffff:127.0.0.1', family: 6 }],
  localhost: [{ address: '127.0.0.1', family: 4 }],
};
const lookups: string[] = [];

describe('outbox-processor SSRF guard at connect time', () => {
  let hub: Harness;
  let canary: Receiver;
  beforeAll(async () => {
    canary = await startReceiver();
    hub = await startHarness({
      maxAttempts: 2,
      baseDelayMs: 10,
      sender: {
        allowHosts: ['localhost'],
        lookup: (hostname, _opts, cb) => {
          lookups.push(hostname);
          const a = DNS[hostname];
          if (a) cb(null, a);
          else cb(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), '', 0);
        },
      },
    });
  });
  afterAll(async () => {
    await hub.stop();
    await canary.close();
  });

  // Literal internal addresses are refused by the delivery gate before any attempt (SKIPPED, reason recorded);
  // names are resolved and refused at connect time (a permanent failure after one attempt that never connected).
  it.each([
    ['a name resolving to 127.0.0.1', 'rebind.hub.test', 'DELIVERY.SSRF_BLOCKED', '1'],
    ['a name with one public and one loopback answer', 'mixed.hub.test', 'DELIVERY.SSRF_BLOCKED', '1'],
    ['a name resolving to an IPv4-mapped loopback address', 'mapped.hub.test', 'DELIVERY.SSRF_BLOCKED', '1'],
    ['a literal loopback address', '127.0.0.1', 'GATE.ENDPOINT_BLOCKED', '0'],
    ['a literal IPv4-mapped IPv6 loopback address', '[::ffff:127.0.0.1]', 'GATE.ENDPOINT_BLOCKED', '0'],
    ['a literal IPv6 loopback address', '[::1]', 'GATE.ENDPOINT_BLOCKED', '0'],
    ['a name resolving to the metadata address', 'metadata.hub.test', 'DELIVERY.SSRF_BLOCKED', '1'],
  ])('never connects to %s that is not allowlisted', async (_name, host, code, attempts) => {
    const sub = await hub.subscribe({ endpointUrl: `http://${host}:${canary.port}/hook` });
    await hub.publish(anEvent(), sub.id, 'policy');
    const [dlt] = await dltRecordsOf(hub, sub.id, 1);
    expect(dlt!.headers[HUB_HEADERS.dltLastErrorCode]).toBe(code);
    // Permanent: no second attempt.
    expect(dlt!.headers[HUB_HEADERS.dltAttempts]).toBe(attempts);
    expect(canary.connections).toBe(0);
    expect(canary.received).toHaveLength(0);
  });

  it('refuses an OAuth2 token URL that resolves to an internal address, without connecting', async () => {
    const sub = await hub.subscribe({
      endpointUrl: `http://localhost:${canary.port}/never`,
      plainAuth: {
        type: 'OAUTH2',
        clientId: 'c',
        clientSecret: 's',
        tokenUrl: `http://rebind.hub.test:${canary.port}/token`,
      },
    });
    await hub.publish(anEvent(), sub.id, 'policy');
    const [dlt] = await dltRecordsOf(hub, sub.id, 1);
    expect(dlt!.headers[HUB_HEADERS.dltLastErrorCode]).toBe('DELIVERY.AUTH_TOKEN_SSRF_BLOCKED');
    expect(canary.connections).toBe(0);
  });

  it('still delivers to an allowlisted host through the same lookup (the guard is not blocking everything)', async () => {
    const sub = await hub.subscribe({ endpointUrl: `http://localhost:${canary.port}/ok` });
    const event = anEvent();
    await hub.publish(event, sub.id, 'policy');
    await waitFor(() => canary.received.find((r) => r.headers['webhook-id'] === event.id));
    expect(lookups).toContain('localhost');
    expect(lookups).toContain('rebind.hub.test');
  });
});
