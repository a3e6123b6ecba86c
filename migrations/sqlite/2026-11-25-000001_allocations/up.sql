-- Finalized cost shares: one immutable row per version of a round's allocation, holding every
-- input and every output as one JSON document. A correction adds a version; nothing is edited.
CREATE TABLE allocations (
    id TEXT PRIMARY KEY,
    round_id TEXT NOT NULL REFERENCES rounds (id),
    procurement_id TEXT NOT NULL REFERENCES procurements (id),
    version INTEGER NOT NULL CHECK (version >= 1),
    reason TEXT,
    total BIGINT NOT NULL CHECK (total >= 0),
    document TEXT NOT NULL,
    created_by TEXT REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    UNIQUE (round_id, version)
);
CREATE INDEX allocations_procurement ON allocations (procurement_id, created_at);

CREATE TRIGGER allocations_are_immutable_update BEFORE UPDATE ON allocations
BEGIN
    SELECT RAISE(ABORT, 'allocations are immutable: add a version instead');
END;
CREATE TRIGGER allocations_are_immutable_delete BEFORE DELETE ON allocations
BEGIN
    SELECT RAISE(ABORT, 'allocations are immutable: add a version instead');
END;
