"""The part of every service's app factory that is the same everywhere."""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import version

from fastapi import FastAPI

from services.common.health import ReadinessCheck, health_router
from services.common.logging import configure_logging
from services.common.problems import install_problem_handlers
from services.common.settings import ServiceSettings


def service_app(
    settings: ServiceSettings,
    *,
    title: str,
    description: str,
    checks: Mapping[str, ReadinessCheck],
) -> FastAPI:
    """A FastAPI app with the service's logging, metadata and health endpoints."""
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    app = FastAPI(title=title, description=description, version=version("crossalert"))
    app.state.settings = settings
    install_problem_handlers(app)
    app.include_router(health_router(checks))
    return app
