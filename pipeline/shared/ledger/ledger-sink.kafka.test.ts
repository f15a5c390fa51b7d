import { aDelivery } from '../../../test/support/ledger-records';
import type { BatchingProducer, OutgoingRecord } from '../kafka/batching-producer';
import { decodeLedgerMessage, type LedgerDelivery } from './ledger-record';
import { kafkaLedgerSink } from './ledger-sink.kafka';

const at = Date.parse('2026-12-01T10:00:01.000Z');
const delivery = (eventId: string, reason: string | null = null): LedgerDelivery =>
  aDelivery({ eventId, tenantId: 't1', receivedAt: '2026-12-01T10:00:00.000Z' }, 's1', at, { reason });

/** A batching producer whose every sendAll is recorded and waits until the test answers it. */
function fakeProducer() {
  const sends: { records: OutgoingRecord[]; ack: () => void; fail: (e: Error) => void }[] = [];
  const producer = {
    sendAll: (records: OutgoingRecord[]) =>
      new Promise<void>((ack, fail) => {
        sends.push({ records, ack, fail });
      }),
  } as unknown as BatchingProducer;
  return { producer, sends };
}

const eventIdsOf = (r: OutgoingRecord) => decodeLedgerMessage(r.value).records.map((x) => x.eventId);

describe('kafkaLedgerSink', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('sends the records of one linger window as one bundle, and answers every emit once it is acknowledged', async () => {
    const { producer, sends } = fakeProducer();
    const sink = kafkaLedgerSink(producer, 'ledger', { lingerMs: 5 });
    let settled = 0;
    const a = sink.emit([delivery('e1')]).then(() => settled++);
    const b = sink.emit([delivery('e2'), delivery('e3')]).then(() => settled++);
    expect(sends).toHaveLength(0);
    jest.advanceTimersByTime(5);
    expect(sends).toHaveLength(1);
    expect(sends[0]!.records).toHaveLength(1);
    expect(sends[0]!.records[0]).toMatchObject({ topic: 'ledger', key: null });
    expect(eventIdsOf(sends[0]!.records[0]!)).toEqual(['e1', 'e2', 'e3']);
    expect(settled).toBe(0);
    sends[0]!.ack();
    await Promise.all([a, b]);
    expect(settled).toBe(2);
  });

  it('gathers for 25 ms by default (LEDGER_LINGER_MS): emits within the window share one bundle', async () => {
    const { producer, sends } = fakeProducer();
    const sink = kafkaLedgerSink(producer, 'ledger');
    void sink.emit([delivery('e1')]);
    jest.advanceTimersByTime(20);
    void sink.emit([delivery('e2')]);
    jest.advanceTimersByTime(4);
    expect(sends).toHaveLength(0);
    jest.advanceTimersByTime(1);
    expect(sends).toHaveLength(1);
    expect(eventIdsOf(sends[0]!.records[0]!)).toEqual(['e1', 'e2']);
  });

  it('cuts bundles at maxBytes (exactly: the bundle as sent), a record past it alone', async () => {
    const { producer, sends } = fakeProducer();
    const one = Buffer.byteLength(JSON.stringify(delivery('e0')));
    // Room for two records in a bundle ("[a,b]"), not three.
    const maxBytes = 2 * one + 3;
    const sink = kafkaLedgerSink(producer, 'ledger', { lingerMs: 5, maxBytes });
    const done = sink.emit([delivery('e0'), delivery('e1'), delivery('e2'), delivery('big', 'x'.repeat(500))]);
    void sink.emit([delivery('e4')]);
    jest.advanceTimersByTime(5);
    const bundles = sends.flatMap((s) => s.records);
    // The first window filled up and went at once (three bundles); `e4` waited for its own window.
    expect(sends.map((s) => s.records.map(eventIdsOf))).toEqual([[['e0', 'e1'], ['e2'], ['big']], [['e4']]]);
    expect(bundles[0]!.value!.length).toBe(maxBytes);
    for (const s of sends) s.ack();
    await done;
  });

  it('rejects every emit of a window whose produce fails, and the next window is sent on its own', async () => {
    const { producer, sends } = fakeProducer();
    const sink = kafkaLedgerSink(producer, 'ledger', { lingerMs: 5 });
    const a = sink.emit([delivery('e1')]);
    const b = sink.emit([delivery('e2')]);
    jest.advanceTimersByTime(5);
    sends[0]!.fail(new Error('broker away'));
    await expect(a).rejects.toThrow('broker away');
    await expect(b).rejects.toThrow('broker away');
    const c = sink.emit([delivery('e3')]);
    jest.advanceTimersByTime(5);
    expect(sends).toHaveLength(2);
    expect(eventIdsOf(sends[1]!.records[0]!)).toEqual(['e3']);
    sends[1]!.ack();
    await expect(c).resolves.toBeUndefined();
  });
});
