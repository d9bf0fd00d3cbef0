"""crossalert services: the registry, the alert gateway, the notifier, and their shared plumbing."""
