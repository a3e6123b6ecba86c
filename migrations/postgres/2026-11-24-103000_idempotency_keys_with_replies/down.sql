DROP INDEX idempotency_keys_created_at;
ALTER TABLE idempotency_keys DROP COLUMN response_headers;
