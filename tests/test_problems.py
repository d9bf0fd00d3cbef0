"""Errors no route handles: a database out of reach or out of space is a prompt 503 the client
can retry; any other failure, a bug, is a 500. Both are problem documents."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, ProgrammingError

from services.common.problems import PROBLEM_JSON, install_problem_handlers

FAILURES: dict[str, Exception] = {
    "disk-full": OperationalError("INSERT", {}, Exception("database or disk is full")),
    "server-gone": DBAPIError("SELECT 1", {}, Exception("closed"), connection_invalidated=True),
    "bad-statement": ProgrammingError("SELEC 1", {}, Exception("syntax error")),
    "constraint": IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed")),
    "bug": ValueError("a bug"),
}


def app_failing_with(error: Exception) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/fail")
    async def fail() -> None:
        raise error

    return app


async def answer_to(error: Exception) -> httpx.Response:
    # As a server does: an error reaching the last resort is answered, then raised to its log.
    transport = httpx.ASGITransport(app=app_failing_with(error), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as http:
        return await http.get("/fail")


@pytest.mark.parametrize("failure", ["disk-full", "server-gone"])
async def test_a_database_out_of_reach_or_space_is_a_503_to_retry(failure: str) -> None:
    answer = await answer_to(FAILURES[failure])

    assert answer.status_code == 503
    assert answer.headers["content-type"] == PROBLEM_JSON
    assert answer.headers["Retry-After"] == "5"
    assert answer.json()["code"] == "database_unavailable"
    assert "Send it again" in answer.json()["detail"]


@pytest.mark.parametrize("failure", ["bad-statement", "constraint", "bug"])
async def test_any_other_failure_is_a_500(failure: str) -> None:
    answer = await answer_to(FAILURES[failure])

    assert answer.status_code == 500
    assert answer.headers["content-type"] == PROBLEM_JSON
    assert answer.json()["code"] == "internal_error"
