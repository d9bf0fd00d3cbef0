"""RFC 9457 problem details, written once: every refusal of every service has this shape.

A route raises `ProblemError`; FastAPI's own validation errors and CAP validation errors are
turned into the same `application/problem+json` body with a code, the field and a sentence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, Field
from pydantic_core import ErrorDetails
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from schemas.errors import CapValidationError, Problem, problem_from_error

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"


class ProblemBody(BaseModel):
    """The body of every refusal (RFC 9457), as documented in the OpenAPI pages."""

    type: str
    title: str
    status: int
    code: str = Field(description="Machine-readable reason, e.g. invalid_polygon.")
    detail: str = Field(description="A sentence a person understands.")
    field: str | None = Field(
        default=None, description="The offending field, e.g. info[0].urgency."
    )
    errors: list[Problem] | None = None


def document_refusals(app: FastAPI) -> None:
    """Make the OpenAPI page of `app` name the refusals every route may answer.

    Besides what a route documents itself: 422 where it reads parameters or a body, 400 and
    413 where it reads a body, 401 and 403 where it needs a token; and every refusal as the problem
    document it is (FastAPI would document its own 422 shape, as application/json).
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _with_refusals(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _with_refusals(spec: dict[str, Any]) -> dict[str, Any]:
    problem = {"schema": {"$ref": "#/components/schemas/ProblemBody"}}
    components = spec.setdefault("components", {}).setdefault("schemas", {})
    if "ProblemBody" not in components:
        body = ProblemBody.model_json_schema(ref_template=_REF)
        components.update(body.pop("$defs", {}))
        components["ProblemBody"] = body
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            statuses: set[int] = set()
            if operation.get("parameters") or operation.get("requestBody"):
                statuses.add(422)
            if operation.get("requestBody"):
                statuses |= {400, 413}  # a body that does not parse, one that is too large
            if operation.get("security"):
                statuses |= {401, 403}
            responses = operation.setdefault("responses", {})
            for status in statuses:
                response = responses.setdefault(str(status), {"description": _TITLES[status]})
                if status == 422 or "content" not in response:  # 422: FastAPI's own shape
                    response["content"] = {PROBLEM_JSON: {}}
            for response in responses.values():
                if PROBLEM_JSON in response.get("content", {}):
                    response["content"] = {PROBLEM_JSON: problem}
    return spec


_REF = "#/components/schemas/{model}"


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries documenting refusals with these statuses."""
    return {
        status: {
            "model": ProblemBody,
            "description": _TITLES.get(status, "Refused"),
            "content": {PROBLEM_JSON: {}},
        }
        for status in statuses
    }


class ProblemError(StarletteHTTPException):
    """An HTTP refusal: status, machine-readable code, a sentence, and the fields concerned.

    An HTTP exception, so that one raised while FastAPI reads a body (a body over its bound)
    reaches the handler as it is rather than as FastAPI's generic 400.
    """

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        field: str | None = None,
        problems: Sequence[Problem] = (),
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(status, detail, dict(headers or {}))
        self.status = status
        self.code = code
        self.detail = detail
        self.field = field
        self.problems = tuple(problems)
        self.headers: dict[str, str] = dict(headers or {})
        self.extra = dict(extra or {})

    @classmethod
    def from_cap(cls, error: CapValidationError, *, status: int = 422) -> ProblemError:
        """A refusal of an invalid CAP (or contract) document, naming every field."""
        return cls(
            status,
            error.code,
            error.message,
            field=error.field,
            problems=error.problems,
        )

    def body(self) -> dict[str, Any]:
        """The RFC 9457 JSON body."""
        body: dict[str, Any] = {
            "type": f"https://crossalert.example.org/problems/{self.code}",
            "title": _TITLES.get(self.status, "Request refused"),
            "status": self.status,
            "code": self.code,
            "detail": self.detail,
        }
        if self.field is not None:
            body["field"] = self.field
        if self.problems:
            body["errors"] = [problem.model_dump() for problem in self.problems]
        return body | self.extra

    def response(self) -> JSONResponse:
        """The HTTP response carrying this problem."""
        return JSONResponse(
            self.body(), status_code=self.status, headers=self.headers, media_type=PROBLEM_JSON
        )


_TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    412: "Precondition failed",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    428: "Precondition required",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}


def install_problem_handlers(app: FastAPI) -> None:
    """Make every refusal of `app` an application/problem+json body."""

    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ProblemError)
        fields = getattr(request.state, "log_fields", None)
        if fields is not None:
            fields.update(outcome="refused", problem=exc.code, field=exc.field)
        return exc.response()

    async def on_validation(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return request_problem(exc.errors()).response()

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _TITLES.get(exc.status_code, "error").lower().replace(" ", "_")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
        return ProblemError(exc.status_code, code, str(exc.detail), headers=headers).response()

    async def on_database(request: Request, exc: Exception) -> JSONResponse:
        if not _database_unavailable(exc):
            raise exc  # a bug: on to the last resort below, and the server's log
        # The database cannot be written or reached (a full disk, a server restarting): a
        # dependency down, answered at once like the broker's, for the client to send again.
        log.warning("database_unavailable", path=request.url.path, error=str(exc).splitlines()[0])
        return ProblemError(
            503,
            "database_unavailable",
            "The service cannot use its database now (full, or out of reach), so the request "
            "may not have been completed. Send it again shortly.",
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
        ).response()

    async def on_crash(request: Request, exc: Exception) -> JSONResponse:
        # The last resort: the error is logged by the server; the client still gets a
        # problem document rather than a bare text page.
        log.error("unhandled_error", path=request.url.path, error=type(exc).__name__)
        return ProblemError(
            500, "internal_error", "The service failed to answer this request; it was logged."
        ).response()

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(DBAPIError, on_database)
    app.add_exception_handler(Exception, on_crash)


DATABASE_RETRY_AFTER_SECONDS = 5


def _database_unavailable(exc: Exception) -> bool:
    """Whether a database error says the database is out of reach or out of space, rather
    than that the request's statement is wrong (a bug, answered 500)."""
    return isinstance(exc, OperationalError | InterfaceError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app answers at the request's path (for 405's Allow).

    Starlette names only the first route matching the path, whereas a path often has one
    route per method.
    """
    methods: set[str] = set()
    for context in iter_route_contexts(request.app.routes):
        route = context.original_route
        match, _ = route.matches({**request.scope, "method": "GET"})
        allowed = getattr(route, "methods", None)
        if match is not Match.NONE and isinstance(allowed, set):
            methods |= allowed
    return sorted(methods)


def request_problem(errors: Sequence[Any]) -> ProblemError:
    """A 422 naming each invalid field of a request (body, query, path or header)."""
    problems = []
    for error in errors:
        loc = tuple(error.get("loc", ()))
        # FastAPI says where the value came from first; the field path is what follows.
        if loc and loc[0] in ("body", "query", "path", "header", "cookie"):
            loc = loc[1:] or loc[:1]  # a refusal of the whole body names "body"
        problems.append(problem_from_error(cast(ErrorDetails, {**error, "loc": loc})))
    first = problems[0]
    return ProblemError(422, first.code, first.message, field=first.field, problems=problems)
