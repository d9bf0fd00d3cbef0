"""Alembic migrations of the alert gateway's database."""
