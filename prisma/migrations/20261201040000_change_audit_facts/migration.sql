-- The hub's facts (issue 18): the change audit doubles as the transactional outbox of the registry-side facts
-- (WebhookSubscribed, CredentialRotated). Each row is written in the change's own transaction; the changelog relay
-- (subscription-api/changelog-relay.ts) publishes the rows with "publishedAt" NULL to the facts topics and stamps
-- them, so a change and its fact never diverge. Rows written before this migration are history, not news: they are
-- stamped now and never published.
ALTER TABLE "ChangeAudit" ADD COLUMN "publishedAt" TIMESTAMP(3);
UPDATE "ChangeAudit" SET "publishedAt" = "at";
-- The relay's queue: only the unpublished rows, in id order.
CREATE INDEX "ChangeAudit_unpublished_idx" ON "ChangeAudit" ("id") WHERE "publishedAt" IS NULL;

-- Wakes the relay (LISTEN subscription_changes) when a change commits, whichever service wrote it (API keys are
-- also made by the processors' bootstrap): NOTIFY is delivered at COMMIT, and only if the transaction commits.
CREATE FUNCTION "ChangeAudit_notify"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('subscription_changes', '');
  RETURN NULL;
END;
$$;
CREATE TRIGGER "ChangeAudit_notify" AFTER INSERT ON "ChangeAudit"
  FOR EACH STATEMENT EXECUTE FUNCTION "ChangeAudit_notify"();
