"""The notifier: routes alerts to duty officers' consoles and mailboxes, tracks acknowledgements."""
