-- An idempotency key now commits in the transaction of the write it answers, with the headers a
-- replay restores (ETag, Location); the answer columns are null only inside that transaction.

-- Answers that carried a secret (an API token, an invitation, a refresh token) are no longer
-- stored; those stored before are dropped, with keys left claimed by requests that never finished.
DELETE FROM idempotency_keys
WHERE status_code IS NULL
   OR response_body LIKE '%"token":%'
   OR response_body LIKE '%"invitation_token":%'
   OR response_body LIKE '%"refresh_token":%';

-- JSON, `[[name, value], …]`.
ALTER TABLE idempotency_keys ADD COLUMN response_headers TEXT;
UPDATE idempotency_keys SET response_headers = '[]';

-- The scheduler forgets expired keys by age.
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
