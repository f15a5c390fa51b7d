-- Durable retry schedule, pause that holds, ordered lanes, endpoint health (issue 13).

-- A subscription's own retry schedule (milliseconds between scheduled attempts); NULL = the hub's default.
ALTER TABLE "Subscription" ADD COLUMN "retrySchedule" JSONB;

-- Parked deliveries of ordered subscriptions form lanes (subscriptionId, tenantId) delivered strictly in laneSeq
-- order (the outbox record's offset); only a lane's first unresolved row may be attempted.
ALTER TABLE "FailedEvent" ADD COLUMN "ordered" BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE "FailedEvent" ADD COLUMN "laneSeq" BIGINT;
CREATE INDEX "FailedEvent_lane_unresolved_idx" ON "FailedEvent" ("subscriptionId", "tenantId", "laneSeq")
  WHERE "ordered" AND "status" IN ('PENDING', 'RETRYING', 'HELD');
CREATE INDEX "FailedEvent_held_idx" ON "FailedEvent" ("subscriptionId") WHERE "status" = 'HELD';

-- A subscription whose deliveries exhausted the whole schedule is flagged until one of its deliveries succeeds.
CREATE TABLE "SubscriptionHealth" (
    "subscriptionId" TEXT NOT NULL,
    "tenantId" TEXT NOT NULL,
    "failing" BOOLEAN NOT NULL DEFAULT false,
    "exhaustedCount" INTEGER NOT NULL DEFAULT 0,
    "lastExhaustedAt" TIMESTAMP(3),
    "lastExhaustedEventId" TEXT,
    "lastDeliveredAt" TIMESTAMP(3),
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "SubscriptionHealth_pkey" PRIMARY KEY ("subscriptionId")
);
