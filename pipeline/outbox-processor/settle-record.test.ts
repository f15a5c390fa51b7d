import { aHubEvent, anOutboxItem } from '../../test/outbox-processor/items';
import { permanent, retriable } from '../shared/errors';
import type { LedgerRecord } from '../shared/ledger/ledger-record';
import type { ParkInfo } from './dlt-record';
import type { Outcome } from './ledger-records';
import { createOutboxMetrics } from './metrics';
import { createSettleStage, type RecordPosition, type Settled } from './settle-record';

const item = anOutboxItem({ event: aHubEvent({ time: new Date().toISOString() }) });
const record = { key: Buffer.from('tenant-a'), value: Buffer.from('{}'), headers: {}, offset: '42' };

/** The stage with fake sinks: the DLT copies, ledger records and log lines are kept. */
function setup() {
  const dlt: { at: RecordPosition; f: ParkInfo }[] = [];
  const ledger: LedgerRecord[] = [];
  const logs: { level: string; msg: string; obj: Record<string, unknown> }[] = [];
  const line = (level: string) => (obj: Record<string, unknown>, msg: string) => logs.push({ level, obj, msg });
  const metrics = createOutboxMetrics();
  const stage = createSettleStage({
    toDlt: async (at, f) => {
      dlt.push({ at, f });
    },
    emitLedger: async (r) => {
      ledger.push(...r);
    },
    metrics,
    log: { debug: line('debug'), info: line('info'), warn: line('warn') } as never,
  });
  const settle = (outcome: Outcome, o: Partial<Settled> = {}) =>
    stage.settle({ topic: 'outbox', partition: 1, record, item, outcome, parked: false, ms: 5, ...o });
  const outcomes = async () => (await metrics.outcomes.get()).values.map((v) => ({ ...v.labels, n: v.value }));
  return { stage, settle, dlt, ledger, logs, outcomes };
}

const deadLetter = (kind: 'permanent' | 'retriable'): Outcome => ({
  type: 'deadLetter',
  failure: kind === 'permanent' ? permanent('DELIVERY.HTTP_410', 'gone') : retriable('DELIVERY.HTTP_503', 'busy'),
  attempts: 3,
  lastStatus: kind === 'permanent' ? 410 : 503,
  firstAttemptAt: new Date(0),
  lastAttemptAt: new Date(1000),
});

describe('settle stage', () => {
  it('records a delivery in the ledger and the metrics, with nothing for the DLT', async () => {
    const s = setup();
    await s.settle({ type: 'delivered', attempts: 1, status: 204 });
    expect(s.dlt).toEqual([]);
    expect(s.ledger).toMatchObject([{ kind: 'delivery', eventId: 'evt-1', status: 'DELIVERED' }]);
    expect(await s.outcomes()).toEqual([{ outcome: 'delivered', status_class: '2xx', n: 1 }]);
    expect(s.logs).toMatchObject([{ level: 'debug', msg: 'delivered', obj: { offset: '42', eventId: 'evt-1' } }]);
  });

  it('sends a record the gate refused to the DLT as SKIPPED with the reason', async () => {
    const s = setup();
    await s.settle({ type: 'skipped', code: 'GATE.SUBSCRIPTION_GONE', reason: 'subscription unknown or deleted' });
    expect(s.dlt).toMatchObject([
      {
        at: { topic: 'outbox', partition: 1, record },
        f: { attempts: 0, disposition: 'SKIPPED', failure: { kind: 'permanent', code: 'GATE.SUBSCRIPTION_GONE' } },
      },
    ]);
    expect(s.ledger).toMatchObject([{ status: 'SKIPPED' }]);
    expect(s.logs).toMatchObject([{ level: 'warn', obj: { code: 'GATE.SUBSCRIPTION_GONE' } }]);
  });

  it('sends a held record to the DLT as HELD, unless its ordered lane parked it already', async () => {
    const s = setup();
    await s.settle({ type: 'held', reason: 'subscription paused' });
    await s.settle({ type: 'held', reason: 'subscription paused' }, { parked: true });
    expect(s.dlt).toMatchObject([{ f: { disposition: 'HELD', failure: { code: 'DELIVERY.HELD' } } }]);
    expect(s.ledger.map((r) => r.kind === 'delivery' && r.status)).toEqual(['HELD', 'HELD']);
    expect(await s.outcomes()).toEqual([{ outcome: 'held', status_class: 'none', n: 2 }]);
  });

  it('parks a failed delivery in the DLT with its attempts and last status; a permanent failure is FAILED', async () => {
    const s = setup();
    await s.settle(deadLetter('retriable'));
    await s.settle(deadLetter('permanent'));
    expect(s.dlt.map((d) => [d.f.failure.code, d.f.attempts, d.f.lastStatus])).toEqual([
      ['DELIVERY.HTTP_503', 3, 503],
      ['DELIVERY.HTTP_410', 3, 410],
    ]);
    expect(s.ledger.map((r) => r.kind === 'delivery' && r.status)).toEqual(['RETRYING', 'FAILED']);
    expect(await s.outcomes()).toEqual([
      { outcome: 'deadLetter', status_class: '5xx', n: 1 },
      { outcome: 'deadLetter', status_class: '4xx', n: 1 },
    ]);
  });

  it('does not copy a record its ordered lane parked in Postgres to the DLT', async () => {
    const s = setup();
    await s.settle(deadLetter('retriable'), { parked: true });
    await s.settle({ type: 'parkBehind', held: false });
    expect(s.dlt).toEqual([]);
    expect(s.ledger.map((r) => r.kind === 'delivery' && r.status)).toEqual(['RETRYING', 'RETRYING']);
    expect(await s.outcomes()).toEqual([
      { outcome: 'deadLetter', status_class: '5xx', n: 1 },
      { outcome: 'parked', status_class: 'none', n: 1 },
    ]);
  });

  it('makes the ledger records before the DLT produce, and finishes only once the ledger has them', async () => {
    const events: string[] = [];
    let ledgerDurable!: () => void;
    const stage = createSettleStage({
      toDlt: async () => {
        events.push('dlt');
        ledgerDurable(); // the broker acknowledges the ledger batch after the DLT produce here
      },
      emitLedger: () => {
        events.push('ledger emitted');
        return new Promise<void>((r) => {
          ledgerDurable = () => {
            events.push('ledger durable');
            r();
          };
        });
      },
      metrics: createOutboxMetrics(),
      log: { debug() {}, info() {}, warn() {} } as never,
    });
    await stage.settle({
      topic: 'outbox',
      partition: 1,
      record,
      item,
      outcome: deadLetter('retriable'),
      parked: false,
      ms: 1,
    });
    events.push('settled');
    expect(events).toEqual(['ledger emitted', 'dlt', 'ledger durable', 'settled']);
  });

  it('sends a malformed record to the DLT as OUTBOX.MALFORMED with the reason, without a ledger record', async () => {
    const s = setup();
    await s.stage.malformed({ topic: 'outbox', partition: 1, record }, 'missing CloudEvent attribute id');
    expect(s.dlt).toMatchObject([
      {
        f: {
          attempts: 0,
          failure: { kind: 'permanent', code: 'OUTBOX.MALFORMED', message: 'missing CloudEvent attribute id' },
        },
      },
    ]);
    expect(s.ledger).toEqual([]);
    expect(s.logs).toMatchObject([{ level: 'warn', obj: { offset: '42', reason: 'missing CloudEvent attribute id' } }]);
  });
});
