/** Fixtures of the outbox-processor's unit tests: an event and the delivery item that carries it. */
import type { OutboxItem } from '../../pipeline/outbox-processor/handler';
import type { HubCloudEvent } from '../../pipeline/shared/cloudevents/envelope';

export function aHubEvent(overrides: Partial<HubCloudEvent> = {}): HubCloudEvent {
  return {
    specversion: '1.0',
    id: 'evt-1',
    source: '//identity',
    type: 'user.created',
    extensions: {},
    data: Buffer.from('{}'),
    ...overrides,
  };
}

/** An item of subscription `sub-1` and tenant `tenant-a` (aSnapshot's). */
export function anOutboxItem(overrides: Partial<OutboxItem> = {}): OutboxItem {
  return { event: aHubEvent(), subscriptionId: 'sub-1', tenantId: 'tenant-a', ...overrides };
}
