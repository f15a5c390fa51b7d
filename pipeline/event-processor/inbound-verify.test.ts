import { createHmac } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { verifyInbound } from './inbound-verify';

const NOW = 1_700_000_000_000;
const at = (ms: number) => Math.floor(ms / 1000);
const body = Buffer.from('{"id":"evt_1","type":"invoice.paid"}');
const hex = (key: string, ...parts: string[]) => createHmac('sha256', key).update(parts.join('')).digest('hex');

describe('verifyInbound', () => {
  describe('documented test vectors', () => {
    it('GitHub: X-Hub-Signature-256 of "Hello, World!" under "It\'s a Secret to Everybody" (docs.github.com)', () => {
      const headers = {
        'x-hub-signature-256': 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17',
      };
      const v = { scheme: 'GITHUB' } as const;
      expect(verifyInbound(v, ["It's a Secret to Everybody"], headers, Buffer.from('Hello, World!'), NOW)).toEqual({
        ok: true,
      });
      expect(
        verifyInbound(v, ["It's a Secret to Everybody"], headers, Buffer.from('Hello, World?'), NOW),
      ).toMatchObject({ ok: false, reason: 'bad_signature' });
    });

    it('Slack: the slash-command example of "Verifying requests from Slack" (api.slack.com)', () => {
      const slackBody =
        'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
      const headers = {
        'x-slack-request-timestamp': '1531420618',
        'x-slack-signature': 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503',
      };
      const v = { scheme: 'SLACK', toleranceSeconds: 300 } as const;
      const secret = ['8f742231b10e8888abcd99yyyzzz85a5'];
      expect(verifyInbound(v, secret, headers, Buffer.from(slackBody), 1531420618_000 + 60_000)).toEqual({ ok: true });
      expect(verifyInbound(v, secret, headers, Buffer.from(slackBody), 1531420618_000 + 301_000)).toMatchObject({
        ok: false,
        reason: 'timestamp_out_of_tolerance',
      });
    });

    it('Standard Webhooks: the example of the specification (standard-webhooks/standard-webhooks)', () => {
      const headers = {
        'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek',
        'webhook-timestamp': '1614265330',
        'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
      };
      const v = { scheme: 'STANDARD_WEBHOOKS', toleranceSeconds: 300 } as const;
      const secret = ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'];
      expect(verifyInbound(v, secret, headers, Buffer.from('{"test": 2432232314}'), 1614265330_000)).toEqual({
        ok: true,
      });
    });
  });

  it('Standard Webhooks: accepts what the standardwebhooks package signs, with any live secret', () => {
    const secret = `whsec_${Buffer.alloc(32, 3).toString('base64')}`;
    const previous = `whsec_${Buffer.alloc(32, 4).toString('base64')}`;
    const signed = new Webhook(previous).sign('msg_1', new Date(NOW), body.toString());
    const headers = { 'webhook-id': 'msg_1', 'webhook-timestamp': String(at(NOW)), 'webhook-signature': signed };
    const v = { scheme: 'STANDARD_WEBHOOKS', toleranceSeconds: 300 } as const;
    expect(verifyInbound(v, [secret, previous], headers, body, NOW)).toEqual({ ok: true });
    expect(verifyInbound(v, [secret], headers, body, NOW)).toMatchObject({ ok: false, reason: 'bad_signature' });
    expect(verifyInbound(v, [previous], { ...headers, 'webhook-id': 'msg_2' }, body, NOW)).toMatchObject({
      reason: 'bad_signature',
    });
    expect(verifyInbound(v, [previous], headers, body, NOW + 301_000)).toMatchObject({
      reason: 'timestamp_out_of_tolerance',
    });
    expect(verifyInbound(v, [previous], { ...headers, 'webhook-signature': 'v2,abc' }, body, NOW)).toMatchObject({
      reason: 'malformed_signature',
    });
  });

  it('Stripe: t= and several v1= (a rolled secret), within the tolerance only', () => {
    const secret = 'whsec_stripe_test_secret';
    const t = String(at(NOW));
    const good = hex(secret, t, '.', body.toString());
    const v = { scheme: 'STRIPE', toleranceSeconds: 300 } as const;
    const header = (sig: string, ts = t) => ({ 'stripe-signature': `t=${ts},v1=${'0'.repeat(64)},v1=${sig},v0=abc` });
    expect(verifyInbound(v, [secret], header(good), body, NOW)).toEqual({ ok: true });
    expect(verifyInbound(v, ['whsec_other'], header(good), body, NOW)).toMatchObject({ reason: 'bad_signature' });
    expect(verifyInbound(v, [secret], header(good), Buffer.from(`${body} `), NOW)).toMatchObject({
      reason: 'bad_signature',
    });
    const old = String(at(NOW) - 301);
    expect(verifyInbound(v, [secret], header(hex(secret, old, '.', body.toString()), old), body, NOW)).toMatchObject({
      reason: 'timestamp_out_of_tolerance',
    });
    expect(verifyInbound(v, [secret], {}, body, NOW)).toMatchObject({ reason: 'missing_signature' });
  });

  it('HMAC_SHA256: the configured header, prefix and encoding', () => {
    const v = { scheme: 'HMAC_SHA256', header: 'X-Signature', encoding: 'base64', prefix: 'sha256=' } as const;
    const sig = createHmac('sha256', 'k-123456').update(body).digest('base64');
    expect(verifyInbound(v, ['k-123456'], { 'x-signature': `sha256=${sig}` }, body, NOW)).toEqual({ ok: true });
    expect(verifyInbound(v, ['k-123456'], { 'x-signature': sig }, body, NOW)).toMatchObject({
      reason: 'malformed_signature',
    });
    const hexV = { ...v, encoding: 'hex', prefix: '' } as const;
    const hexSig = createHmac('sha256', 'k-123456').update(body).digest('hex');
    expect(verifyInbound(hexV, ['k-123456'], { 'x-signature': hexSig }, body, NOW)).toEqual({ ok: true });
    expect(verifyInbound(hexV, ['k-654321'], { 'x-signature': hexSig }, body, NOW)).toMatchObject({
      reason: 'bad_signature',
    });
  });

  it('BASIC and BEARER: the Authorization header against the secret', () => {
    const basic = { scheme: 'BASIC', username: 'vendor' } as const;
    const auth = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
    expect(verifyInbound(basic, ['pw-123456'], { authorization: auth('vendor', 'pw-123456') }, body, NOW)).toEqual({
      ok: true,
    });
    expect(verifyInbound(basic, ['pw-123456'], { authorization: auth('other', 'pw-123456') }, body, NOW)).toMatchObject(
      { reason: 'bad_credentials' },
    );
    const bearer = { scheme: 'BEARER' } as const;
    expect(verifyInbound(bearer, ['tok-123456'], { authorization: 'Bearer tok-123456' }, body, NOW)).toEqual({
      ok: true,
    });
    expect(verifyInbound(bearer, ['tok-123456'], { authorization: 'Bearer tok-1234567' }, body, NOW)).toMatchObject({
      reason: 'bad_credentials',
    });
    expect(verifyInbound(bearer, ['tok-123456'], {}, body, NOW)).toMatchObject({ reason: 'missing_signature' });
  });
});
