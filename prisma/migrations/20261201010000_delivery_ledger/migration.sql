-- The delivery ledger (issue 14): every ingested event, every (event, subscription) delivery and every attempt,
-- written off the hot path by the ledger writer from `<prefix>.ledger.v1`. Each table is partitioned by day on the
-- event's "receivedAt"; the writer creates a day's partitions before it first writes to that day, and retention
-- drops whole partitions (LOG_RETENTION_DAYS).

CREATE TABLE "LedgerEvent" (
    "eventId" TEXT NOT NULL,
    "receivedAt" TIMESTAMP(3) NOT NULL,
    "tenantId" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "source" TEXT NOT NULL,
    "subject" TEXT,
    "match" JSONB NOT NULL,
    "domain" TEXT NOT NULL,
    "traceId" TEXT,
    "fanOut" INTEGER NOT NULL,
    "ingestTopic" TEXT,
    "ingestPartition" INTEGER,
    "ingestOffset" TEXT,
    "payloadHeaders" JSONB NOT NULL,
    "payloadBody" BYTEA NOT NULL,
    CONSTRAINT "LedgerEvent_pkey" PRIMARY KEY ("eventId", "receivedAt")
) PARTITION BY RANGE ("receivedAt");
CREATE INDEX "LedgerEvent_tenant_received_idx" ON "LedgerEvent" ("tenantId", "receivedAt" DESC, "eventId" DESC);
CREATE INDEX "LedgerEvent_received_idx" ON "LedgerEvent" ("receivedAt" DESC, "eventId" DESC);
-- Lookups by event id use the primary key (eventId leads it); no separate index to keep up on every insert.

CREATE TABLE "LedgerDelivery" (
    "eventId" TEXT NOT NULL,
    "subscriptionId" TEXT NOT NULL,
    "receivedAt" TIMESTAMP(3) NOT NULL,
    "tenantId" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "reason" TEXT,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "lastStatusCode" INTEGER,
    "nextAttemptAt" TIMESTAMP(3),
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT "LedgerDelivery_pkey" PRIMARY KEY ("eventId", "subscriptionId", "receivedAt")
) PARTITION BY RANGE ("receivedAt");
CREATE INDEX "LedgerDelivery_subscription_idx" ON "LedgerDelivery" ("subscriptionId", "receivedAt" DESC, "eventId" DESC);
CREATE INDEX "LedgerDelivery_tenant_idx" ON "LedgerDelivery" ("tenantId", "receivedAt" DESC, "eventId" DESC);

CREATE TABLE "LedgerAttempt" (
    "attemptId" UUID NOT NULL,
    "receivedAt" TIMESTAMP(3) NOT NULL,
    "eventId" TEXT NOT NULL,
    "subscriptionId" TEXT NOT NULL,
    "tenantId" TEXT NOT NULL,
    "attemptedAt" TIMESTAMP(3) NOT NULL,
    "source" TEXT NOT NULL,
    "attempt" INTEGER NOT NULL,
    "durationMs" INTEGER NOT NULL,
    "statusCode" INTEGER,
    "errorCode" TEXT,
    "responseSnippet" TEXT,
    CONSTRAINT "LedgerAttempt_pkey" PRIMARY KEY ("attemptId", "receivedAt")
) PARTITION BY RANGE ("receivedAt");
CREATE INDEX "LedgerAttempt_delivery_idx" ON "LedgerAttempt" ("eventId", "subscriptionId", "attemptedAt");

-- Bulk "recover" jobs (re-deliver a subscription's deliveries since a time), with progress.
CREATE TABLE "RecoverJob" (
    "id" UUID NOT NULL,
    "requestedBy" TEXT NOT NULL,
    "tenantId" TEXT NOT NULL,
    "subscriptionId" TEXT NOT NULL,
    "since" TIMESTAMP(3) NOT NULL,
    "statuses" JSONB NOT NULL,
    "status" TEXT NOT NULL,
    "total" INTEGER NOT NULL DEFAULT 0,
    "processed" INTEGER NOT NULL DEFAULT 0,
    "error" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finishedAt" TIMESTAMP(3),
    CONSTRAINT "RecoverJob_pkey" PRIMARY KEY ("id")
);
