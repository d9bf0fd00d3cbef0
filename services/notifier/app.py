"""The notifier application factory."""

from __future__ import annotations

from fastapi import FastAPI

from services.common.app import service_app
from services.common.health import kafka_check
from services.notifier.settings import NotifierSettings


def create_app(settings: NotifierSettings | None = None) -> FastAPI:
    """Build the notifier app; settings come from the environment unless given."""
    settings = settings or NotifierSettings()
    return service_app(
        settings,
        title="crossalert notifier",
        description="Routes alerts to duty officers' consoles and mailboxes and tracks "
        "acknowledgements.",
        checks={"kafka": kafka_check(settings.kafka_bootstrap_servers)},
    )
