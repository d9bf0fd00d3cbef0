"""The registry application factory."""

from __future__ import annotations

from fastapi import FastAPI

from services.common.app import service_app
from services.common.health import kafka_check
from services.registry.settings import RegistrySettings


def create_app(settings: RegistrySettings | None = None) -> FastAPI:
    """Build the registry app; settings come from the environment unless given."""
    settings = settings or RegistrySettings()
    return service_app(
        settings,
        title="crossalert registry",
        description="Regions, organisations, contact points, competences, mutual-assistance "
        "agreements, routing and identity.",
        checks={"kafka": kafka_check(settings.kafka_bootstrap_servers)},
    )
