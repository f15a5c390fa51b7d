/** Retention: deletes DELIVERED/REPLAYED rows resolved before the retention window. Never unresolved rows. */
import { errorMessage } from '../shared/errors';
import type { Logger } from '../shared/logging/logger';
import type { FailureStore } from '../shared/parked/failure-store';

export function startCleanup(opts: { store: FailureStore; retentionHours: number; intervalMs: number; log: Logger }) {
  const run = async () => {
    try {
      const deleted = await opts.store.deleteResolvedBefore(new Date(Date.now() - opts.retentionHours * 3600_000));
      if (deleted > 0)
        opts.log.info({ deleted, retentionHours: opts.retentionHours }, 'deleted resolved failures past retention');
      return deleted;
    } catch (err) {
      opts.log.warn({ err: errorMessage(err) }, 'cleanup failed; will try again next interval');
      return 0;
    }
  };
  const timer = setInterval(() => void run(), opts.intervalMs);
  timer.unref();
  return { run, stop: () => clearInterval(timer) };
}
