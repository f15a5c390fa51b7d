import { applyKafkajsIdleFix } from './kafkajs-idle-fix';

// kafkajs's internal request queue, the class the fix changes.
const RequestQueue = require('kafkajs/src/network/requestQueue');

function aQueue() {
  return new RequestQueue({
    instrumentationEmitter: undefined,
    maxInFlightRequests: 1,
    requestTimeout: 30_000,
    enforceRequestTimeout: false,
    clientId: 'test',
    broker: 'localhost:9092',
    logger: { debug() {}, info() {}, warn() {}, error() {} },
    isConnected: () => true,
  });
}

describe('kafkajs idle fix (tulios/kafkajs#1556)', () => {
  it('is applied to the kafkajs installed', () => {
    expect(applyKafkajsIdleFix()).toBe(true);
  });

  it('schedules no check while nothing is pending (no timer loop on an idle connection)', () => {
    const q = aQueue();
    q.scheduleCheckPendingRequests();
    expect(q.throttleCheckTimeoutId).toBeNull();
    q.checkPendingRequests();
    expect(q.throttleCheckTimeoutId).toBeNull();
  });

  it('still schedules the check while a request is pending, at the end of a throttle', () => {
    jest.useFakeTimers();
    try {
      const q = aQueue();
      const checked = jest.spyOn(q, 'checkPendingRequests');
      q.throttledUntil = Date.now() + 500;
      q.pending.push({ correlationId: 1 });
      q.scheduleCheckPendingRequests();
      expect(q.throttleCheckTimeoutId).not.toBeNull();
      jest.advanceTimersByTime(499);
      expect(checked).not.toHaveBeenCalled();
      q.pending.length = 0; // nothing to send when it fires: no further timer after it
      jest.advanceTimersByTime(1);
      expect(checked).toHaveBeenCalledTimes(1);
      expect(q.throttleCheckTimeoutId).toBeNull();
    } finally {
      jest.useRealTimers();
    }
  });
});
