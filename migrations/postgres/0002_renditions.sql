-- Renditions: per-environment presets, URL-signing secrets, and each image's placeholder.

CREATE TABLE presets (
    environment_id  TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    width           BIGINT,
    height          BIGINT,
    fit             TEXT NOT NULL,
    format          TEXT,
    quality         BIGINT NOT NULL,
    eager           BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (environment_id, name)
);

-- HMAC-SHA256 secrets for signed rendition URLs. Several may be valid at once so that a
-- secret can be rotated without breaking URLs already handed out.
CREATE TABLE signing_secrets (
    id              TEXT PRIMARY KEY NOT NULL,
    environment_id  TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    secret          TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX signing_secrets_by_environment ON signing_secrets(environment_id, created_at);

ALTER TABLE images ADD COLUMN thumbhash TEXT;
ALTER TABLE images ADD COLUMN dominant_color TEXT;
