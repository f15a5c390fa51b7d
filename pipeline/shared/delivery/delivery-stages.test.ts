import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import type { HubCloudEvent } from '../cloudevents/envelope';
import { activeSigningSecrets, buildRequest } from './build-request';
import { CircuitBreaker } from './circuit-breaker';
import { classifyError, classifyResponse, parseRetryAfter } from './classify-response';
import { DEFAULT_RETRY_POLICY, nextDelay } from './retry-policy';

const whsec = () => `whsec_${randomBytes(32).toString('base64')}`;
const event: HubCloudEvent = {
  specversion: '1.0',
  id: 'evt-42',
  source: '//identity',
  type: 'user.created',
  time: '2026-01-01T00:00:00.000Z',
  datacontenttype: 'application/json',
  extensions: {
    tenantid: 'tenant-a',
    traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    note: 'grüße',
  },
  data: Buffer.from('{"userId":"u1"}'),
};
const sub = {
  endpointUrl: 'https://example.com/hook',
  contentMode: 'BINARY' as const,
  customHeaders: { 'x-team': 'a', 'webhook-id': 'spoof' },
};

describe('buildRequest', () => {
  const now = new Date();
  it('signs per Standard Webhooks with one secret, verifiable by the standardwebhooks library', () => {
    const secret = whsec();
    const req = buildRequest(event, sub, { signingSecrets: [secret], authHeaders: {}, now });
    expect(req.headers['webhook-id']).toBe('evt-42');
    expect(req.body.toString()).toBe('{"userId":"u1"}');
    expect(req.headers['ce-id']).toBe('evt-42');
    expect(req.headers['x-team']).toBe('a');
    expect(req.headers.traceparent).toBe(event.extensions.traceparent);
    expect(req.headers['ce-note']).toBe(encodeURIComponent('grüße'));
    expect(() => new Webhook(secret).verify(req.body.toString(), req.headers)).not.toThrow();
    expect(() => new Webhook(whsec()).verify(req.body.toString(), req.headers)).toThrow();
  });

  it('carries two signatures during a rotation overlap; either secret verifies', () => {
    const [oldS, newS] = [whsec(), whsec()];
    const secrets = activeSigningSecrets(
      { signing: { current: newS, previous: oldS, previousExpiresAt: new Date(now.getTime() + 60_000).toISOString() } },
      (s) => s,
      now,
    );
    const req = buildRequest(event, sub, { signingSecrets: secrets, authHeaders: {}, now });
    expect(req.headers['webhook-signature']!.split(' ')).toHaveLength(2);
    for (const s of [oldS, newS]) expect(() => new Webhook(s).verify(req.body.toString(), req.headers)).not.toThrow();
    const after = activeSigningSecrets(
      { signing: { current: newS, previous: oldS, previousExpiresAt: new Date(now.getTime() - 1).toISOString() } },
      (s) => s,
      now,
    );
    expect(after).toEqual([newS]);
  });

  it('builds structured mode with the data inlined', () => {
    const req = buildRequest(
      event,
      { ...sub, contentMode: 'STRUCTURED' },
      { signingSecrets: [whsec()], authHeaders: { authorization: 'Bearer t' }, now },
    );
    expect(req.headers['content-type']).toMatch(/^application\/cloudevents\+json/);
    expect(JSON.parse(req.body.toString())).toMatchObject({
      id: 'evt-42',
      data: { userId: 'u1' },
      tenantid: 'tenant-a',
    });
    expect(req.headers.authorization).toBe('Bearer t');
  });
});

describe('classifyResponse', () => {
  const now = new Date('2026-01-01T00:00:00Z');
  it.each([
    [200, true, undefined],
    [204, true, undefined],
    [408, false, 'retriable'],
    [429, false, 'retriable'],
    [500, false, 'retriable'],
    [503, false, 'retriable'],
    [400, false, 'permanent'],
    [401, false, 'permanent'],
    [410, false, 'permanent'],
    [301, false, 'permanent'],
  ])('%i -> delivered=%s %s', (status, delivered, kind) => {
    const c = classifyResponse(status, {}, now);
    expect(c.delivered).toBe(delivered);
    if (!c.delivered) expect(c.failure.kind).toBe(kind);
  });

  it('honours Retry-After in seconds and as an HTTP date', () => {
    expect(parseRetryAfter('7', now)).toBe(7000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    const c = classifyResponse(429, { 'retry-after': '3' }, now);
    expect(!c.delivered && c.failure.retryAfterMs).toBe(3000);
  });

  it('classifies network errors', () => {
    expect(classifyError(Object.assign(new Error('x'), { code: 'UND_ERR_HEADERS_TIMEOUT' })).code).toBe(
      'DELIVERY.TIMEOUT',
    );
    expect(classifyError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })).kind).toBe('retriable');
    expect(classifyError(Object.assign(new Error('blocked'), { code: 'ERR_HUB_SSRF_BLOCKED' }))).toMatchObject({
      kind: 'permanent',
      code: 'DELIVERY.SSRF_BLOCKED',
    });
  });
});

describe('retry policy', () => {
  it('backs off exponentially with full jitter and stops after maxAttempts', () => {
    const p = { ...DEFAULT_RETRY_POLICY, maxAttempts: 4 };
    expect(nextDelay(p, 1, 0, undefined, () => 0.999)).toBe(499);
    expect(nextDelay(p, 2, 0, undefined, () => 0.999)).toBe(999);
    expect(nextDelay(p, 3, 0, undefined, () => 0.5)).toBe(1000);
    expect(nextDelay(p, 4, 0, undefined)).toBeUndefined();
  });
  it('uses Retry-After, capped, and respects the total time bound', () => {
    const p = { ...DEFAULT_RETRY_POLICY, maxDelayMs: 10_000, maxTotalMs: 20_000 };
    expect(nextDelay(p, 1, 0, 4000)).toBe(4000);
    expect(nextDelay(p, 1, 0, 60_000)).toBe(10_000);
    expect(nextDelay(p, 1, 15_000, 9000)).toBeUndefined();
  });
});

describe('circuit breaker', () => {
  it('opens on the failure ratio, half-opens after the open time, closes on a good probe', () => {
    let t = 0;
    const b = new CircuitBreaker(
      { windowMs: 1000, minRequests: 4, failureRatio: 0.5, openMs: 500, halfOpenProbes: 1 },
      () => t,
    );
    b.record(true);
    b.record(false);
    b.record(true);
    expect(b.current()).toBe('closed');
    b.record(false);
    expect(b.current()).toBe('open');
    expect(b.allow()).toBe(false);
    t = 600;
    expect(b.current()).toBe('half-open');
    expect(b.allow()).toBe(true);
    expect(b.allow()).toBe(false);
    b.record(false);
    expect(b.current()).toBe('open');
    t = 1200;
    expect(b.allow()).toBe(true);
    b.record(true);
    expect(b.current()).toBe('closed');
  });
});
