"""Alembic migrations of the registry's database."""
