"""The gateway's HTTP API: crisis centres publish, update and cancel alerts here."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response, status
from prometheus_client import Counter

from schemas.cap import Status
from schemas.cap_ingest import MAX_INGEST_BYTES, CapMode
from schemas.gateway import Acceptance, AlertState, ObservationsAccepted
from schemas.identity import Scope, TokenClaims
from schemas.names import exercise_run_of
from services.alert_gateway import observations, service
from services.alert_gateway.intake import judge_signatures, read_alert
from services.alert_gateway.settings import GatewaySettings
from services.common.auth import requires, requires_any
from services.common.observation_rows import read_rows
from services.common.problems import ProblemError, problem_responses
from services.common.registry_client import RegistryUnavailable
from services.common.requests import note, read_bounded

router = APIRouter(prefix="/v1", tags=["alerts"])

POSTED = Counter(
    "crossalert_gateway_alerts",
    "CAP messages posted to the gateway, by outcome (published; validated: a Draft; refused) "
    "and, when refused, the refusal's code.",
    ["outcome", "reason"],
)

# A planner's token (exercises:plan) publishes addressed exercises only: `service.authorise`.
PublisherDep = Annotated[
    TokenClaims, Depends(requires_any(Scope.ALERTS_PUBLISH, Scope.EXERCISES_PLAN))
]
ReaderDep = Annotated[TokenClaims, Depends(requires(Scope.ALERTS_READ))]
ReporterDep = Annotated[TokenClaims, Depends(requires(Scope.OBSERVATIONS_SUBMIT))]

_CAP_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "description": "The JSON form of a CAP 1.2 alert: "
                    "schemas/jsonschema/cap-alert.schema.json",
                }
            },
            "application/cap+xml": {"schema": {"type": "string", "format": "CAP 1.2 XML"}},
        },
    }
}


@router.post(
    "/alerts",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Acceptance,
    openapi_extra=_CAP_BODY,
    responses={
        200: {"model": Acceptance, "description": "A Draft: validated, not published."},
        **problem_responses(400, 401, 403, 409, 413, 415, 422, 429, 503),
    },
)
async def post_alert(request: Request, response: Response, claims: PublisherDep) -> Acceptance:
    """Publish a CAP 1.2 alert (JSON or XML); 202 once the broker acknowledged the write."""
    try:
        acceptance = await _publish(request, claims)
    except ProblemError as refusal:
        POSTED.labels("refused", refusal.code).inc()
        raise
    outcome = "published" if acceptance.published else "validated"
    POSTED.labels(outcome, "").inc()
    if not acceptance.published:
        response.status_code = status.HTTP_200_OK
    note(request, outcome=outcome, topic=acceptance.topic, offset=acceptance.offset)
    return acceptance


async def _publish(request: Request, claims: TokenClaims) -> Acceptance:
    settings: GatewaySettings = request.app.state.settings
    state = request.app.state
    note(request, client=claims.sub)
    await state.rate_limiter.take(claims.sub)
    ingest = claims.cap_mode is CapMode.INGEST
    limit = (claims.max_cap_bytes or MAX_INGEST_BYTES) if ingest else settings.max_body_bytes
    body = await read_bounded(request, limit)
    read = read_alert(body, request.headers.get("content-type", ""), claims.cap_mode, limit)
    alert = read.alert
    note(request, alert=f"{alert.sender},{alert.identifier}", warnings=len(read.warnings))
    service.authorise(alert, claims)
    await service.authorise_answers(
        sessions=state.sessions, router=state.router, alert=alert, claims=claims
    )
    verdict = await judge_signatures(body, alert, claims, state.organisations)
    note(request, signature=verdict.status)
    return await service.accept(
        sessions=state.sessions,
        ledger=state.ledger,
        producer=state.producer,
        alert=alert,
        claims=claims,
        ack_timeout=settings.kafka_send_timeout_seconds,
        producer_name=settings.service_name,
        warnings=read.warnings,
        ingest=ingest,
        original=body if ingest or alert.signature else None,
        signature=verdict,
    )


@router.get(
    "/alerts/{sender}/{identifier}",
    response_model=AlertState,
    responses=problem_responses(401, 403, 404, 503),
)
async def get_alert(
    request: Request, sender: str, identifier: str, claims: ReaderDep
) -> AlertState:
    """When and where an alert was accepted, its chain and its state (for its sender and the
    organisations it reached)."""
    return await service.state_for(
        sessions=request.app.state.sessions,
        router=request.app.state.router,
        sender=sender,
        identifier=identifier,
        claims=claims,
    )


_OBSERVATIONS_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "description": "One observation or a list: indicator, region, station, "
                    "period, value (null or '-': not reported), numerator, denominator, unit, "
                    "status (new or revision).",
                    "oneOf": [{"type": "object"}, {"type": "array", "items": {"type": "object"}}],
                }
            },
            "text/csv": {
                "schema": {
                    "type": "string",
                    "description": "A header line naming the same columns; comma- or "
                    "semicolon-separated (then with decimal commas).",
                }
            },
        },
    }
}


@router.post(
    "/observations",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ObservationsAccepted,
    tags=["observations"],
    openapi_extra=_OBSERVATIONS_BODY,
    responses=problem_responses(400, 401, 403, 413, 415, 422, 429, 503),
)
async def post_observations(
    request: Request,
    claims: ReporterDep,
    traffic: Annotated[
        Literal[Status.ACTUAL, Status.EXERCISE, Status.TEST],
        Query(alias="status", description="Exercise and Test go to the exercise twin."),
    ] = Status.ACTUAL,
    exercise: Annotated[
        str | None,
        Query(
            alias="note",
            max_length=200,
            description="The exercise run they belong to (`Exercise NAME — run RUN`, with "
            "status Exercise or Test): the alerts they cause carry it.",
        ),
    ] = None,
) -> ObservationsAccepted:
    """Submit an agency's observations (JSON or CSV); 202 once the broker holds every row.

    Every row is checked (indicator, unit, period, value, the agency's regions and
    competences); one wrong row refuses the whole submission, naming each wrong row.
    """
    settings: GatewaySettings = request.app.state.settings
    state = request.app.state
    note(request, client=claims.sub)
    if exercise is not None and (traffic is Status.ACTUAL or exercise_run_of(exercise) is None):
        raise ProblemError(
            422,
            "invalid_note",
            "note names an exercise run (`Exercise NAME — run RUN`), with status Exercise or "
            "Test only.",
            field="note",
        )
    await state.rate_limiter.take(claims.sub)
    body = await read_bounded(request, settings.max_body_bytes)
    rows = read_rows(body, request.headers.get("content-type", ""))
    try:
        catalogue = await state.catalogue.indicators()
    except RegistryUnavailable:
        raise ProblemError(
            503,
            "registry_unavailable",
            "the indicator catalogue cannot be read now; nothing was accepted. Send again shortly.",
            headers={"Retry-After": str(observations.RETRY_AFTER_SECONDS)},
        ) from None
    found = observations.observations(
        rows, catalogue=catalogue, claims=claims, status=traffic, now=datetime.now(UTC)
    )
    if exercise is not None:
        found = [observation.model_copy(update={"note": exercise}) for observation in found]
    accepted = await observations.publish_all(
        state.producer,
        found,
        client_id=claims.sub,
        producer_name=settings.service_name,
        ack_timeout=settings.kafka_send_timeout_seconds,
    )
    note(request, outcome="published", rows=accepted.rows, topic=accepted.topic)
    return accepted
