-- The change audit (issue 14, item 3): who changed which subscription, event type or API key, and when. Each row is
-- written in the same database transaction as the change it records, so a committed change always has its row and
-- a change that rolled back has none. "changedFields" holds field NAMES only, never values (no secrets).

CREATE TABLE "ChangeAudit" (
    "id" BIGSERIAL NOT NULL,
    "at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "tenantId" TEXT,
    "actorKeyId" TEXT NOT NULL,
    "actorName" TEXT,
    "action" TEXT NOT NULL,
    "resourceType" TEXT NOT NULL,
    "resourceId" TEXT NOT NULL,
    "version" INTEGER,
    "changedFields" JSONB NOT NULL DEFAULT '[]',
    "requestId" TEXT,
    CONSTRAINT "ChangeAudit_pkey" PRIMARY KEY ("id")
);
-- A tenant's changes, newest first (tenant keys always filter by tenant).
CREATE INDEX "ChangeAudit_tenant_idx" ON "ChangeAudit" ("tenantId", "id" DESC);
-- One resource's history, newest first.
CREATE INDEX "ChangeAudit_resource_idx" ON "ChangeAudit" ("resourceType", "resourceId", "id" DESC);
