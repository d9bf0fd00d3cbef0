"""The part of every service's app factory that is the same everywhere."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from importlib.metadata import version

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from schemas.asyncapi import asyncapi_document
from services.common.health import ReadinessCheck, health_router
from services.common.logging import configure_logging
from services.common.metrics import metrics
from services.common.problems import document_refusals, install_problem_handlers
from services.common.requests import BodyLimit, RequestLog
from services.common.settings import ServiceSettings

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]
"""Owns the service's resources: starts them before the first request, stops them after."""


def service_app(
    settings: ServiceSettings,
    *,
    title: str,
    description: str,
    checks: Mapping[str, ReadinessCheck],
    optional_checks: Mapping[str, ReadinessCheck] | None = None,
    lifespan: Lifespan | None = None,
    larger_bodies: Mapping[str, int] | None = None,
) -> FastAPI:
    """A FastAPI app with the service's logging, metadata, problem errors and health endpoints.

    Every request body is bounded by the `max_body_bytes` setting, or by `larger_bodies` for
    the paths it names.
    """
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    app = FastAPI(
        title=title, description=description, version=version("crossalert"), lifespan=lifespan
    )
    app.state.settings = settings
    install_problem_handlers(app)
    document_refusals(app)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes, larger=larger_bodies)
    app.add_middleware(RequestLog)  # outermost: a refused body is logged too
    app.include_router(health_router(checks, optional_checks))
    app.add_api_route("/asyncapi.json", asyncapi, include_in_schema=False)
    app.add_api_route("/metrics", metrics, include_in_schema=False)
    return app


async def asyncapi() -> JSONResponse:
    """The AsyncAPI document of the network's topics, served beside each service's OpenAPI."""
    return JSONResponse(asyncapi_document())
