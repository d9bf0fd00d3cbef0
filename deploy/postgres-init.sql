-- The registry, the alert gateway, the notifier and the evaluator each own one database on the
-- same server.
CREATE DATABASE alert_gateway OWNER crossalert;
CREATE DATABASE notifier OWNER crossalert;
CREATE DATABASE evaluator OWNER crossalert;
