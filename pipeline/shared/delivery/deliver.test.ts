import { Webhook } from 'standardwebhooks';
import { aSnapshot } from '../../../test/fixtures/subscriptions';
import type { HubCloudEvent } from '../cloudevents/envelope';
import { BATCH_CONTENT_TYPE } from './build-request';
import { deliverBatch, deliverOnce } from './deliver';
import type { HttpRequest, Sender } from './send';

const secret = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
const ev = (id: string): HubCloudEvent => ({
  specversion: '1.0',
  id,
  source: '//identity',
  type: 'user.created',
  datacontenttype: 'application/json',
  extensions: { tenantid: 'acme' },
  data: Buffer.from(`{"n":"${id}"}`),
});

function deps(status = 204) {
  const sent: HttpRequest[] = [];
  const sender: Sender = {
    send: async (req) => {
      sent.push(req);
      return { status, headers: {}, body: Buffer.alloc(0), snippet: '', truncated: false, durationMs: 1 };
    },
  };
  return {
    sent,
    deps: {
      sender,
      auth: { headersFor: async () => ({ ok: true as const, headers: {} }), invalidate: () => {} },
      open: (sealed: string) => sealed, // the snapshot below holds the secret itself
    },
  };
}

describe('deliverOnce / deliverBatch', () => {
  const plain = aSnapshot({ signing: { current: secret } });
  const batched = aSnapshot({ signing: { current: secret }, batch: { maxEvents: 50, maxWaitMs: 100 } });

  it('sends one event in the binary mode of an unbatched subscription', async () => {
    const d = deps();
    expect((await deliverOnce(ev('e1'), plain, d.deps)).outcome).toBe('delivered');
    expect(d.sent[0]!.headers['ce-id']).toBe('e1');
    expect(d.sent[0]!.body!.toString()).toBe('{"n":"e1"}');
  });

  it('sends a scheduled retry or replay of a batched subscription as a batch of one, under the event id', async () => {
    const d = deps();
    expect((await deliverOnce(ev('e1'), batched, d.deps)).outcome).toBe('delivered');
    const req = d.sent[0]!;
    expect(req.headers['content-type']).toBe(BATCH_CONTENT_TYPE);
    expect(req.headers['webhook-id']).toBe('e1');
    expect(JSON.parse(req.body!.toString())).toEqual([expect.objectContaining({ id: 'e1', data: { n: 'e1' } })]);
    expect(() => new Webhook(secret).verify(req.body!.toString(), req.headers)).not.toThrow();
  });

  it('sends several events in one request; one result for all', async () => {
    const d = deps(503);
    const r = await deliverBatch([ev('e1'), ev('e2')], batched, d.deps);
    expect(r).toMatchObject({ outcome: 'failed', status: 503, failure: { kind: 'retriable' } });
    expect(d.sent).toHaveLength(1);
    expect(JSON.parse(d.sent[0]!.body!.toString()).map((e: { id: string }) => e.id)).toEqual(['e1', 'e2']);
  });
});
