import { HTTP } from 'cloudevents';
import { Webhook } from 'standardwebhooks';
import { HUB_HEADERS } from '../../pipeline/shared/topics';
import { waitFor } from '../support/kafka';
import { type Received, type Receiver, startReceiver } from '../support/receiver';
import { anEvent, dltRecordsOf, type Harness, startHarness, whsec } from './harness';

jest.setTimeout(60_000);

const asHeaders = (r: Received) => r.headers as Record<string, string>;

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
    const secret = whsec();
    // The subscriber verifies like a real one would, and refuses anything else.
    const r = await receiver((req, res) => {
      try {
        new Webhook(secret).verify(req.body.toString(), asHeaders(req));
        res.writeHead(204).end();
      } catch {
        res.writeHead(400).end();
      }
    });
    const sub = await hub.subscribe({
      endpointUrl: `${r.url}/hook`,
      signingSecret: secret,
      customHeaders: { 'X-Team': 'identity', 'Webhook-Id': 'forged' },
    });
    const event = anEvent({ subject: 'users/u1' });
    await hub.publish(event, sub.id);
    const got = await waitFor(() => r.received[0], { what: 'delivery' });
    expect(got.headers['webhook-id']).toBe(event.id);
    expect(() => new Webhook(secret).verify(got.body.toString(), asHeaders(got))).not.toThrow();
    expect(got.body.equals(event.data)).toBe(true);
    const ce = HTTP.toEvent({ headers: got.headers, body: got.body.toString() }) as unknown as {
      id: string;
      type: string;
      source: string;
      subject: string;
      tenantid: string;
      data: unknown;
    };
    expect(ce).toMatchObject({ id: event.id, type: 'user.created', source: '//identity', subject: 'users/u1' });
    expect(ce.tenantid).toBe('tenant-a');
    expect(ce.data).toEqual({ userId: 'u1', email: 'u1@example.com' });
    expect(got.headers.traceparent).toBe(event.extensions.traceparent);
    expect(got.headers['x-team']).toBe('identity');
    expect(got.headers['user-agent']).toMatch(/^IntegrationHub\//);
    await waitFor(() => hub.audit.entries.find((e) => e.eventId === event.id && e.stage === 'HTTP_SEND'));
    expect(hub.audit.entries.find((e) => e.eventId === event.id && e.stage === 'HTTP_SEND')).toMatchObject({
      status: 204,
      attempt: 1,
      subscriptionId: sub.id,
    });
  });

  it('delivers in structured mode with two signatures during a secret rotation; either secret verifies', async () => {
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
      expect(() => new Webhook(s).verify(got.body.toString(), asHeaders(got))).not.toThrow();
    expect(() => new Webhook(whsec()).verify(got.body.toString(), asHeaders(got))).toThrow();
    const ce = HTTP.toEvent({ headers: got.headers, body: got.body.toString() }) as { id: string; data: unknown };
    expect(ce.id).toBe(event.id);
    expect(ce.data).toEqual({ userId: 'u1', email: 'u1@example.com' });
  });

  it('sends BASIC, JWT and APIKEY credentials that the receiving server checks', async () => {
    const expected: Record<string, [string, string]> = {
      '/basic': ['authorization', `Basic ${Buffer.from('hub:pa:ss').toString('base64')}`],
      '/jwt': ['authorization', 'Bearer eyJ.test.token'],
      '/key': ['x-api-key', 'k-123'],
    };
    const r = await receiver((req, res) => {
      const [header, value] = expected[req.path] ?? ['-', '-'];
      res.writeHead(req.headers[header] === value ? 204 : 401).end();
    });
    const subs = [
      await hub.subscribe({
        endpointUrl: `${r.url}/basic`,
        plainAuth: { type: 'BASIC', username: 'hub', password: 'pa:ss' },
      }),
      await hub.subscribe({ endpointUrl: `${r.url}/jwt`, plainAuth: { type: 'JWT', token: 'eyJ.test.token' } }),
      await hub.subscribe({
        endpointUrl: `${r.url}/key`,
        plainAuth: { type: 'APIKEY', headerName: 'X-Api-Key', key: 'k-123' },
      }),
    ];
    const events = subs.map(() => anEvent());
    for (const [i, s] of subs.entries()) await hub.publish(events[i]!, s.id);
    const delivered = await waitFor(
      () => {
        const ids = new Set(events.map((e) => e.id));
        const ok = hub.audit.entries.filter((e) => ids.has(e.eventId) && e.stage === 'HTTP_SEND');
        return ok.length >= 3 ? ok : undefined;
      },
      { what: 'three auth deliveries' },
    );
    expect(delivered.map((e) => e.status)).toEqual([204, 204, 204]);
  });

  it('fetches an OAuth2 token once for concurrent deliveries, reuses it, and refreshes it after a 401', async () => {
    let issued = 0;
    const tokenServer = await receiver((req, res) => {
      const form = new URLSearchParams(req.body.toString());
      const ok =
        req.headers.authorization === `Basic ${Buffer.from('client-1:s3cret').toString('base64')}` &&
        req.headers['content-type'] === 'application/x-www-form-urlencoded' &&
        form.get('grant_type') === 'client_credentials';
      if (!ok) return void res.writeHead(401).end();
      issued++;
      // Slow enough that concurrent deliveries all wait for this one fetch.
      setTimeout(
        () =>
          res
            .writeHead(200, { 'content-type': 'application/json' })
            .end(JSON.stringify({ access_token: `tok-${issued}`, token_type: 'Bearer', expires_in: 3600 })),
        200,
      );
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
    await hub.publish(anEvent(), sub.id);
    await waitFor(() => api.received.length === 6);
    expect(issued).toBe(1);
    // The subscriber revokes the token: the next delivery gets a 401, fetches tok-2 and succeeds, in one attempt.
    revoked = 'tok-1';
    const event = anEvent();
    await hub.publish(event, sub.id);
    await waitFor(() => api.received.some((x) => x.headers.authorization === 'Bearer tok-2'));
    expect(issued).toBe(2);
    const sends = await waitFor(() => {
      const s = hub.audit.entries.filter((e) => e.eventId === event.id && e.stage === 'HTTP_SEND');
      return s.length > 0 ? s : undefined;
    });
    expect(sends).toEqual([expect.objectContaining({ attempt: 1, status: 204 })]);
  });

  it('authenticates the OAuth2 client in the form body when the subscription asks for it', async () => {
    const tokenServer = await receiver((req, res) => {
      const form = new URLSearchParams(req.body.toString());
      const ok =
        !req.headers.authorization && form.get('client_id') === 'client-2' && form.get('client_secret') === 'pw';
      res
        .writeHead(ok ? 200 : 401, { 'content-type': 'application/json' })
        .end(JSON.stringify({ access_token: 'b-1' }));
    });
    const api = await receiver((req, res) =>
      res.writeHead(req.headers.authorization === 'Bearer b-1' ? 204 : 401).end(),
    );
    const sub = await hub.subscribe({
      endpointUrl: api.url,
      plainAuth: {
        type: 'OAUTH2',
        clientId: 'client-2',
        clientSecret: 'pw',
        tokenUrl: `${tokenServer.url}/token`,
        clientAuth: 'body',
      },
    });
    await hub.publish(anEvent(), sub.id);
    await waitFor(() => api.received.length === 1);
    expect(tokenServer.received).toHaveLength(1);
  });

  it('makes a token endpoint answering garbage a retriable failure that ends in the DLT, never calling the subscriber', async () => {
    const tokenServer = await receiver((_req, res) =>
      res.writeHead(200, { 'content-type': 'text/html' }).end('<html>'),
    );
    const api = await receiver();
    const sub = await hub.subscribe({
      endpointUrl: api.url,
      plainAuth: { type: 'OAUTH2', clientId: 'c', clientSecret: 'never-logged', tokenUrl: tokenServer.url },
    });
    await hub.publish(anEvent(), sub.id);
    const [dlt] = await dltRecordsOf(hub, sub.id, 1);
    expect(dlt!.headers[HUB_HEADERS.dltLastErrorCode]).toBe('DELIVERY.AUTH_TOKEN_INVALID');
    expect(dlt!.headers[HUB_HEADERS.dltAttempts]).toBe('3');
    expect(tokenServer.received).toHaveLength(3);
    expect(api.received).toHaveLength(0);
    expect(JSON.stringify(dlt!.headers)).not.toContain('never-logged');
  });

  it('retries a 503 three times, honouring Retry-After, then dead-letters with the failure headers', async () => {
    const r = await receiver((_req, res) => res.writeHead(503, { 'retry-after': '1' }).end('down for maintenance'));
    const sub = await hub.subscribe({ endpointUrl: r.url });
    const event = anEvent();
    await hub.publish(event, sub.id);
    const [dlt] = await dltRecordsOf(hub, sub.id, 1);
    expect(r.received).toHaveLength(3);
    expect(r.received.every((x) => x.headers['webhook-id'] === event.id)).toBe(true);
    // Retry-After: 1 s, instead of the ~50-100 ms backoff this harness would otherwise use.
    const gaps = r.received.slice(1).map((x, i) => x.at - r.received[i]!.at);
    console.log(`Retry-After: 1 -> gaps between attempts ${gaps.join(', ')} ms`);
    for (const g of gaps) expect(g).toBeGreaterThanOrEqual(950);
    expect(dlt!.key).toBe('tenant-a');
    expect(dlt!.topic).toBe(hub.topics.dlt('user-lifecycle'));
    expect(dlt!.headers).toMatchObject({
      [HUB_HEADERS.dltAttempts]: '3',
      [HUB_HEADERS.dltLastStatus]: '503',
      [HUB_HEADERS.dltLastErrorCode]: 'DELIVERY.HTTP_503',
      [HUB_HEADERS.subscriptionId]: sub.id,
      [HUB_HEADERS.tenantId]: 'tenant-a',
      [HUB_HEADERS.sourceTopic]: hub.topics.outbox('user-lifecycle'),
      ce_id: event.id,
      ce_traceparent: event.extensions.traceparent,
    });
    expect(dlt!.headers[HUB_HEADERS.dltLastError]).toContain('503');
    expect(Number(dlt!.headers[HUB_HEADERS.sourcePartition])).toBeGreaterThanOrEqual(0);
    expect(dlt!.headers[HUB_HEADERS.sourceOffset]).toMatch(/^\d+$/);
    expect(Date.parse(dlt!.headers[HUB_HEADERS.dltLastAttemptAt]!)).toBeGreaterThan(
      Date.parse(dlt!.headers[HUB_HEADERS.dltFirstAttemptAt]!),
    );
    expect(dlt!.value!.equals(event.data)).toBe(true);
  });

  it('retries with exponential backoff and delivers when the subscriber recovers', async () => {
    let n = 0;
    const r = await receiver((_req, res) => {
      n++;
      res.writeHead(n < 3 ? 500 : 200).end();
    });
    const sub = await hub.subscribe({ endpointUrl: r.url });
    const event = anEvent();
    await hub.publish(event, sub.id);
    await waitFor(() => r.received.length === 3);
    await waitFor(() =>
      hub.audit.entries.find((e) => e.eventId === event.id && e.stage === 'HTTP_SEND' && e.status === 200),
    );
    const attempts = hub.audit.entries.filter((e) => e.eventId === event.id && e.stage === 'HTTP_SEND');
    expect(attempts.map((a) => [a.attempt, a.status])).toEqual([
      [1, 500],
      [2, 500],
      [3, 200],
    ]);
  });

  it.each([
    [410, 'DELIVERY.HTTP_410'],
    [400, 'DELIVERY.HTTP_400'],
    [403, 'DELIVERY.HTTP_403'],
  ])('sends a %i straight to the DLT without retrying', async (status, code) => {
    const r = await receiver((_req, res) => res.writeHead(status).end());
    const sub = await hub.subscribe({ endpointUrl: r.url });
    await hub.publish(anEvent(), sub.id, 'access');
    const [dlt] = await dltRecordsOf(hub, sub.id, 1);
    expect(r.received).toHaveLength(1);
    expect(dlt!.topic).toBe(hub.topics.dlt('access'));
    expect(dlt!.headers[HUB_HEADERS.dltAttempts]).toBe('1');
    expect(dlt!.headers[HUB_HEADERS.dltLastErrorCode]).toBe(code);
  });

  it('does not follow a redirect: a 307 is a permanent DELIVERY.REDIRECT failure', async () => {
    const target = await receiver();
    const r = await receiver((_req, res) => res.writeHead(307, { location: `${target.url}/elsewhere` }).end());
    const sub = await hub.subscribe({ endpointUrl: r.url });
    await hub.publish(anEvent(), sub.id);
    const [dlt] = await dltRecordsOf(hub, sub.id, 1);
    expect(dlt!.headers[HUB_HEADERS.dltLastErrorCode]).toBe('DELIVERY.REDIRECT');
    expect(dlt!.headers[HUB_HEADERS.dltLastStatus]).toBe('307');
    expect(target.connections).toBe(0);
  });

  it('counts a 2xx with a huge or never-ending body as delivered, reading at most 64 KiB of it', async () => {
    const huge = await receiver((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(Buffer.alloc(8 * 1024 * 1024, 'x'));
    });
    const endless = await receiver((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const timer = setInterval(() => res.write('y'.repeat(1024)), 5);
      res.on('close', () => clearInterval(timer));
    });
    const subs = [await hub.subscribe({ endpointUrl: huge.url }), await hub.subscribe({ endpointUrl: endless.url })];
    const events = [anEvent(), anEvent()];
    await hub.publish(events[0]!, subs[0]!.id);
    await hub.publish(events[1]!, subs[1]!.id);
    for (const e of events)
      await waitFor(() =>
        hub.audit.entries.find((x) => x.eventId === e.id && x.stage === 'HTTP_SEND' && x.outcome === 'delivered'),
      );
  });

  it('counts a subscriber that never answers as a timeout, retried, then dead-lettered', async () => {
    const r = await receiver(() => {
      /* never answers */
    });
    const sub = await hub.subscribe({ endpointUrl: r.url });
    await hub.publish(anEvent(), sub.id);
    const [dlt] = await dltRecordsOf(hub, sub.id, 1, { timeoutMs: 30_000 });
    expect(dlt!.headers[HUB_HEADERS.dltLastErrorCode]).toBe('DELIVERY.TIMEOUT');
    expect(dlt!.headers[HUB_HEADERS.dltAttempts]).toBe('3');
    expect(dlt!.headers[HUB_HEADERS.dltLastStatus]).toBe('');
  });

  it('counts a refused connection as retriable DELIVERY.CONNECT', async () => {
    const r = await startReceiver();
    const url = r.url;
    await r.close();
    const sub = await hub.subscribe({ endpointUrl: url });
    await hub.publish(anEvent(), sub.id);
    const [dlt] = await dltRecordsOf(hub, sub.id, 1);
    expect(dlt!.headers[HUB_HEADERS.dltLastErrorCode]).toBe('DELIVERY.CONNECT');
    expect(dlt!.headers[HUB_HEADERS.dltAttempts]).toBe('3');
  });

  it('never sends a record whose subscription is unknown, deleted (SKIPPED) or paused (HELD), and keeps going', async () => {
    const r = await receiver();
    const paused = await hub.subscribe({ endpointUrl: r.url, status: 'PAUSED' });
    const deleted = await hub.subscribe({ endpointUrl: r.url });
    await hub.producer.send({ topic: hub.topics.subscriptions, messages: [{ key: deleted.id, value: null }] });
    await waitFor(() => hub.directory.get(deleted.id) === undefined);
    const live = await hub.subscribe({ endpointUrl: r.url });
    const skipped = [anEvent(), anEvent(), anEvent()];
    await hub.publish(skipped[0]!, 'no-such-subscription');
    await hub.publish(skipped[1]!, paused.id);
    await hub.publish(skipped[2]!, deleted.id);
    const ok = anEvent();
    await hub.publish(ok, live.id);
    await waitFor(() => r.received.some((x) => x.headers['webhook-id'] === ok.id));
    expect(r.received).toHaveLength(1);
    // Each is recorded with its reason: the gate's refusals as SKIPPED, the paused one as HELD (kept for resume).
    const disposition = async (subId: string) => (await dltRecordsOf(hub, subId, 1))[0]!.headers;
    expect(await disposition('no-such-subscription')).toMatchObject({
      [HUB_HEADERS.dltDisposition]: 'SKIPPED',
      [HUB_HEADERS.dltLastErrorCode]: 'GATE.SUBSCRIPTION_GONE',
    });
    expect(await disposition(deleted.id)).toMatchObject({ [HUB_HEADERS.dltDisposition]: 'SKIPPED' });
    expect(await disposition(paused.id)).toMatchObject({
      [HUB_HEADERS.dltDisposition]: 'HELD',
      [HUB_HEADERS.dltLastError]: expect.stringMatching(/paused/),
    });
  });

  it('dead-letters a malformed outbox record with its reason and keeps going', async () => {
    const r = await receiver();
    const live = await hub.subscribe({ endpointUrl: r.url });
    await hub.producer.send({
      topic: hub.topics.outbox('organization'),
      messages: [{ key: 'tenant-a', value: 'x', headers: { [HUB_HEADERS.subscriptionId]: live.id, ce_id: 'broken' } }],
    });
    const ok = anEvent();
    await hub.publish(ok, live.id, 'organization');
    await waitFor(() => r.received.some((x) => x.headers['webhook-id'] === ok.id));
    const [dlt] = await dltRecordsOf(hub, live.id, 1);
    expect(dlt!.headers[HUB_HEADERS.dltLastErrorCode]).toBe('OUTBOX.MALFORMED');
    expect(dlt!.headers[HUB_HEADERS.dltLastError]).toMatch(/missing CloudEvent attribute/);
  });
});

