"""Settings of the evaluator, read from CROSSALERT_EVALUATOR_* environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.settings import PublisherSettings


class EvaluatorSettings(PublisherSettings):
    """Where the evaluator keeps its series, whom it reads rules from, where it publishes."""

    model_config = SettingsConfigDict(env_prefix="CROSSALERT_EVALUATOR_")

    service_name: str = "evaluator"
    http_port: int = Field(default=8400, ge=1, le=65535)
    registry_client_id: str = Field(
        default="svc-evaluator",
        description="The evaluator's API client at the registry: it reads the rules "
        "(thresholds:read) and publishes as the agency owning each (alerts:on-behalf).",
    )
    database_url: str = Field(
        default="sqlite+aiosqlite:///.state/evaluator.sqlite3",
        description="Where the readings, each series' state and the alerts to send are kept.",
    )
    consumer_group: str = Field(default="evaluator", min_length=1)
    consumer_start: Literal["earliest", "latest"] = Field(
        default="earliest",
        description="Where a consumer group with no committed offset starts: the whole log "
        "(every observation ever reported), or only what is reported from now on.",
    )
    rules_fresh_seconds: float = Field(
        default=30.0, gt=0, description="How long the rules read from the registry are trusted."
    )
    no_data_check_seconds: float = Field(
        default=60.0, gt=0, description="How often open alerts are checked for silent series."
    )
    outbox_retry_seconds: float = Field(
        default=2.0, gt=0, description="Wait before sending again when the gateway was down."
    )
    publish_concurrency: int = Field(
        default=8, ge=1, le=64,
        description="Series whose next message is sent to the gateway at once (each series' "
        "messages still go one after the other).",
    )  # fmt: skip
    signing_keys_dir: Path | None = Field(
        default=None,
        description="A directory holding, for each agency whose alerts the evaluator signs, "
        "`<organisation id>.key.pem` (its private key) and `<organisation id>.cert.pem` (the "
        "certificate registered with it): its alerts are then sent as signed CAP XML. An "
        "agency without them, or no directory, is sent unsigned.",
    )
