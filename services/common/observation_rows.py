"""Agencies' observations as they send them: the rows of a JSON or CSV body, not yet checked.

JSON is one observation object or a list of them. CSV is what agencies export: a header naming
the columns, comma-separated, or semicolon-separated with decimal commas (a European export).
Read by the gateway before it checks each row, and by `crossalert thresholds backtest`.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from services.common.problems import ProblemError

MAX_ROWS = 10_000
COLUMNS = ("indicator", "region", "station", "period", "value", "numerator", "denominator",
           "unit", "status")  # fmt: skip
NOT_REPORTED = ("", "-")
"""How a value not reported is written (JSON may also say null)."""
JSON_TYPES = ("application/json",)
CSV_TYPES = ("text/csv", "application/csv")


def read_rows(body: bytes, content_type: str) -> list[dict[str, Any]]:
    """The rows of a JSON or CSV body, as given; 400/415 when it cannot be read at all."""
    media_type = content_type.split(";")[0].strip().lower()
    if media_type in JSON_TYPES:
        rows = _json_rows(body)
    elif media_type in CSV_TYPES:
        rows = _csv_rows(body)
    else:
        raise ProblemError(
            415,
            "unsupported_media_type",
            f"send observations as application/json or text/csv, not {media_type or 'no type'}.",
            field="Content-Type",
        )
    if not rows:
        raise ProblemError(422, "no_rows", "the body holds no observation.", field="rows")
    if len(rows) > MAX_ROWS:
        raise ProblemError(
            422, "too_many_rows", f"send at most {MAX_ROWS} rows at once.", field="rows"
        )
    return rows


def _json_rows(body: bytes) -> list[dict[str, Any]]:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ProblemError(400, "json_invalid", "the body is not JSON.", field="body") from None
    rows = document if isinstance(document, list) else [document]
    if not all(isinstance(row, dict) for row in rows):
        raise ProblemError(
            422, "invalid_rows", "send an observation object or a list of them.", field="body"
        )
    return [dict(row) for row in rows]


def _csv_rows(body: bytes) -> list[dict[str, Any]]:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ProblemError(
            400, "invalid_encoding", "send the CSV in UTF-8.", field="body"
        ) from None
    header = text.splitlines()[0] if text else ""
    semicolons = ";" in header and "," not in header
    reader = csv.DictReader(io.StringIO(text), delimiter=";" if semicolons else ",")
    rows = []
    for row in reader:
        cleaned: dict[str, Any] = {
            (key or "").strip().lower(): (value or "").strip() for key, value in row.items()
        }
        if not any(cleaned.values()):
            continue  # a blank line
        if semicolons:  # a European export: decimal commas
            for column in ("value", "numerator", "denominator"):
                cleaned[column] = cleaned.get(column, "").replace(",", ".")
        cleaned = {key: value for key, value in cleaned.items() if value != "" or key == "value"}
        cleaned["__line__"] = reader.line_num
        rows.append(cleaned)
    return rows
