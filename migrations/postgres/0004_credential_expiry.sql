-- Credentials can end: a key may carry an expiry (UTC milliseconds), after which it and
-- every session made from it are refused on every instance. NULL never expires.
ALTER TABLE credentials ADD COLUMN expires_at BIGINT;
