DROP TABLE leases;
DROP TABLE reminder_opt_outs;
DROP TABLE reminders_sent;
DROP TABLE outbox;