describe('outbox-processor: no silent stall', () => {
  it('completes a record whose processing rejects unexpectedly into the DLT (OUTBOX.INTERNAL) and keeps its partition moving', async () => {
    let poison: string | undefined;
    const hub = await startHarness({
      wrapHandle: (handle) => async (item) => {
        if (item.event.id === poison) throw new Error('bug: unexpected rejection');
        return handle(item);
      },
    });
    const r = await startReceiver();
    try {
      const sub = await hub.subscribe({ endpointUrl: r.url });
      const bad = anEvent();
      poison = bad.id;
      const after = [anEvent(), anEvent()];
      await hub.publish(bad, sub.id);
      for (const e of after) await hub.publish(e, sub.id);
      await waitFor(() => after.every((e) => r.received.some((x) => x.headers['webhook-id'] === e.id)));
      const [dlt] = await dltRecordsOf(hub, sub.id, 1);
      expect(dlt!.headers).toMatchObject({
        ce_id: bad.id,
        [HUB_HEADERS.dltLastErrorCode]: 'OUTBOX.INTERNAL',
        [HUB_HEADERS.dltLastError]: expect.stringMatching(/unexpected rejection/),
      });
      // Its offset was completed: the group's committed offset reaches the end of the partition.
      await waitFor(
        async () => {
          const admin = hub.kafka.admin();
          await admin.connect();
          try {
            const [committed] = await admin.fetchOffsets({
              groupId: hub.groupId,
              topics: [hub.topics.outbox('user-lifecycle')],
            });
            const ends = await admin.fetchTopicOffsets(hub.topics.outbox('user-lifecycle'));
            return ends.every(
              (e) =>
                committed!.partitions.find((p) => p.partition === e.partition)?.offset === e.high || e.high === '0',
            );
          } finally {
            await admin.disconnect();
          }
        },
        { what: 'committed offsets at the end of every partition' },
      );
    } finally {
      await hub.stop();
      await r.close();
    }
  });
});
