/** The demo subscriber verifies Standard Webhooks signatures, issues OAuth2 tokens and fails on request. */

import { Webhook } from 'standardwebhooks';
import { request } from 'undici';
import { type DemoSubscriber, startDemoSubscriber } from '../../scripts/demo/demo-subscriber';

const SECRET = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;

function signed(body: string, id = 'evt-1', secret = SECRET) {
  const ts = new Date();
  return {
    'content-type': 'application/json',
    'ce-id': id,
    'ce-type': 'user.created',
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(ts.getTime() / 1000)),
    'webhook-signature': new Webhook(secret).sign(id, ts, body),
  };
}

describe('demo subscriber', () => {
  let sub: DemoSubscriber;
  beforeEach(async () => {
    sub = await startDemoSubscriber();
  });
  afterEach(() => sub.stop());

  it('accepts a correctly signed delivery and records its webhook-id and CloudEvent attributes', async () => {
    sub.configure('healthy', { secret: SECRET });
    const body = '{"userId":"u1"}';
    const res = await request(sub.endpointUrl('healthy'), { method: 'POST', headers: signed(body), body });
    expect(res.statusCode).toBe(204);
    const [r] = sub.receipts('healthy');
    expect(r).toMatchObject({ webhookId: 'evt-1', signatureValid: true, ce: { id: 'evt-1', type: 'user.created' } });
    expect(sub.deliveredIds('healthy')).toEqual(new Set(['evt-1']));
  });

  it('rejects a delivery signed with another secret', async () => {
    sub.configure('healthy', { secret: SECRET });
    const body = '{"userId":"u1"}';
    const other = `whsec_${Buffer.alloc(32, 1).toString('base64')}`;
    const res = await request(sub.endpointUrl('healthy'), { method: 'POST', headers: signed(body, 'e2', other), body });
    expect(res.statusCode).toBe(400);
    expect(sub.receipts('healthy')[0]!.signatureValid).toBe(false);
  });

  it('requires a bearer token from its token endpoint on an OAuth2 endpoint', async () => {
    sub.configure('oauth', { secret: SECRET, oauth2: true });
    const body = '{}';
    expect((await request(sub.endpointUrl('oauth'), { method: 'POST', headers: signed(body), body })).statusCode).toBe(
      401,
    );
    const bad = await request(sub.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials&client_id=demo-client&client_secret=wrong',
    });
    expect(bad.statusCode).toBe(401);
    const basic = Buffer.from(`${sub.oauthClient.clientId}:${sub.oauthClient.clientSecret}`).toString('base64');
    const tok = await request(sub.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${basic}` },
      body: 'grant_type=client_credentials',
    });
    const { access_token } = (await tok.body.json()) as { access_token: string };
    const ok = await request(sub.endpointUrl('oauth'), {
      method: 'POST',
      headers: { ...signed(body, 'e3'), authorization: `Bearer ${access_token}` },
      body,
    });
    expect(ok.statusCode).toBe(204);
    expect(sub.tokensIssued()).toBe(1);
  });

  it('fails with 500 until it recovers', async () => {
    sub.configure('flaky', { secret: SECRET, failing: true });
    const body = '{}';
    expect((await request(sub.endpointUrl('flaky'), { method: 'POST', headers: signed(body), body })).statusCode).toBe(
      500,
    );
    sub.configure('flaky', { failing: false });
    expect((await request(sub.endpointUrl('flaky'), { method: 'POST', headers: signed(body), body })).statusCode).toBe(
      204,
    );
    expect(sub.deliveredIds('flaky').size).toBe(1);
  });
});
