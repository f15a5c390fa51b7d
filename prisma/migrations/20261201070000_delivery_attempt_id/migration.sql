-- A scheduled or replayed attempt carries the id it has in the delivery ledger ("LedgerAttempt"."attemptId"), made
-- once per request. A step whose commit was ambiguous (the connection dropped after COMMIT was sent) is written
-- again by the scheduler; with the id, the second write finds the attempt already recorded and changes nothing: no
-- doubled attempt row, no stale state applied over a later step, and the ledger records are not queued twice.
-- Older rows (and the outbox-processor's summary row of its in-process retries) have none (NULLs never conflict).
ALTER TABLE "DeliveryAttempt" ADD COLUMN "attemptId" TEXT;
CREATE UNIQUE INDEX "DeliveryAttempt_attemptId_key" ON "DeliveryAttempt"("attemptId");
