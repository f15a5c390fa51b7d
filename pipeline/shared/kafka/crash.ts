/**
 * kafkajs restarts a crashed consumer after a retriable error, but not after a non-retriable one: the consumer
 * would then sit idle while the process looks alive (and its readiness stays green). Such a crash goes to
 * `onFatal`: the service exits non-zero, so its supervisor starts a fresh instance, which resumes from the
 * committed offsets.
 */
import type { Consumer } from 'kafkajs';
import { errorMessage } from '../errors';
import type { Logger } from '../logging/logger';

export function onPermanentCrash(
  consumer: Consumer,
  log: Logger,
  what: string,
  onFatal: ((err: Error) => void) | undefined,
): void {
  consumer.on(consumer.events.CRASH, (e) => {
    log.error({ err: errorMessage(e.payload.error), restart: e.payload.restart }, `${what} consumer crashed`);
    if (!e.payload.restart) onFatal?.(e.payload.error);
  });
}
