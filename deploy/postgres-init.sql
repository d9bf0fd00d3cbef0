-- The registry, the alert gateway, the notifier, the evaluator and the feed ingest worker each
-- own one database on the same server.
CREATE DATABASE alert_gateway OWNER crossalert;
CREATE DATABASE notifier OWNER crossalert;
CREATE DATABASE evaluator OWNER crossalert;
CREATE DATABASE feed_ingest OWNER crossalert;
