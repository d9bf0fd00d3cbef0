"""Alembic environment of the notifier."""

from services.common.migrations import run_env
from services.notifier.models import Base

run_env(Base.metadata)
