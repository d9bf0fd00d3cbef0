"""Settings of the registry, read from CROSSALERT_REGISTRY_* environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class RegistrySettings(ServiceSettings):
    """Where the registry listens and keeps its data."""

    model_config = SettingsConfigDict(env_prefix="CROSSALERT_REGISTRY_")

    service_name: str = "registry"
    http_port: int = Field(default=8100, ge=1, le=65535)
    database_url: str = Field(
        default="sqlite+aiosqlite:///.state/registry.sqlite3",
        description="SQLAlchemy async URL: SQLite by default, postgresql+asyncpg:// in production.",
    )
