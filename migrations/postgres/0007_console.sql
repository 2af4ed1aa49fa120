-- Browser sessions of operator keys, for the console's operator pages. Kept apart from
-- `sessions`, whose rows belong to an environment's key, so that deleting an operator key
-- ends its sessions by the same cascade.
CREATE TABLE operator_sessions (
    token_hash              TEXT PRIMARY KEY NOT NULL,
    operator_credential_id  TEXT NOT NULL REFERENCES operator_credentials(id) ON DELETE CASCADE,
    csrf_token              TEXT NOT NULL,
    created_at              BIGINT NOT NULL,
    expires_at              BIGINT NOT NULL
);
