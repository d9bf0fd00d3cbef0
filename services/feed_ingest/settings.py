"""Settings of the feed ingest worker, read from CROSSALERT_FEEDS_* environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.settings import PublisherSettings


class FeedIngestSettings(PublisherSettings):
    """Where the worker keeps what it brought in, whom it reads feeds from, where it publishes."""

    model_config = SettingsConfigDict(env_prefix="CROSSALERT_FEEDS_")

    service_name: str = "feed_ingest"
    http_port: int = Field(default=8500, ge=1, le=65535)
    registry_client_id: str = Field(
        default="svc-feed-ingest",
        description="The worker's API client at the registry: it reads the CAP feeds and "
        "publishes as the organisation of each (feeds:ingest).",
    )
    database_url: str = Field(
        default="sqlite+aiosqlite:///.state/feed_ingest.sqlite3",
        description="Where each feed's validators and every entry and alert seen are kept.",
    )
    gateway_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Longest wait for the gateway to answer one alert."
    )
    fetch_timeout_seconds: float = Field(
        default=20.0,
        gt=0,
        le=300,
        description="Longest wait for one feed or CAP document to arrive, whole.",
    )
    max_feed_bytes: int = Field(
        default=4 * 1024 * 1024,
        ge=1024,
        le=64 * 1024 * 1024,
        description="Largest feed document read; a larger one is a failed poll (the CAP "
        "documents it links are bounded by their organisation's max_cap_bytes).",
    )
    max_entries: int = Field(
        default=500, ge=1, le=10_000, description="Entries of one feed read per poll."
    )
    feeds_fresh_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How long the list of feeds read from the registry is trusted (a change "
        "announced on registry.changes is read at once).",
    )
    tick_seconds: float = Field(
        default=1.0, gt=0, le=60, description="How often the worker looks for feeds due."
    )
    concurrency: int = Field(default=4, ge=1, le=64, description="Feeds polled at once.")
    user_agent: str = Field(
        default="crossalert-feed-ingest",
        min_length=1,
        description="Names the worker to the feeds' servers (User-Agent).",
    )
