import { permanent, retriable } from '../shared/errors';
import { HUB_HEADERS } from '../shared/topics';
import { dltHeaders } from './dlt-record';

const record = {
  key: Buffer.from('tenant-a'),
  value: Buffer.from('{}'),
  headers: { ce_id: Buffer.from('evt-1'), [HUB_HEADERS.subscriptionId]: 'sub-1' },
  offset: '42',
};
const source = { topic: 'hub.outbox.access.v1', partition: 2 };

describe('DLT record headers', () => {
  it("keeps the record's headers and adds the failure and the source position", () => {
    const h = dltHeaders(
      record,
      source,
      {
        failure: retriable('DELIVERY.HTTP_503', 'busy', { retryAfterMs: 3000 }),
        attempts: 3,
        lastStatus: 503,
        firstAttemptAt: new Date(0),
        lastAttemptAt: new Date(1000),
      },
      new Date(5000),
    );
    expect(h).toEqual({
      ce_id: 'evt-1',
      [HUB_HEADERS.subscriptionId]: 'sub-1',
      [HUB_HEADERS.dltRetryAfterMs]: '3000',
      [HUB_HEADERS.dltAttempts]: '3',
      [HUB_HEADERS.dltLastStatus]: '503',
      [HUB_HEADERS.dltLastErrorCode]: 'DELIVERY.HTTP_503',
      [HUB_HEADERS.dltLastError]: 'busy',
      [HUB_HEADERS.dltFirstAttemptAt]: new Date(0).toISOString(),
      [HUB_HEADERS.dltLastAttemptAt]: new Date(1000).toISOString(),
      [HUB_HEADERS.sourceTopic]: 'hub.outbox.access.v1',
      [HUB_HEADERS.sourcePartition]: '2',
      [HUB_HEADERS.sourceOffset]: '42',
    });
  });

  it('marks a SKIPPED or HELD disposition, and times an attempt-less failure now', () => {
    const now = new Date(7000);
    const h = dltHeaders(
      record,
      source,
      { failure: permanent('GATE.TENANT_MISMATCH', 'x'), attempts: 0, disposition: 'SKIPPED' },
      now,
    );
    expect(h).toMatchObject({
      [HUB_HEADERS.dltDisposition]: 'SKIPPED',
      [HUB_HEADERS.dltAttempts]: '0',
      [HUB_HEADERS.dltLastStatus]: '',
      [HUB_HEADERS.dltFirstAttemptAt]: now.toISOString(),
    });
    expect(h[HUB_HEADERS.dltRetryAfterMs]).toBeUndefined();
  });
});
