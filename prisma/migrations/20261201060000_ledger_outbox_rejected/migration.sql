-- A ledger-outbox row the relay cannot read (its "records" is not a JSON array of records: written by hand, or cut
-- by a broken disk) is set aside with the reason instead of holding every row behind it: the relay takes rows in id
-- order, and one that fails every time would stop the ledger. Set-aside rows stay for an operator
-- (`SELECT * FROM "LedgerOutbox" WHERE "rejectedReason" IS NOT NULL`); the relay logs each one once, at ERROR.
ALTER TABLE "LedgerOutbox" ADD COLUMN "rejectedReason" TEXT;
