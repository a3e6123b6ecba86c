DROP TABLE webhook_relay;
DROP TABLE webhook_endpoints;
