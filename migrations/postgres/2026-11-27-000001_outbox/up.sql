-- Messages to send, written in the same transaction as the change that causes them; a
-- background dispatcher in every instance delivers them. `context` holds what the message says,
-- captured at the change; the message is rendered from it when it is sent.
CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    channel TEXT NOT NULL CHECK (channel IN ('email', 'webhook')),
    event TEXT NOT NULL,
    -- An e-mail address, or a webhook endpoint's id.
    recipient TEXT NOT NULL,
    organization_id TEXT REFERENCES organizations (id),
    round_id TEXT REFERENCES rounds (id),
    context TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    -- While a dispatcher holds the message: until when, and which one.
    claimed_until TIMESTAMP,
    claimed_by TEXT,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX outbox_created ON outbox (created_at);

-- Each reminder once per round, body and offset, whatever restarts or instances.
CREATE TABLE reminders_sent (
    round_id TEXT NOT NULL REFERENCES rounds (id),
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    days_before INTEGER NOT NULL,
    sent_at TIMESTAMP NOT NULL,
    PRIMARY KEY (round_id, organization_id, days_before)
);

-- Addresses that asked for no more reminders (invitations and final shares still come).
CREATE TABLE reminder_opt_outs (
    email TEXT PRIMARY KEY,
    created_at TIMESTAMP NOT NULL
);

-- Work that one instance at a time does (the SQLite dispatcher): who holds it, and until when.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
