-- Secret iCalendar addresses: calendar clients cannot send a bearer token, so the address itself is
-- the credential. Stored only as a SHA-256 digest, like API tokens; a user has at most one feed
-- that is not revoked (rotating revokes the old one and adds a new one).
CREATE TABLE calendar_feeds (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
CREATE UNIQUE INDEX calendar_feeds_one_active_per_user ON calendar_feeds (user_id)
    WHERE revoked_at IS NULL;
