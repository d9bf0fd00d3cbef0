-- The registry and the notifier each own one database on the same server.
CREATE DATABASE notifier OWNER crossalert;
