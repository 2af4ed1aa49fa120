-- The control plane: environments carry settings, keys carry a name and when they were
-- last used, operator keys reach every environment, browsers upload with upload tokens,
-- and every control-plane change is kept in the audit log.

-- JSON: {"allowedOrigins": [...], "stripMetadata": bool}; NULL means the defaults.
ALTER TABLE environments ADD COLUMN settings TEXT;

ALTER TABLE credentials ADD COLUMN name TEXT;
-- UTC milliseconds, kept to the minute (a key used more often is not written more often).
ALTER TABLE credentials ADD COLUMN last_used_at INTEGER;

-- Deployment-wide keys: they belong to no environment and may manage every one.
CREATE TABLE operator_credentials (
    id              TEXT PRIMARY KEY NOT NULL,
    name            TEXT,
    secret_hash     BLOB NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER,
    last_used_at    INTEGER
);

-- A browser's permission to upload, bound to an environment (and optionally a subject and
-- its slot), with limits. `uploads_left` is taken one at a time in one UPDATE, so
-- concurrent uploads on a token cannot exceed it.
CREATE TABLE upload_tokens (
    id              TEXT PRIMARY KEY NOT NULL,
    environment_id  TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    secret_hash     BLOB NOT NULL,
    subject         TEXT,
    slot            INTEGER NOT NULL,
    max_bytes       INTEGER,
    formats         TEXT,
    uploads_left    INTEGER NOT NULL,
    created_by      TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL
);
CREATE INDEX upload_tokens_by_environment ON upload_tokens(environment_id);

-- Every control-plane change, appended in the transaction of the change. An event about
-- the deployment (an environment made or removed) has no environment_id.
CREATE TABLE audit_events (
    number          INTEGER PRIMARY KEY AUTOINCREMENT,
    environment_id  TEXT,
    actor           TEXT NOT NULL,
    action          TEXT NOT NULL,
    target          TEXT NOT NULL,
    request_id      TEXT,
    created_at      INTEGER NOT NULL
);
CREATE INDEX audit_events_by_environment ON audit_events(environment_id, number);
