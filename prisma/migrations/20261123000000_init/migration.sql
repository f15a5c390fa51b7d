-- CreateTable
CREATE TABLE "ApiKey" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "role" TEXT NOT NULL,
    "tenantId" TEXT,
    "prefix" TEXT NOT NULL,
    "hash" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revokedAt" TIMESTAMP(3),

    CONSTRAINT "ApiKey_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "EventType" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "description" TEXT,
    "domain" TEXT NOT NULL,
    "schemaRef" TEXT,
    "deprecated" BOOLEAN NOT NULL DEFAULT false,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "EventType_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Subscription" (
    "id" UUID NOT NULL,
    "tenantId" TEXT NOT NULL,
    "description" TEXT,
    "status" TEXT NOT NULL,
    "sourceService" TEXT NOT NULL,
    "eventType" TEXT NOT NULL,
    "resourceType" TEXT NOT NULL,
    "operationType" TEXT NOT NULL,
    "endpointUrl" TEXT NOT NULL,
    "contentMode" TEXT NOT NULL,
    "auth" JSONB NOT NULL,
    "signing" JSONB NOT NULL,
    "customHeaders" JSONB NOT NULL,
    "maxAttempts" INTEGER,
    "ordered" BOOLEAN NOT NULL,
    "version" INTEGER NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Subscription_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "SubscriptionChange" (
    "id" BIGSERIAL NOT NULL,
    "subscriptionId" TEXT NOT NULL,
    "snapshot" JSONB,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "publishedAt" TIMESTAMP(3),

    CONSTRAINT "SubscriptionChange_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "FailedEvent" (
    "id" UUID NOT NULL,
    "eventId" TEXT NOT NULL,
    "subscriptionId" TEXT NOT NULL,
    "tenantId" TEXT NOT NULL,
    "domain" TEXT NOT NULL,
    "eventType" TEXT,
    "sourceTopic" TEXT,
    "sourcePartition" INTEGER,
    "sourceOffset" TEXT,
    "ceHeaders" JSONB NOT NULL,
    "body" BYTEA NOT NULL,
    "failureHeaders" JSONB NOT NULL,
    "status" TEXT NOT NULL,
    "reason" TEXT,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "maxAttempts" INTEGER,
    "nextAttemptAt" TIMESTAMP(3),
    "lastStatusCode" INTEGER,
    "lastErrorCode" TEXT,
    "firstFailedAt" TIMESTAMP(3) NOT NULL,
    "lastFailedAt" TIMESTAMP(3) NOT NULL,
    "resolvedAt" TIMESTAMP(3),
    "claimedBy" TEXT,
    "claimedUntil" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "FailedEvent_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "DeliveryAttempt" (
    "id" BIGSERIAL NOT NULL,
    "failedEventId" UUID NOT NULL,
    "attemptedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "source" TEXT NOT NULL,
    "statusCode" INTEGER,
    "errorCode" TEXT,
    "durationMs" INTEGER NOT NULL,
    "responseSnippet" TEXT,

    CONSTRAINT "DeliveryAttempt_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ReplayJob" (
    "id" UUID NOT NULL,
    "requestedBy" TEXT NOT NULL,
    "tenantId" TEXT,
    "filter" JSONB NOT NULL,
    "status" TEXT NOT NULL,
    "total" INTEGER NOT NULL DEFAULT 0,
    "processed" INTEGER NOT NULL DEFAULT 0,
    "succeeded" INTEGER NOT NULL DEFAULT 0,
    "failed" INTEGER NOT NULL DEFAULT 0,
    "error" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finishedAt" TIMESTAMP(3),

    CONSTRAINT "ReplayJob_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "ApiKey_hash_key" ON "ApiKey"("hash");

-- CreateIndex
CREATE UNIQUE INDEX "EventType_name_key" ON "EventType"("name");

-- CreateIndex
CREATE INDEX "Subscription_tenantId_id_idx" ON "Subscription"("tenantId", "id");

-- CreateIndex
CREATE INDEX "SubscriptionChange_publishedAt_id_idx" ON "SubscriptionChange"("publishedAt", "id");

-- CreateIndex
CREATE INDEX "FailedEvent_status_nextAttemptAt_idx" ON "FailedEvent"("status", "nextAttemptAt");

-- CreateIndex
CREATE INDEX "FailedEvent_tenantId_status_createdAt_idx" ON "FailedEvent"("tenantId", "status", "createdAt");

-- CreateIndex
CREATE INDEX "FailedEvent_createdAt_id_idx" ON "FailedEvent"("createdAt", "id");

-- CreateIndex
CREATE UNIQUE INDEX "FailedEvent_eventId_subscriptionId_key" ON "FailedEvent"("eventId", "subscriptionId");

-- CreateIndex
CREATE INDEX "DeliveryAttempt_failedEventId_attemptedAt_idx" ON "DeliveryAttempt"("failedEventId", "attemptedAt");

-- AddForeignKey
ALTER TABLE "DeliveryAttempt" ADD CONSTRAINT "DeliveryAttempt_failedEventId_fkey" FOREIGN KEY ("failedEventId") REFERENCES "FailedEvent"("id") ON DELETE CASCADE ON UPDATE CASCADE;
