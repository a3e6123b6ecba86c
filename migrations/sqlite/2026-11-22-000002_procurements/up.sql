-- Joint procurements, their participation rounds, participations with history, questions, the
-- audit log, the change feed and stored responses for idempotent retries.

CREATE TABLE procurements (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    summary TEXT NOT NULL,
    category TEXT NOT NULL CHECK (category IN ('administration', 'residents', 'infrastructure', 'disaster', 'education', 'other')),
    lead_organization_id TEXT NOT NULL REFERENCES organizations (id),
    mandatory BOOLEAN NOT NULL,
    small_body_friendly BOOLEAN NOT NULL,
    eligibility TEXT NOT NULL,
    options TEXT NOT NULL,
    documents TEXT NOT NULL,
    cost_model TEXT NOT NULL,
    contract_start_fy INTEGER NOT NULL,
    contract_end_fy INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('draft', 'published', 'contracted', 'closed', 'cancelled')),
    cancel_reason TEXT,
    version BIGINT NOT NULL,
    created_by TEXT REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    published_at TIMESTAMP
);
CREATE INDEX procurements_status ON procurements (status, created_at);

CREATE TABLE rounds (
    id TEXT PRIMARY KEY,
    procurement_id TEXT NOT NULL REFERENCES procurements (id),
    kind TEXT NOT NULL CHECK (kind IN ('interest_survey', 'commitment', 'renewal')),
    fiscal_year INTEGER,
    opens_at TIMESTAMP NOT NULL,
    closes_at TIMESTAMP NOT NULL,
    population_base_date DATE NOT NULL,
    reminder_days TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('scheduled', 'open', 'closed', 'finalized', 'cancelled')),
    cancel_reason TEXT,
    version BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CHECK (closes_at > opens_at)
);
CREATE INDEX rounds_procurement ON rounds (procurement_id);
CREATE INDEX rounds_due_to_open ON rounds (state, opens_at);
CREATE INDEX rounds_due_to_close ON rounds (state, closes_at);

CREATE TABLE participations (
    id TEXT PRIMARY KEY,
    round_id TEXT NOT NULL REFERENCES rounds (id),
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    status TEXT NOT NULL CHECK (status IN ('joined', 'declined', 'withdrawn')),
    selected_options TEXT NOT NULL,
    declared_quantity BIGINT CHECK (declared_quantity >= 0),
    contact_name TEXT,
    contact_email TEXT,
    contact_phone TEXT,
    note TEXT,
    version BIGINT NOT NULL,
    updated_by TEXT REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (round_id, organization_id)
);

CREATE TABLE participation_history (
    id TEXT PRIMARY KEY,
    participation_id TEXT NOT NULL REFERENCES participations (id),
    version BIGINT NOT NULL,
    status TEXT NOT NULL,
    selected_options TEXT NOT NULL,
    declared_quantity BIGINT,
    contact_name TEXT,
    contact_email TEXT,
    contact_phone TEXT,
    note TEXT,
    reason TEXT,
    changed_by TEXT REFERENCES users (id),
    changed_at TIMESTAMP NOT NULL,
    UNIQUE (participation_id, version)
);

CREATE TABLE questions (
    id TEXT PRIMARY KEY,
    procurement_id TEXT NOT NULL REFERENCES procurements (id),
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    asked_by TEXT NOT NULL REFERENCES users (id),
    question TEXT NOT NULL,
    answer TEXT,
    answered_by TEXT REFERENCES users (id),
    answered_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX questions_procurement ON questions (procurement_id, created_at);

CREATE TABLE audit_events (
    id TEXT PRIMARY KEY,
    occurred_at TIMESTAMP NOT NULL,
    actor_user_id TEXT,
    actor_organization_id TEXT,
    action TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    before TEXT,
    after TEXT,
    reason TEXT,
    request_id TEXT
);
CREATE INDEX audit_events_time ON audit_events (occurred_at, id);
CREATE INDEX audit_events_entity ON audit_events (entity_type, entity_id);

CREATE TABLE idempotency_keys (
    user_id TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status_code INTEGER,
    response_body TEXT,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, idempotency_key)
);

-- The feed: writers hold SQLite's single write lock, so `seq` is also commit order.
CREATE TABLE changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    txid BIGINT NOT NULL DEFAULT 0,
    occurred_at TIMESTAMP NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    action TEXT NOT NULL,
    procurement_id TEXT,
    audience TEXT NOT NULL,
    payload TEXT NOT NULL
);
CREATE INDEX changes_order ON changes (txid, seq);
