"""One log shape per process: JSON lines with UTC timestamps and bound context, for every logger."""

from __future__ import annotations

import json
import logging
from datetime import datetime

import pytest
import structlog

from services.common.logging import configure_logging


def lines(captured: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in captured.splitlines() if line.strip()]


def test_structlog_and_stdlib_loggers_share_one_json_shape(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(level="INFO", fmt="json")

    with structlog.contextvars.bound_contextvars(alert="meldkamer@vrln.example.org,NL-1"):
        structlog.get_logger("crossalert.test").info("alert accepted", partition=2)
        logging.getLogger("uvicorn.access").info("POST /v1/alerts 202")
        logging.getLogger("aiokafka").info("reconnecting")  # below aiokafka's WARNING floor
        logging.getLogger("aiokafka").warning("broker unreachable")

    records = lines(capsys.readouterr().err)
    assert [r["event"] for r in records] == [
        "alert accepted",
        "POST /v1/alerts 202",
        "broker unreachable",
    ]
    for record in records:
        assert record["alert"] == "meldkamer@vrln.example.org,NL-1"
        stamp = str(record["timestamp"])
        assert stamp.endswith("Z")
        assert datetime.fromisoformat(stamp).utcoffset() is not None
    assert records[0]["partition"] == 2
    assert records[1]["logger"] == "uvicorn.access"


def test_exceptions_are_rendered_inside_the_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(level="INFO", fmt="json")

    try:
        raise RuntimeError("broker gone")
    except RuntimeError:
        structlog.get_logger("crossalert.test").exception("publish failed")

    [record] = lines(capsys.readouterr().err)
    assert record["level"] == "error"
    assert "RuntimeError: broker gone" in str(record["exception"])


def test_console_format_is_readable_text(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(level="INFO", fmt="console")

    structlog.get_logger("crossalert.test").info("alert accepted", partition=2)

    text = capsys.readouterr().err
    assert "alert accepted" in text
    assert "partition" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text.splitlines()[0])
