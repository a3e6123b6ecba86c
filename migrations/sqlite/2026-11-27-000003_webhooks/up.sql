-- HTTPS endpoints that municipal systems register to be told of changes, instead of polling the
-- feed. Each delivery is a row of the outbox (channel 'webhook', recipient = the endpoint's id).
CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    url TEXT NOT NULL,
    -- JSON array of feed actions (`participation.joined`), or ["*"] for all.
    events TEXT NOT NULL,
    -- The signing secret (`whsec_…`): the service signs with it, so it is kept as it is.
    secret TEXT NOT NULL,
    created_by TEXT REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    -- Since when every delivery has failed; cleared by a success.
    failing_since TIMESTAMP,
    disabled_at TIMESTAMP,
    disabled_reason TEXT
);
CREATE INDEX webhook_endpoints_organization ON webhook_endpoints (organization_id);

-- How far the relay has turned the change feed into webhook deliveries: one row.
CREATE TABLE webhook_relay (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    txid BIGINT NOT NULL,
    seq BIGINT NOT NULL
);
INSERT INTO webhook_relay (id, txid, seq) VALUES (1, 0, 0);
