-- Data governance: what each environment and subject holds (kept by a trigger, so that
-- every path that adds, claims, moves or removes an image row keeps it exact, in the
-- transaction of the change), per-subject quotas, signed erasure receipts, and the
-- webhook outbox.

-- Bytes of this image's stored variants, as written and evicted (see `variant_budget`).
ALTER TABLE images ADD COLUMN variant_bytes BIGINT NOT NULL DEFAULT 0;

-- Counted: permanent images (a dropbox item counts once it is claimed).
CREATE TABLE environment_usage (
    environment_id  TEXT PRIMARY KEY NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    images          BIGINT NOT NULL,
    bytes           BIGINT NOT NULL,
    variant_bytes   BIGINT NOT NULL
);

-- A subject's row goes when its last image does.
CREATE TABLE subject_usage (
    environment_id  TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    subject         TEXT NOT NULL,
    images          BIGINT NOT NULL,
    bytes           BIGINT NOT NULL,
    variant_bytes   BIGINT NOT NULL,
    PRIMARY KEY (environment_id, subject)
);

INSERT INTO environment_usage (environment_id, images, bytes, variant_bytes)
    SELECT environment_id, COUNT(*), SUM(byte_size), 0 FROM images
    WHERE expires_at IS NULL GROUP BY environment_id;
INSERT INTO subject_usage (environment_id, subject, images, bytes, variant_bytes)
    SELECT environment_id, subject, COUNT(*), SUM(byte_size), 0 FROM images
    WHERE expires_at IS NULL AND subject IS NOT NULL GROUP BY environment_id, subject;

-- One function keeps both counts for every change of an image row: the old row (if it was
-- counted) is taken out and the new one (if it counts) put in.
CREATE FUNCTION imagestore_count_images() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') AND OLD.expires_at IS NULL THEN
        UPDATE environment_usage SET images = images - 1, bytes = bytes - OLD.byte_size,
            variant_bytes = variant_bytes - OLD.variant_bytes
            WHERE environment_id = OLD.environment_id;
        IF OLD.subject IS NOT NULL THEN
            UPDATE subject_usage SET images = images - 1, bytes = bytes - OLD.byte_size,
                variant_bytes = variant_bytes - OLD.variant_bytes
                WHERE environment_id = OLD.environment_id AND subject = OLD.subject;
            DELETE FROM subject_usage
                WHERE environment_id = OLD.environment_id AND subject = OLD.subject
                AND images <= 0;
        END IF;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.expires_at IS NULL THEN
        INSERT INTO environment_usage (environment_id, images, bytes, variant_bytes)
            VALUES (NEW.environment_id, 1, NEW.byte_size, NEW.variant_bytes)
            ON CONFLICT (environment_id) DO UPDATE SET images = environment_usage.images + 1,
                bytes = environment_usage.bytes + excluded.bytes,
                variant_bytes = environment_usage.variant_bytes + excluded.variant_bytes;
        IF NEW.subject IS NOT NULL THEN
            INSERT INTO subject_usage (environment_id, subject, images, bytes, variant_bytes)
                VALUES (NEW.environment_id, NEW.subject, 1, NEW.byte_size, NEW.variant_bytes)
                ON CONFLICT (environment_id, subject) DO UPDATE
                SET images = subject_usage.images + 1,
                    bytes = subject_usage.bytes + excluded.bytes,
                    variant_bytes = subject_usage.variant_bytes + excluded.variant_bytes;
        END IF;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER images_counted AFTER INSERT OR DELETE
    OR UPDATE OF expires_at, subject, byte_size, variant_bytes ON images
    FOR EACH ROW EXECUTE FUNCTION imagestore_count_images();

-- A subject's own limits, replacing the environment's `subjectQuota` for it; NULL: none.
CREATE TABLE subject_quotas (
    environment_id  TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    subject         TEXT NOT NULL,
    max_images      BIGINT,
    max_bytes       BIGINT,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (environment_id, subject)
);

-- The deployment's Ed25519 keys for erasure receipts; the oldest signs, every one is
-- published in /.well-known/jwks.json.
CREATE TABLE receipt_keys (
    kid             TEXT PRIMARY KEY NOT NULL,
    private_key     BYTEA NOT NULL,
    public_key      BYTEA NOT NULL,
    created_at      BIGINT NOT NULL
);

-- An erasure, counted batch by batch in the transaction that removes each batch, so that
-- one cut short by a crash resumes with its counts exact; signed when it completes. At
-- most one is under way per subject.
CREATE TABLE erasure_receipts (
    id              TEXT PRIMARY KEY NOT NULL,
    environment_id  TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    subject         TEXT NOT NULL,
    started_at      BIGINT NOT NULL,
    erased_at       BIGINT,
    images          BIGINT NOT NULL,
    bytes           BIGINT NOT NULL,
    kid             TEXT,
    signature       TEXT
);
CREATE UNIQUE INDEX erasure_receipts_under_way ON erasure_receipts(environment_id, subject)
    WHERE erased_at IS NULL;
CREATE TABLE erased_hashes (
    receipt_id      TEXT NOT NULL REFERENCES erasure_receipts(id) ON DELETE CASCADE,
    content_hash    TEXT NOT NULL,
    PRIMARY KEY (receipt_id, content_hash)
);

-- Webhooks and their outbox. `events` is the subscribed event types between commas
-- (",image.created,image.deleted,"), so that one LIKE finds the subscribers of an event.
CREATE TABLE webhooks (
    id              TEXT PRIMARY KEY NOT NULL,
    environment_id  TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    url             TEXT NOT NULL,
    events          TEXT NOT NULL,
    secret          TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX webhooks_by_environment ON webhooks(environment_id);

-- One row per event and subscribed webhook, written in the transaction of the change.
-- `event_id` is the `webhook-id` header, the same on every attempt. A row is due while
-- `next_attempt_at` is set; an instance takes it by setting `lease_until`. No foreign
-- key to `webhooks`: a change committing beside a webhook's deletion must not fail for
-- it (its row is given up by the worker); deleting a webhook or an environment deletes
-- their deliveries explicitly.
CREATE TABLE webhook_deliveries (
    number          BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    webhook_id      TEXT NOT NULL,
    environment_id  TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    payload         TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    next_attempt_at BIGINT,
    lease_until     BIGINT,
    attempts        BIGINT NOT NULL,
    last_attempt_at BIGINT,
    last_status     BIGINT,
    last_error      TEXT,
    delivered_at    BIGINT,
    failed_at       BIGINT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at)
    WHERE next_attempt_at IS NOT NULL;
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries(webhook_id, number);
