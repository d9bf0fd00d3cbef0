"""Alembic environment of the alert gateway."""

from services.alert_gateway.models import Base
from services.common.migrations import run_env

run_env(Base.metadata)
