"""Alembic environment of the evaluator."""

from services.common.migrations import run_env
from services.evaluator.models import Base

run_env(Base.metadata)
