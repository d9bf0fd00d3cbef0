"""The alert gateway application factory."""

from __future__ import annotations

from fastapi import FastAPI

from services.alert_gateway.settings import GatewaySettings
from services.common.app import service_app
from services.common.health import kafka_check


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    """Build the alert gateway app; settings come from the environment unless given."""
    settings = settings or GatewaySettings()
    return service_app(
        settings,
        title="crossalert alert gateway",
        description="Crisis centres publish, update and cancel CAP 1.2 alerts here.",
        checks={"kafka": kafka_check(settings.kafka_bootstrap_servers)},
    )
