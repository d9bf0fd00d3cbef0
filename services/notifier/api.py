"""The notifier's API: the consoles' live feed, acknowledgements, delivery reports, login."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import httpx
from fastapi import APIRouter, Depends, Query, Request, Response, WebSocket, status
from fastapi import Path as FastApiPath
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field, ValidationError

from schemas.console import FEED_PATH, Acknowledgement, AcknowledgeRequest
from schemas.deliveries import DeliveryReport
from schemas.envelopes import AlertKey
from schemas.exercise import ExerciseReport, PublishedReport
from schemas.identity import Scope, TokenClaims, TokenResponse
from services.common.auth import requires, requires_any
from services.common.problems import ProblemError, problem_responses
from services.common.requests import note, read_bounded
from services.notifier import acks, exercise_reports
from services.notifier.report import cap_document, delivery_report, exercise_run_reports
from services.notifier.runtime import Notifier
from services.notifier.socket import serve_console

router = APIRouter(prefix="/v1", tags=["notifier"])


def _notifier(request: Request) -> Notifier:
    """The running notifier (`runtime.Notifier`), built by the app's lifespan."""
    notifier: Notifier = request.app.state.notifier
    return notifier


OfficerDep = Annotated[TokenClaims, Depends(requires(Scope.CONSOLE))]
PlannerDep = Annotated[TokenClaims, Depends(requires(Scope.EXERCISES_PLAN))]
ReportReaderDep = Annotated[TokenClaims, Depends(requires_any(Scope.CONSOLE, Scope.EXERCISES_PLAN))]
RunId = Annotated[str, FastApiPath(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")]
ReaderDep = Annotated[TokenClaims, Depends(requires_any(Scope.ALERTS_READ, Scope.CONSOLE))]


class Login(BaseModel):
    """A duty officer's credentials, and the device token an earlier login gave this browser."""

    username: str = Field(max_length=100)
    password: str = Field(max_length=256)
    device_token: str | None = Field(default=None, max_length=100)


class Session(BaseModel):
    """A duty officer's session, by its refresh token."""

    refresh_token: str = Field(max_length=100)


@router.post(
    "/login", response_model=TokenResponse, responses=problem_responses(401, 413, 422, 429, 503)
)
async def login(request: Request, body: Login) -> Response:
    """Log a duty officer in at the registry: an access token and the shift's refresh token."""
    return await _at_registry(request, "/v1/login", json=body.model_dump(exclude_none=True))


@router.post(
    "/refresh", response_model=TokenResponse, responses=problem_responses(401, 413, 422, 503)
)
async def refresh(request: Request, body: Session) -> Response:
    """Trade the session's refresh token for a new access token (and the next refresh token)."""
    form = {"grant_type": "refresh_token", "refresh_token": body.refresh_token}
    return await _at_registry(request, "/v1/oauth/token", data=form)


@router.post("/logout", status_code=204, responses=problem_responses(413, 422, 503))
async def logout(request: Request, body: Session) -> Response:
    """End the session at the registry."""
    return await _at_registry(request, "/v1/logout", json=body.model_dump())


# The composer's routes at the gateway: /v1/compositions, /check, /{id}, /{id}/{step}.
_COMPOSITION_PATH = re.compile(r"(/[A-Za-z0-9_-]{1,64}){0,2}")


@router.api_route(
    "/compositions{rest:path}",
    methods=["GET", "POST", "PUT"],
    tags=["composer"],
    responses=problem_responses(401, 403, 404, 409, 413, 422, 503),
)
async def compositions(request: Request, rest: str) -> Response:
    """The console's composer: passed to the gateway's `/v1/compositions…` routes with the
    officer's token, and their answer passed back (see the gateway's API)."""
    if not _COMPOSITION_PATH.fullmatch(rest):
        raise ProblemError(404, "not_found", "no such route of the composer.")
    gateway: httpx.AsyncClient = _notifier(request).gateway_http
    body = await read_bounded(request, request.app.state.settings.max_body_bytes)
    headers = {k: v for k, v in request.headers.items() if k.lower() in _PASSED_TO_GATEWAY}
    try:
        answer = await gateway.request(
            request.method, f"/v1/compositions{rest}", params=request.query_params,
            content=body, headers=headers,
        )  # fmt: skip
    except httpx.HTTPError:
        raise ProblemError(
            503,
            "gateway_unreachable",
            "The alert gateway did not answer: read the composition again before repeating the "
            "step (an approval may have been published).",
            headers={"Retry-After": "5"},
        ) from None
    return _passed_back(answer)


_PASSED_TO_GATEWAY = {"authorization", "content-type", "accept"}


async def _at_registry(request: Request, path: str, **body: Any) -> Response:
    # The console's page talks to its own origin only; these calls pass through to the
    # registry, and its answer (tokens, or its problem) is passed back as it is.
    registry: httpx.AsyncClient = _notifier(request).registry_http
    # The registry throttles failed logins per address: it must see the officer's, not ours.
    forwarded = {"X-Forwarded-For": request.client.host} if request.client else {}
    try:
        answer = await registry.post(path, headers=forwarded, **body)
    except httpx.HTTPError:
        raise ProblemError(
            503,
            "registry_unreachable",
            "The registry cannot be reached to check the session; try again shortly.",
            headers={"Retry-After": "5"},
        ) from None
    return _passed_back(answer)


def _passed_back(answer: httpx.Response) -> Response:
    """Another service's answer as it is: body, status, type and Retry-After."""
    passed = {k: v for k, v in answer.headers.items() if k.lower() == "retry-after"}
    return Response(
        answer.content,
        status_code=answer.status_code,
        media_type=answer.headers.get("content-type"),
        headers=passed,
    )


@router.post(
    "/alerts/{sender}/{identifier}/acknowledgements",
    status_code=status.HTTP_201_CREATED,
    response_model=Acknowledgement,
    responses={
        200: {"model": Acknowledgement, "description": "Already acknowledged: the first one."},
        **problem_responses(401, 403, 404, 413, 422),
    },
)
async def acknowledge(
    request: Request,
    response: Response,
    sender: str,
    identifier: str,
    body: AcknowledgeRequest,
    claims: OfficerDep,
) -> Acknowledgement:
    """Acknowledge an alert for the officer's contact point, with an optional note."""
    key = alert_key(sender, identifier)
    note(request, user=claims.sub, alert=str(key))
    acknowledgement, created = await acks.acknowledge(
        sessions=_notifier(request).sessions,
        key=key,
        claims=claims,
        note=body.note,
        producer=_notifier(request).instance,
    )
    if created:
        _notifier(request).written()
    else:
        response.status_code = status.HTTP_200_OK
    return acknowledgement


@router.get(
    "/alerts/{sender}/{identifier}/deliveries",
    response_model=DeliveryReport,
    responses=problem_responses(401, 403, 404),
)
async def deliveries(
    request: Request, sender: str, identifier: str, claims: ReaderDep
) -> DeliveryReport:
    """Each recipient of an alert: channel, status, times, acknowledgement, escalations."""
    async with _notifier(request).sessions() as session:
        return await delivery_report(session, alert_key(sender, identifier), claims)


@router.get(
    "/alerts/{sender}/{identifier}/cap",
    response_class=Response,
    responses={
        200: {
            "content": {"application/cap+xml": {}, "application/json": {}},
            "description": "An external source's or a signed document exactly as sent; any other "
            "alert's CAP 1.2 XML as the network holds it.",
        },
        **problem_responses(401, 403, 404),
    },
)
async def alert_cap(request: Request, sender: str, identifier: str, claims: ReaderDep) -> Response:
    """The alert's CAP document, for audit and re-export (to its sender and recipients)."""
    async with _notifier(request).sessions() as session:
        content, media_type = await cap_document(session, alert_key(sender, identifier), claims)
    return Response(content, media_type=media_type)


def alert_key(sender: str, identifier: str) -> AlertKey:
    """The key an alert's path names; 404 for one no CAP alert can have (a space, a comma…)."""
    try:
        return AlertKey(sender=sender, identifier=identifier)
    except ValidationError:
        raise ProblemError(
            404, "unknown_alert", "No alert with such a sender and identifier can exist."
        ) from None


@router.post(
    "/exercise-reports",
    status_code=status.HTTP_201_CREATED,
    response_model=PublishedReport,
    responses={
        200: {"model": PublishedReport, "description": "The planner's earlier report replaced."},
        **problem_responses(401, 403, 413, 422, 503),
    },
)
async def publish_exercise_report(
    request: Request, response: Response, report: ExerciseReport, claims: PlannerDep
) -> PublishedReport:
    """Publish a run's after-action report for the participating organisations' officers."""
    async with _notifier(request).sessions() as session, session.begin():
        published, created = await exercise_reports.publish(session, report, claims)
    if not created:
        response.status_code = status.HTTP_200_OK
    return published


@router.get(
    "/exercise-reports",
    response_model=list[PublishedReport],
    responses=problem_responses(401, 403, 503),
)
async def exercise_report_list(request: Request, claims: ReportReaderDep) -> list[PublishedReport]:
    """The reports the reader may open: its organisation's exercises (an officer), or those
    its organisation published (a planner)."""
    async with _notifier(request).sessions() as session:
        return await exercise_reports.listed(session, claims)


@router.get(
    "/exercise-reports/{run_id}",
    response_model=ExerciseReport,
    responses={
        200: {"content": {"text/html": {}}, "description": "JSON, or the page (format=html)."},
        **problem_responses(401, 403, 404, 422, 503),
    },
)
async def exercise_report(
    request: Request,
    run_id: RunId,
    claims: ReportReaderDep,
    page: Annotated[Literal["json", "html"], Query(alias="format")] = "json",
) -> Response:
    """A run's after-action report: whole for its planner; for an officer of a participating
    organisation, its own rows in full and the other organisations as aggregates."""
    async with _notifier(request).sessions() as session:
        report = await exercise_reports.read(session, run_id, claims)
    if page == "json":
        return Response(report.model_dump_json(), media_type="application/json")
    # The page's renderer draws with matplotlib: loaded on the first page asked for only.
    from services.exercise.report import CONTENT_SECURITY_POLICY, render_html

    return HTMLResponse(
        render_html(report),
        headers={
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )


@router.get(
    "/exercise-runs/{run_id}/deliveries",
    response_model=list[DeliveryReport],
    responses=problem_responses(401, 403, 422, 503),
)
async def exercise_run_deliveries(
    request: Request, run_id: RunId, claims: PlannerDep
) -> list[DeliveryReport]:
    """Every message of an exercise run and its deliveries, for the planner's report: the
    run's own messages and the alerts the threshold evaluator raised from its observations."""
    async with _notifier(request).sessions() as session:
        return await exercise_run_reports(session, run_id)


@router.websocket(FEED_PATH.removeprefix("/v1"))
async def feed(websocket: WebSocket) -> None:
    """The live feed of a duty officer's console (protocol: schemas/console.py)."""
    notifier: Notifier = websocket.app.state.notifier
    await serve_console(
        websocket,
        hub=notifier.hub,
        verifier=notifier.token_verifier,
        settings=notifier.settings,
        instance=notifier.instance,
    )
