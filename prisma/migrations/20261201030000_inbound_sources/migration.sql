-- Inbound webhooks (issue 19): vendors (GitHub, Stripe, Slack, Standard Webhooks senders, ...) call the hub at
-- POST /v1/inbound/{sourceId} on the event-processor, which verifies, dedupes and normalises them into platform events.

-- One inbound source per vendor integration of a tenant. "secrets" holds sealed secrets only (AES-256-GCM under
-- HUB_ENCRYPTION_KEYS, additional data = the source id): { current, previous?, previousExpiresAt? }, NULL for NONE.
CREATE TABLE "InboundSource" (
    "id" UUID NOT NULL,
    "tenantId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "scheme" TEXT NOT NULL,
    "verification" JSONB NOT NULL,
    "secrets" JSONB,
    "allowedCidrs" JSONB NOT NULL DEFAULT '[]',
    "dedupe" JSONB,
    "mapping" JSONB NOT NULL,
    "version" INTEGER NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT "InboundSource_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "InboundSource_tenantId_id_idx" ON "InboundSource" ("tenantId", "id");

-- Vendor delivery ids seen per source, for the dedupe window: a vendor's retry of an accepted delivery is answered
-- 200 without producing again. The row is inserted in a transaction that commits only after the produce succeeded.
CREATE TABLE "InboundDelivery" (
    "sourceId" UUID NOT NULL,
    "deliveryId" TEXT NOT NULL,
    "eventId" TEXT NOT NULL,
    "receivedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "InboundDelivery_pkey" PRIMARY KEY ("sourceId", "deliveryId")
);
-- Pruning rows older than the window.
CREATE INDEX "InboundDelivery_receivedAt_idx" ON "InboundDelivery" ("receivedAt");
