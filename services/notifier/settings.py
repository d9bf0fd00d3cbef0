"""Settings of the notifier, read from CROSSALERT_NOTIFIER_* environment variables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.settings import RegistryClientSettings


class NotifierSettings(RegistryClientSettings):
    """Where the notifier listens, whom it asks, where it keeps deliveries and sends mail."""

    model_config = SettingsConfigDict(env_prefix="CROSSALERT_NOTIFIER_")

    service_name: str = "notifier"
    http_port: int = Field(default=8300, ge=1, le=65535)
    registry_client_id: str = Field(
        default="svc-notifier", description="The notifier's API client at the registry."
    )
    database_url: str = Field(
        default="sqlite+aiosqlite:///.state/notifier.sqlite3",
        description="SQLAlchemy async URL: SQLite by default, postgresql+asyncpg:// in production.",
    )
    consumer_group: str = Field(
        default="notifier", description="Kafka group in which notifier processes split alerts."
    )
    consumer_start: Literal["earliest", "latest"] = Field(
        default="earliest",
        description="Where a consumer group with no committed offset starts: the whole log "
        "(never miss an alert), or only what is published from now on.",
    )
    gateway_url: str = Field(
        default="http://127.0.0.1:8200",
        description="The alert gateway: the console's composer calls pass through to it, so "
        "that the console's page talks to its own origin only.",
    )
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=8025, ge=1, le=65535)
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)
    mail_from: str = "crossalert@example.org"
    mail_poll_seconds: float = Field(default=1.0, gt=0)
    mail_retry_seconds: float = Field(
        default=5.0, gt=0, description="First back-off after a temporary failure; it doubles."
    )
    mail_retry_max_seconds: float = Field(default=900.0, gt=0)
    mail_max_attempts: int = Field(default=12, ge=1)
    feed_poll_seconds: float = Field(
        default=0.25,
        gt=0,
        description="How often consoles get what other processes wrote (on PostgreSQL they are "
        "notified at once; the poll is then a safety net).",
    )
    escalation_poll_seconds: float = Field(default=1.0, gt=0)
    console_queue_size: int = Field(
        default=1000, ge=1, description="Feed messages queued per console before it is dropped."
    )
    console_buffer_bytes: int = Field(
        default=4 * 1024 * 1024,
        ge=64 * 1024,
        description="Bytes of feed messages queued per console before it is dropped (one "
        "message larger than this still goes alone).",
    )
    console_send_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="A console that takes no message for this long is dropped (it resumes).",
    )
    console_ping_seconds: float = Field(
        default=20.0,
        gt=0,
        description="Each console's WebSocket is pinged this often and must answer within as "
        "long: one whose socket takes nothing, or that is gone without a word, is dropped after "
        "twice this at most.",
    )
    console_connections_per_officer: int = Field(
        default=8, ge=1, description="Feeds one officer may hold open on one notifier process."
    )
    console_origins: list[str] = Field(
        default_factory=list,
        description="Origins (besides the notifier's own) whose pages may open the feed.",
    )
