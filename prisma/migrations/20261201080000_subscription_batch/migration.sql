-- Batched delivery: { "maxEvents": n, "maxWaitMs": n } (outbox-processor batch.ts); null = one event per request.
ALTER TABLE "Subscription" ADD COLUMN "batch" JSONB;
