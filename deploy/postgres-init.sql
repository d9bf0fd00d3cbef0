-- The registry, the alert gateway and the notifier each own one database on the same server.
CREATE DATABASE alert_gateway OWNER crossalert;
CREATE DATABASE notifier OWNER crossalert;
