"""Alembic environment of the feed ingest worker."""

from services.common.migrations import run_env
from services.feed_ingest.models import Base

run_env(Base.metadata)
