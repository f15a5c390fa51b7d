import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import type { HubCloudEvent } from '../cloudevents/envelope';
import {
  activeSigningSecrets,
  BATCH_CONTENT_TYPE,
  batchWebhookId,
  buildBatchRequest,
  buildRequest,
  USER_AGENT,
} from './build-request';
import { BreakerRegistry, CircuitBreaker } from './circuit-breaker';
import { classifyError, classifyResponse, parseRetryAfter } from './classify-response';
import { DEFAULT_RETRY_POLICY, nextDelay } from './retry-policy';
import { sign, signatureHeader } from './sign';

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

describe('buildBatchRequest', () => {
  const now = new Date();
  const second: HubCloudEvent = {
    ...event,
    id: 'evt-43',
    datacontenttype: 'text/plain',
    data: Buffer.from('not json'),
  };

  it('sends the events as a CloudEvents JSON batch, in order, signed over the whole body', () => {
    const secret = whsec();
    const req = buildBatchRequest([event, second], sub, { signing: [secret] }, { authorization: 'Bearer t' }, now);
    expect(req.headers['content-type']).toBe(BATCH_CONTENT_TYPE);
    const body = JSON.parse(req.body.toString()) as Record<string, unknown>[];
    expect(body.map((e) => e.id)).toEqual(['evt-42', 'evt-43']);
    expect(body[0]).toMatchObject({ specversion: '1.0', type: 'user.created', data: { userId: 'u1' }, note: 'grüße' });
    expect(body[0]!.traceparent).toBe(event.extensions.traceparent);
    expect(body[1]!.data_base64).toBe(Buffer.from('not json').toString('base64'));
    // One signature for the batch; no per-event CloudEvents headers; the hub's headers win over custom ones.
    expect(req.headers['webhook-id']).toBe(batchWebhookId([event, second]));
    expect(req.headers['webhook-id']).toMatch(/^batch_[A-Za-z0-9_-]{32}$/);
    expect(req.headers['ce-id']).toBeUndefined();
    expect(req.headers.authorization).toBe('Bearer t');
    expect(req.headers['x-team']).toBe('a');
    expect(req.headers['user-agent']).toBe(USER_AGENT);
    expect(() => new Webhook(secret).verify(req.body.toString(), req.headers)).not.toThrow();
    const tampered = req.body.toString().replace('evt-43', 'evt-44');
    expect(() => new Webhook(secret).verify(tampered, req.headers)).toThrow();
  });

  it('names a batch of one by its event id, and a batch by its events in order', () => {
    expect(batchWebhookId([event])).toBe('evt-42');
    expect(batchWebhookId([event, second])).toBe(batchWebhookId([{ ...event }, { ...second }]));
    expect(batchWebhookId([event, second])).not.toBe(batchWebhookId([second, event]));
  });
});

