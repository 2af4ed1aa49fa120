-- The catalog of the embedded default. Times are milliseconds since the Unix epoch (UTC),
-- ids are UUIDs as text: both portable to the PostgreSQL catalog.

CREATE TABLE environments (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE credentials (
    id              TEXT PRIMARY KEY NOT NULL,
    environment_id  TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    scopes          TEXT NOT NULL,
    secret_hash     BLOB NOT NULL,
    created_at      INTEGER NOT NULL
);
CREATE INDEX credentials_by_environment ON credentials(environment_id);

-- `number` is the deployment-wide numeric id (int32-sized APIs use it); AUTOINCREMENT
-- guarantees a deleted image's number is never handed out again.
CREATE TABLE images (
    number          INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    environment_id  TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    subject         TEXT,
    filename        TEXT,
    format          TEXT NOT NULL,
    byte_size       INTEGER NOT NULL,
    width           INTEGER NOT NULL,
    height          INTEGER NOT NULL,
    frames          INTEGER NOT NULL,
    content_hash    TEXT NOT NULL,
    serve_key       TEXT NOT NULL,
    blob_key        TEXT NOT NULL UNIQUE,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX images_by_environment ON images(environment_id, number);
CREATE INDEX images_by_subject ON images(environment_id, subject, number);
