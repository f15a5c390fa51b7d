-- The dlt-processor's ledger outbox: the delivery-ledger records of a parked delivery's step (its attempt and its new
-- state) are written in the same transaction as the step itself ("DeliveryAttempt" row + "FailedEvent" update), so a
-- step that committed always reaches the ledger. The ledger relay (dlt-processor/ledger-relay.kafka.ts) produces the
-- rows to `<prefix>.ledger.v1`, acknowledged, then deletes them (at least once: the ledger writer is idempotent).
-- The table is a queue: rows live for milliseconds while the relay runs, longer only while the topic cannot be written.
--
-- "records" is a JSON array of ledger records (pipeline/shared/ledger/ledger-record.ts) as the processor encoded it,
-- TEXT and not JSONB: Postgres' JSON refuses what JSON.stringify legitimately writes (\u0000, a lone surrogate of a
-- response snippet cut in the middle of a character), and the step's transaction must never fail for the ledger's
-- sake; the ledger writer parses and validates the records anyway.
CREATE TABLE "LedgerOutbox" (
    "id" BIGSERIAL NOT NULL,
    "records" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "LedgerOutbox_pkey" PRIMARY KEY ("id")
);
