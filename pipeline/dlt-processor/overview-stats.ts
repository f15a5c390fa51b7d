/**
 * What the operator console's overview shows besides failures: deliveries per minute over the last hour (from the
 * delivery ledger's attempt rows), the rate and error rate of the last five minutes, and every hub consumer group's
 * lag (operators only: it is the whole hub's, not a tenant's).
 *
 *   GET /v1/stats/overview?tenantId=  ─▶ { minutes: [{ at, delivered, failed }], deliveriesPerSecond, errorRate,
 *                                          lag: [{ groupId, lag }] | null }
 */

export interface MinuteBucket {
  /** The minute's start, ISO. */
  at: string;
  /** Attempts answered 2xx. */
  delivered: number;
  /** Attempts that were not (an error status, a timeout, a refused connection). */
  failed: number;
}

export interface GroupLag {
  groupId: string;
  /** Records behind the end of the topics the group has offsets on. */
  lag: number;
}

export interface OverviewStats {
  /** The last `minutes` minutes, oldest first, every minute present. */
  attemptsPerMinute(tenantId: string | undefined, minutes: number, now?: Date): Promise<MinuteBucket[]>;
  /** Every consumer group with committed offsets on the hub's topics; undefined when the broker does not answer. */
  lag(): Promise<GroupLag[] | undefined>;
}
