import { HTTP } from 'cloudevents';
import { Webhook } from 'standardwebhooks';
import { HUB_HEADERS } from '../../pipeline/shared/topics';
import { consumeAll, waitFor } from '../support/kafka';
import { type Receiver, startReceiver } from '../support/receiver';
import { anEvent, type Harness, startHarness, whsec } from './harness';

jest.setTimeout(60_000);

describe('outbox-processor delivering to real subscribers', () => {
  let hub: Harness;
  const receivers: Receiver[] = [];
  const receiver = async (...args: Parameters<typeof startReceiver>) => {
    const r = await startReceiver(...args);
    receivers.push(r);
    return r;
  };
  beforeAll(async () => {
    hub = await startHarness({ maxAttempts: 3, baseDelayMs: 50 });
  });
  afterAll(async () => {
    await hub.stop();
    await Promise.all(receivers.map((r) => r.close()));
  });

  it('delivers in binary mode, signed so that the standardwebhooks library verifies it, parseable by the CloudEvents SDK', async () => {
    const r = await receiver();
    const secret = whsec();
    const sub = await hub.subscribe({ endpointUrl: `${r.url}/hook`, signingSecret: secret });
    const event = anEvent();
    await hub.publish(event, sub.id);
    const got = await waitFor(() => r.received[0], { what: 'delivery' });
    expect(got.headers['webhook-id']).toBe(event.id);
    expect(() => new Webhook(secret).verify(got.body.toString(), got.headers as Record<string, string>)).not.toThrow();
    const ce = HTTP.toEvent({ headers: got.headers, body: got.body.toString() }) as {
      id: string;
      type: string;
      data: unknown;
    };
    expect(ce.id).toBe(event.id);
    expect(ce.type).toBe('user.created');
    expect(ce.data).toEqual({ userId: 'u1', email: 'u1@example.com' });
    expect(got.headers.traceparent).toBe(event.extensions.traceparent);
  });

  it('delivers in structured mode with two signatures during a secret rotation', async () => {
    const r = await receiver();
    const [oldSecret, newSecret] = [whsec(), whsec()];
    const sub = await hub.subscribe({
      endpointUrl: r.url,
      contentMode: 'STRUCTURED',
      signingSecret: newSecret,
      previousSecret: oldSecret,
    });
    const event = anEvent();
    await hub.publish(event, sub.id);
    const got = await waitFor(() => r.received[0]);
    expect(got.headers['content-type']).toMatch(/application\/cloudevents\+json/);
    expect((got.headers['webhook-signature'] as string).split(' ')).toHaveLength(2);
    for (const s of [oldSecret, newSecret])
      expect(() => new Webhook(s).verify(got.body.toString(), got.headers as Record<string, string>)).not.toThrow();
    const ce = HTTP.toEvent({ headers: got.headers, body: got.body.toString() }) as { id: string };
    expect(ce.id).toBe(event.id);
  });

  it('sends BASIC, JWT and APIKEY credentials the receiver checks', async () => {
    const r = await receiver();
    const basic = await hub.subscribe({
      endpointUrl: `${r.url}/basic`,
      plainAuth: { type: 'BASIC', username: 'hub', password: 'pa:ss' },
    });
    const jwt = await hub.subscribe({
      endpointUrl: `${r.url}/jwt`,
      plainAuth: { type: 'JWT', token: 'eyJ.test.token' },
    });
    const key = await hub.subscribe({
      endpointUrl: `${r.url}/key`,
      plainAuth: { type: 'APIKEY', headerName: 'X-Api-Key', key: 'k-123' },
    });
    for (const s of [basic, jwt, key]) await hub.publish(anEvent(), s.id);
    await waitFor(() => r.received.length >= 3);
    const byPath = Object.fromEntries(r.received.map((x) => [x.path, x.headers]));
    expect(byPath['/basic']!.authorization).toBe(`Basic ${Buffer.from('hub:pa:ss').toString('base64')}`);
    expect(byPath['/jwt']!.authorization).toBe('Bearer eyJ.test.token');
    expect(byPath['/key']!['x-api-key']).toBe('k-123');
  });

  it('fetches an OAuth2 token once, reuses it, and refreshes it after a 401', async () => {
    let issued = 0;
    const tokenServer = await receiver((req, res) => {
      const ok =
        req.headers.authorization === `Basic ${Buffer.from('client-1:s3cret').toString('base64')}` &&
        req.body.toString().includes('grant_type=client_credentials');
      if (!ok) return void res.writeHead(401).end();
      issued++;
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ access_token: `tok-${issued}`, expires_in: 3600 }));
    });
    let revoked = '';
    const api = await receiver((req, res) => {
      const token = (req.headers.authorization ?? '').replace('Bearer ', '');
      res.writeHead(token.startsWith('tok-') && token !== revoked ? 204 : 401).end();
    });
    const sub = await hub.subscribe({
      endpointUrl: api.url,
      plainAuth: { type: 'OAUTH2', clientId: 'client-1', clientSecret: 's3cret', tokenUrl: `${tokenServer.url}/token` },
    });
    await Promise.all(Array.from({ length: 5 }, () => hub.publish(anEvent(), sub.id)));
    await waitFor(() => api.received.filter((x) => x.headers.authorization === 'Bearer tok-1').length === 5);
    expect(issued).toBe(1);
    revoked = 'tok-1';
    await hub.publish(anEvent(), sub.id);
    await waitFor(() => api.received.some((x) => x.headers.authorization === 'Bearer tok-2'));
    expect(issued).toBe(2);
  });

  it('retries a 500 three times, honouring Retry-After, then dead-letters with failure headers', async () => {
    const r = await receiver((_req, res) => res.writeHead(503, { 'retry-after': '1' }).end('down for maintenance'));
    const sub = await hub.subscribe({ endpointUrl: r.url });
    const event = anEvent();
    await hub.publish(event, sub.id);
    const [dlt] = await consumeAll(hub.topics.dlt('user-lifecycle'), { count: 1, timeoutMs: 20_000 });
    expect(r.received).toHaveLength(3);
    expect(r.received.every((x) => x.headers['webhook-id'] === event.id)).toBe(true);
    const gaps = r.received.slice(1).map((x, i) => x.at - r.received[i]!.at);
    for (const g of gaps) expect(g).toBeGreaterThanOrEqual(900);
    expect(dlt!.headers[HUB_HEADERS.dltAttempts]).toBe('3');
    expect(dlt!.headers[HUB_HEADERS.dltLastStatus]).toBe('503');
    expect(dlt!.headers[HUB_HEADERS.dltLastErrorCode]).toBe('DELIVERY.HTTP_503');
    expect(dlt!.headers[HUB_HEADERS.subscriptionId]).toBe(sub.id);
    expect(dlt!.headers.ce_id).toBe(event.id);
    expect(Date.parse(dlt!.headers[HUB_HEADERS.dltLastAttemptAt]!)).toBeGreaterThan(
      Date.parse(dlt!.headers[HUB_HEADERS.dltFirstAttemptAt]!),
    );
    expect(dlt!.value!.toString()).toBe(event.data.toString());
  });

  it('sends a 410 straight to the DLT without retrying', async () => {
    const r = await receiver((_req, res) => res.writeHead(410).end());
    const sub = await hub.subscribe({ endpointUrl: r.url });
    const event = anEvent();
    await hub.publish(event, sub.id, 'access');
    const [dlt] = await consumeAll(hub.topics.dlt('access'), { count: 1 });
    expect(r.received).toHaveLength(1);
    expect(dlt!.headers[HUB_HEADERS.dltAttempts]).toBe('1');
    expect(dlt!.headers[HUB_HEADERS.dltLastErrorCode]).toBe('DELIVERY.HTTP_410');
  });

  it('skips a record whose subscription is unknown or paused, and keeps going', async () => {
    const r = await receiver();
    const paused = await hub.subscribe({ endpointUrl: r.url, status: 'PAUSED' });
    const live = await hub.subscribe({ endpointUrl: r.url });
    await hub.publish(anEvent(), 'no-such-subscription');
    await hub.publish(anEvent(), paused.id);
    const ok = anEvent();
    await hub.publish(ok, live.id);
    await waitFor(() => r.received.some((x) => x.headers['webhook-id'] === ok.id));
    expect(r.received).toHaveLength(1);
    await waitFor(() => hub.audit.entries.filter((e) => e.outcome === 'skipped').length >= 2);
  });

  it('never connects to a name that resolves to a non-allowlisted loopback address', async () => {
    const canary = await receiver();
    const sub = await hub.subscribe({ endpointUrl: `http://localhost.internal.test:${canary.port}/` });
    await hub.publish(anEvent(), sub.id, 'policy');
    const [dlt] = await consumeAll(hub.topics.dlt('policy'), { count: 1 });
    expect(dlt!.headers[HUB_HEADERS.dltLastErrorCode]).toMatch(/DELIVERY\.(SSRF_BLOCKED|DNS)/);
    expect(canary.connections).toBe(0);
  });
});
