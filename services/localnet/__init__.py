"""The local network for development and tests: a real Kafka broker and, later, the services."""
