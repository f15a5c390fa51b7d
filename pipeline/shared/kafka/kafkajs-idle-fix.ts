/**
 * kafkajs 2.2.4 spins a 1 ms timer loop per broker connection while nothing is pending (tulios/kafkajs#1556, fix
 * proposed in #1667, unreleased): `scheduleCheckPendingRequests` schedules `checkPendingRequests` with a negative
 * delay when the queue is empty, and that schedules itself again. Measured here, one idle consumer then costs about
 * 3% of a core, and each hub service 2.4-3% doing nothing.
 *
 * The fix is #1667's: schedule the check only while requests are pending (when the client throttles us, at the end
 * of the throttle, else after CHECK_PENDING_REQUESTS_INTERVAL). Requests that cannot go out at once are queued by
 * `push`, which calls this with the queue non-empty, and a completed in-flight request checks the queue itself, so
 * nothing waits on the removed loop. Applied once, at load, to kafkajs's own RequestQueue class; a kafkajs whose
 * method differs (a fixed release) is left alone.
 */
import { patchKafkajsMethod } from './kafkajs-patch';

// biome-ignore lint/suspicious/noExplicitAny: kafkajs's internal class has no types.
type RequestQueue = any;

const CHECK_PENDING_REQUESTS_INTERVAL = 10;

export function applyKafkajsIdleFix(): boolean {
  return patchKafkajsMethod(
    'kafkajs/src/network/requestQueue',
    'scheduleCheckPendingRequests',
    () =>
      function scheduleCheckPendingRequests(this: RequestQueue): void {
        if (this.throttleCheckTimeoutId || this.pending.length === 0) return;
        const untilUnthrottled = this.throttledUntil - Date.now();
        this.throttleCheckTimeoutId = setTimeout(
          () => {
            this.throttleCheckTimeoutId = null;
            this.checkPendingRequests();
          },
          untilUnthrottled > 0 ? untilUnthrottled : CHECK_PENDING_REQUESTS_INTERVAL,
        );
      },
    // Only the known form: a later kafkajs may have fixed it differently.
    (original) => String(original).includes('this.throttledUntil - Date.now()'),
  );
}

applyKafkajsIdleFix();