describe('buildRequest', () => {
  const now = new Date();
  it('signs per Standard Webhooks with one secret, verifiable by the standardwebhooks library', () => {
    const secret = whsec();
    const req = buildRequest(event, sub, { signing: [secret] }, {}, now);
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
    const req = buildRequest(event, sub, { signing: secrets }, {}, now);
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
      { signing: [whsec()] },
      { authorization: 'Bearer t' },
      now,
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
  it('uses Retry-After, parks when it asks for longer than a wait in process, and respects the total time bound', () => {
    const p = { ...DEFAULT_RETRY_POLICY, maxDelayMs: 10_000, maxTotalMs: 20_000 };
    expect(nextDelay(p, 1, 0, 4000)).toBe(4000);
    expect(nextDelay(p, 1, 0, 60_000)).toBeUndefined();
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

describe('sign', () => {
  it('produces the same signature as the standardwebhooks library', () => {
    const secret = whsec();
    const at = new Date(1_700_000_000_000);
    const body = '{"a":"ü"}';
    const ours = sign(secret, 'msg_1', Math.floor(at.getTime() / 1000), Buffer.from(body));
    expect(ours).toBe(new Webhook(secret).sign('msg_1', at, body));
  });

  it('joins one v1 signature per secret with a space', () => {
    const h = signatureHeader([whsec(), whsec()], 'id', 1, Buffer.from('x'));
    expect(h).toMatch(/^v1,[A-Za-z0-9+/]+=* v1,[A-Za-z0-9+/]+=*$/);
  });
});

describe('buildRequest header ownership', () => {
  const now = new Date();
  it('never lets static headers or an APIKEY header name override the hub headers', () => {
    const secret = whsec();
    const req = buildRequest(
      event,
      {
        ...sub,
        customHeaders: {
          'Webhook-Signature': 'v1,forged',
          'Content-Type': 'text/plain',
          traceparent: 'x',
          'User-Agent': 'me',
          Host: 'evil',
          'X-Ok': '1',
        },
      },
      { signing: [secret] },
      { 'webhook-timestamp': '1', 'x-api-key': 'k' },
      now,
    );
    expect(req.method).toBe('POST');
    expect(req.headers['webhook-id']).toBe('evt-42');
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.headers.traceparent).toBe(event.extensions.traceparent);
    expect(req.headers['user-agent']).toBe(USER_AGENT);
    expect(req.headers.host).toBeUndefined();
    expect(req.headers['x-ok']).toBe('1');
    expect(req.headers['x-api-key']).toBe('k');
    expect(req.headers['webhook-timestamp']).toBe(String(Math.floor(now.getTime() / 1000)));
    expect(() => new Webhook(secret).verify(req.body.toString(), req.headers)).not.toThrow();
  });

  it('sends the data bytes untouched in binary mode, whatever their content type', () => {
    const bytes = Buffer.from([0, 1, 2, 255]);
    const req = buildRequest(
      { ...event, datacontenttype: 'application/octet-stream', data: bytes },
      sub,
      { signing: [whsec()] },
      {},
      now,
    );
    expect(req.body.equals(bytes)).toBe(true);
    expect(req.headers['content-type']).toBe('application/octet-stream');
  });

  it('percent-encodes header values outside printable ASCII, spaces and quotes included', () => {
    const req = buildRequest(
      { ...event, subject: 'a b"c%', extensions: { ...event.extensions, odd: '\ud800x' } },
      sub,
      { signing: [whsec()] },
      {},
      now,
    );
    expect(req.headers['ce-subject']).toBe('a%20b%22c%25');
    expect(req.headers['ce-odd']).toBe('%EF%BF%BDx');
  });
});

describe('classification table', () => {
  const now = new Date('2026-01-01T00:00:00Z');
  it.each([
    [301, 'permanent', 'DELIVERY.REDIRECT'],
    [302, 'permanent', 'DELIVERY.REDIRECT'],
    [307, 'permanent', 'DELIVERY.REDIRECT'],
    [404, 'permanent', 'DELIVERY.HTTP_404'],
    [410, 'permanent', 'DELIVERY.HTTP_410'],
    [422, 'permanent', 'DELIVERY.HTTP_422'],
    [408, 'retriable', 'DELIVERY.HTTP_408'],
    [429, 'retriable', 'DELIVERY.HTTP_429'],
    [502, 'retriable', 'DELIVERY.HTTP_502'],
    [504, 'retriable', 'DELIVERY.HTTP_504'],
  ])('%i is %s with code %s', (status, kind, code) => {
    const c = classifyResponse(status, {}, now);
    expect(c).toMatchObject({ delivered: false, failure: { kind, code, status } });
  });

  it('reads an HTTP-date Retry-After in the past as "now" and ignores Retry-After on permanent answers', () => {
    expect(parseRetryAfter('Wed, 31 Dec 2025 23:59:00 GMT', now)).toBe(0);
    const c = classifyResponse(410, { 'retry-after': '5' }, now);
    expect(!c.delivered && c.failure.retryAfterMs).toBeUndefined();
  });

  it.each([
    ['UND_ERR_CONNECT_TIMEOUT', 'DELIVERY.TIMEOUT', 'retriable'],
    ['UND_ERR_BODY_TIMEOUT', 'DELIVERY.TIMEOUT', 'retriable'],
    ['ECONNRESET', 'DELIVERY.RESET', 'retriable'],
    ['UND_ERR_SOCKET', 'DELIVERY.RESET', 'retriable'],
    ['EHOSTUNREACH', 'DELIVERY.CONNECT', 'retriable'],
    ['ENOTFOUND', 'DELIVERY.DNS', 'retriable'],
    ['ERR_INVALID_URL', 'DELIVERY.BAD_ENDPOINT', 'permanent'],
    ['SOMETHING_ELSE', 'DELIVERY.NETWORK', 'retriable'],
  ])('network error %s -> %s (%s)', (code, expected, kind) => {
    expect(classifyError(Object.assign(new Error('x'), { code }))).toMatchObject({ code: expected, kind });
  });

  it('reads the whole-exchange timeout (AbortSignal.timeout) as DELIVERY.TIMEOUT', () => {
    const err = new DOMException('The operation was aborted due to timeout', 'TimeoutError');
    expect(classifyError(err).code).toBe('DELIVERY.TIMEOUT');
  });
});

describe('retry schedule', () => {
  it('follows the table: ceilings 500 ms, 1 s, 2 s, 4 s ... capped at maxDelayMs', () => {
    const p = { ...DEFAULT_RETRY_POLICY, maxAttempts: 10, maxDelayMs: 3000, maxTotalMs: 1e9 };
    const ceilings = [1, 2, 3, 4, 5].map((n) => nextDelay(p, n, 0, undefined, () => 1 - Number.EPSILON));
    expect(ceilings).toEqual([499, 999, 1999, 2999, 2999]);
    expect([1, 2, 3].map((n) => nextDelay(p, n, 0, undefined, () => 0))).toEqual([0, 0, 0]);
  });

  it('defaults to 3 attempts in total', () => {
    expect(DEFAULT_RETRY_POLICY.maxAttempts).toBe(3);
    expect(nextDelay(DEFAULT_RETRY_POLICY, 2, 0, undefined)).toBeDefined();
    expect(nextDelay(DEFAULT_RETRY_POLICY, 3, 0, undefined)).toBeUndefined();
  });
});

describe('circuit breaker window', () => {
  it('needs minRequests in the window and forgets failures older than the window', () => {
    let t = 0;
    const b = new CircuitBreaker(
      { windowMs: 1000, minRequests: 3, failureRatio: 0.5, openMs: 500, halfOpenProbes: 2 },
      () => t,
    );
    b.record(false);
    b.record(false);
    expect(b.current()).toBe('closed');
    t = 2000;
    b.record(true);
    b.record(true);
    b.record(false);
    expect(b.current()).toBe('closed');
    b.record(false);
    expect(b.current()).toBe('open');
    t = 2600;
    expect([b.allow(), b.allow(), b.allow()]).toEqual([true, true, false]);
  });

  it('after 200k outcomes only the last window counts, and the failure ratio still trips it', () => {
    let t = 0;
    const b = new CircuitBreaker(
      { windowMs: 10_000, minRequests: 20, failureRatio: 0.5, openMs: 5000, halfOpenProbes: 1 },
      () => t,
    );
    // 200k successes over 100 s (2,000/s): only the last 10 s count.
    for (let i = 0; i < 200_000; i++) {
      t = Math.floor(i / 2);
      b.record(true);
    }
    expect(b.current()).toBe('closed');
    // 11 s later the successes have left the window: 20 failures in a fresh window trip it.
    t += 11_000;
    for (let i = 0; i < 19; i++) b.record(false);
    expect(b.current()).toBe('closed');
    b.record(false);
    expect(b.current()).toBe('open');
  });

  it('keeps one breaker per origin in a registry and counts states', () => {
    let t = 0;
    const r = new BreakerRegistry(
      { windowMs: 1000, minRequests: 1, failureRatio: 0.5, openMs: 100, halfOpenProbes: 1 },
      () => t,
    );
    r.for('https://a.example/x').record(false);
    expect(r.isOpen('https://a.example/other-path')).toBe(true);
    expect(r.isOpen('https://b.example/')).toBe(false);
    r.for('https://b.example/');
    expect(r.counts()).toEqual({ closed: 1, open: 1, 'half-open': 0 });
    t = 150;
    expect(r.isOpen('https://a.example/')).toBe(false);
    expect(r.counts()['half-open']).toBe(1);
  });
});
