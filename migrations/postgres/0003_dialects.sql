-- What the vendor dialects need: dropbox items, subject slots, browser sessions, and
-- images registered by reference (PingOne JSON create).

-- A dropbox item is an image row that is not claimed yet: it expires at `expires_at`
-- and is invisible to the images API until a claim clears that column. `crop` is the
-- rectangle ("x,y,width,height") Akana's crop operation set; renditions honour it.
ALTER TABLE images ADD COLUMN expires_at BIGINT;
ALTER TABLE images ADD COLUMN crop TEXT;
CREATE INDEX images_expiring ON images(expires_at) WHERE expires_at IS NOT NULL;

-- A subject's one current image (SuperOffice's Person/{id}/Image). Deleting the image
-- clears the slot.
CREATE TABLE slots (
    environment_id  TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    subject         TEXT NOT NULL,
    image_id        TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (environment_id, subject)
);
CREATE INDEX slots_by_image ON slots(image_id);

-- Browser sessions made from a credential; the cookie holds a random token, the row only
-- its hash.
CREATE TABLE sessions (
    token_hash      TEXT PRIMARY KEY NOT NULL,
    credential_id   TEXT NOT NULL REFERENCES credentials(id) ON DELETE CASCADE,
    csrf_token      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL
);

-- Images whose targets live elsewhere: nothing is stored or fetched, only the hrefs.
CREATE TABLE external_images (
    id              TEXT PRIMARY KEY NOT NULL,
    environment_id  TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    created_at      BIGINT NOT NULL
);
CREATE TABLE external_targets (
    image_id    TEXT NOT NULL REFERENCES external_images(id) ON DELETE CASCADE,
    position    BIGINT NOT NULL,
    name        TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    width       BIGINT NOT NULL,
    height      BIGINT NOT NULL,
    type        TEXT NOT NULL,
    href        TEXT NOT NULL,
    PRIMARY KEY (image_id, name)
);
