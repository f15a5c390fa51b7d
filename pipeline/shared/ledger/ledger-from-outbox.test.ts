import {
  checkedLedgerEventHeader,
  LEDGER_EVENT_HEADER,
  ledgerEventHeaderSchema,
  ledgerRecordsOfOutbox,
} from './ledger-from-outbox';
import { decodeLedgerMessage, encodeLedgerRecord } from './ledger-record';
import { prepareBatch } from './ledger-store';

const receivedAt = '2026-12-02T01:00:00.000Z';
const base = (extra: Record<string, string> = {}) => ({
  headers: {
    ce_specversion: '1.0',
    ce_id: 'evt-1',
    ce_type: 'com.example.user.created',
    ce_source: '//identity',
    ce_subject: 'USER/u-1',
    ce_traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    'content-type': 'application/json',
    'hub-subscription-id': 'sub-1',
    'hub-tenant-id': 'tenant-a',
    'hub-domain': 'user-lifecycle',
    'hub-received-at': receivedAt,
    ...extra,
  } as Record<string, string>,
  value: Buffer.from('{"userId":"u-1"}'),
});
const eventHeader = JSON.stringify({
  match: { sourceService: 'identity', eventType: 'USER', resourceType: 'USER', operationType: 'CREATE' },
  fanOut: 3,
  ingest: { topic: 'platform.events.v1', partition: 2, offset: '41' },
});

describe('ledgerRecordsOfOutbox', () => {
  it("reads an event's first record as the event (fan-out, payload as delivered) and its PENDING delivery", () => {
    const r = ledgerRecordsOfOutbox(base({ [LEDGER_EVENT_HEADER]: eventHeader }));
    if (!('records' in r)) throw new Error(r.reason);
    expect(r.records).toHaveLength(1);
    // Encoded for the ledger topic, a record the writer's own decoder accepts, its body the same bytes in base64.
    const decoded = decodeLedgerMessage(encodeLedgerRecord(r.records[0]!));
    expect(decoded.invalid).toEqual([]);
    expect(decoded.records[0]).toMatchObject({
      kind: 'event',
      payload: { body: Buffer.from('{"userId":"u-1"}').toString('base64') },
    });
    expect(r.records[0]).toEqual({
      kind: 'event',
      at: receivedAt,
      eventId: 'evt-1',
      tenantId: 'tenant-a',
      type: 'com.example.user.created',
      source: '//identity',
      subject: 'USER/u-1',
      match: { sourceService: 'identity', eventType: 'USER', resourceType: 'USER', operationType: 'CREATE' },
      domain: 'user-lifecycle',
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      receivedAt,
      ingest: { topic: 'platform.events.v1', partition: 2, offset: '41' },
      subscriptionIds: ['sub-1'],
      fanOut: 3,
      payload: {
        headers: {
          ce_specversion: '1.0',
          ce_id: 'evt-1',
          ce_type: 'com.example.user.created',
          ce_source: '//identity',
          ce_subject: 'USER/u-1',
          ce_traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
          'content-type': 'application/json',
        },
        body: Buffer.from('{"userId":"u-1"}'),
      },
    });
    // The event row counts the whole fan-out although the record names one subscription.
    const b = prepareBatch(r.records);
    expect(b.events[0]!.fanOut).toBe(3);
    expect(b.deliveries.map((d) => [d.subscriptionId, d.delivery])).toEqual([['sub-1', undefined]]);
  });

  it('reads any other record as its PENDING delivery, which never replaces a later state', () => {
    const r = ledgerRecordsOfOutbox(base({ 'hub-subscription-id': 'sub-2' }));
    if (!('records' in r)) throw new Error(r.reason);
    expect(r.records).toEqual([
      {
        kind: 'delivery',
        at: receivedAt,
        eventId: 'evt-1',
        tenantId: 'tenant-a',
        subscriptionId: 'sub-2',
        receivedAt,
        status: 'PENDING',
        reason: null,
        attempts: 0,
        lastStatusCode: null,
        nextAttemptAt: null,
      },
    ]);
    const delivered = {
      ...(r.records[0] as object),
      status: 'DELIVERED',
      at: '2026-12-02T01:00:01.000Z',
    } as (typeof r.records)[0];
    // In one batch, whichever comes first, the delivery keeps its later state.
    for (const order of [
      [r.records[0]!, delivered],
      [delivered, r.records[0]!],
    ])
      expect(prepareBatch(order).deliveries[0]!.delivery).toMatchObject({ status: 'DELIVERED' });
  });

  it('names what is missing or malformed instead of guessing', () => {
    const noTenant = base();
    delete noTenant.headers['hub-tenant-id'];
    expect(ledgerRecordsOfOutbox(noTenant)).toEqual({ reason: expect.stringContaining('hub-tenant-id') });
    expect(ledgerRecordsOfOutbox(base({ [LEDGER_EVENT_HEADER]: '{not json' }))).toEqual({
      reason: expect.stringContaining('is not JSON'),
    });
    expect(ledgerRecordsOfOutbox(base({ [LEDGER_EVENT_HEADER]: '{"fanOut":0}' }))).toEqual({
      reason: expect.stringContaining(LEDGER_EVENT_HEADER),
    });
  });
});

describe('checkedLedgerEventHeader (the writer reads the header without zod)', () => {
  const header = JSON.parse(eventHeader) as Record<string, unknown>;
  const odd: unknown[] = [undefined, null, 0, -1, 1.5, 'x', [], {}, true];
  const change = (o: Record<string, unknown>, key: string, v: unknown) => ({ ...o, [key]: v });
  const variants: unknown[] = [header, { ...header, ingest: undefined }, { ...header, extra: 1 }];
  for (const key of Object.keys(header)) for (const v of odd) variants.push(change(header, key, v));
  for (const part of ['match', 'ingest'] as const) {
    const inner = header[part] as Record<string, unknown>;
    for (const key of Object.keys(inner))
      for (const v of odd) variants.push(change(header, part, change(inner, key, v)));
    variants.push(change(header, part, { ...inner, extra: 1 }));
  }

  it('passes what the event-processor writes, and only what the schema accepts unchanged', () => {
    expect(checkedLedgerEventHeader(header)).toBe(header);
    let fast = 0;
    for (const v of variants) {
      const checked = checkedLedgerEventHeader(v);
      if (!checked) continue;
      fast++;
      const zod = ledgerEventHeaderSchema.safeParse(v);
      expect(zod.success).toBe(true);
      expect(zod.data).toStrictEqual(checked);
    }
    expect(fast).toBeGreaterThan(1);
  });

  it('leaves the verdict and the reason on a header it does not pass to zod', () => {
    for (const v of variants) {
      const read = ledgerRecordsOfOutbox(base({ [LEDGER_EVENT_HEADER]: JSON.stringify(v ?? null) }));
      const zod = ledgerEventHeaderSchema.safeParse(JSON.parse(JSON.stringify(v ?? null)));
      if (zod.success)
        expect('records' in read && read.records[0]).toMatchObject({ kind: 'event', fanOut: zod.data.fanOut });
      else expect(read).toEqual({ reason: `${LEDGER_EVENT_HEADER}: ${zod.error.issues[0]?.message ?? 'invalid'}` });
    }
  });
});
