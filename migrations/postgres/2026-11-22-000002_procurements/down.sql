DROP TABLE changes;
DROP TABLE idempotency_keys;
DROP TABLE audit_events;
DROP TABLE questions;
DROP TABLE participation_history;
DROP TABLE participations;
DROP TABLE rounds;
DROP TABLE procurements;
