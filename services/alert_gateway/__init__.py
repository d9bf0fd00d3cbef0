"""The alert gateway: crisis centres publish, update and cancel alerts here."""
