"""Settings of the notifier, read from CROSSALERT_NOTIFIER_* environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class NotifierSettings(ServiceSettings):
    """Where the notifier listens, keeps its deliveries and sends its mail."""

    model_config = SettingsConfigDict(env_prefix="CROSSALERT_NOTIFIER_")

    service_name: str = "notifier"
    http_port: int = Field(default=8300, ge=1, le=65535)
    registry_url: str = Field(
        default="http://127.0.0.1:8100", description="Base URL of the registry."
    )
    database_url: str = Field(
        default="sqlite+aiosqlite:///.state/notifier.sqlite3",
        description="SQLAlchemy async URL: SQLite by default, postgresql+asyncpg:// in production.",
    )
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=8025, ge=1, le=65535)
    mail_from: str = "crossalert@example.org"
