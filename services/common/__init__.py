"""Plumbing shared by every crossalert service: settings, logging, Kafka clients."""
