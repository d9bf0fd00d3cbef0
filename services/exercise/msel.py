"""A master scenario events list (MSEL) spreadsheet, exported as CSV, made a scenario.

Planners keep their MSEL in a spreadsheet with the usual columns: scenario time, inject, from,
to, method, message, expected action, objective. Each row becomes an inject whose alert is a
skeleton built from the message (headline and description), with the CAP fields the optional
columns give (category, severity, urgency, certainty, area as a NUTS code, language) and
`updates`/`cancels` when a row says which earlier inject it follows. The planner then edits the
YAML, and `crossalert exercise validate` says what is still missing, line by line.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

COLUMNS = {  # the column names planners use, lower-cased -> the scenario's field
    "scenario time": "at", "time": "at", "inject time": "at",
    "inject": "name", "inject no": "name", "inject number": "name", "event": "name", "#": "name",
    "from": "from", "sender": "from",
    "to": "to", "recipients": "to", "player": "to",
    "method": "method",
    "message": "message", "description": "message", "inject description": "message",
    "expected action": "expected_action", "expected player action": "expected_action",
    "objective": "objective", "objectives": "objective",
    "category": "category", "severity": "severity", "urgency": "urgency",
    "certainty": "certainty", "area": "area", "language": "language",
    "updates": "updates", "cancels": "cancels", "acknowledge within": "within",
}  # fmt: skip


class MselError(ValueError):
    """The spreadsheet cannot be read as an MSEL; the message names the line."""


def scenario_from_msel(
    text: str, *, name: str, organisations: list[str] | None = None
) -> dict[str, Any]:
    """The scenario document (to be dumped as YAML) for an MSEL's CSV text."""
    delimiter = ";" if text.splitlines()[0].count(";") > text.splitlines()[0].count(",") else ","
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")), delimiter=delimiter)
    fields = {h: COLUMNS.get(h.strip().lower()) for h in reader.fieldnames or []}
    for needed in ("at", "name", "from", "message"):
        if needed not in fields.values():
            raise MselError(f"line 1: no column for {needed} (have {', '.join(fields)})")
    timeline = []
    for row in reader:
        cells = {
            field: (value or "").strip()
            for header, value in row.items()
            if (field := fields.get(header)) is not None
        }
        if not any(cells.values()):
            continue
        timeline.append(_inject(cells, reader.line_num))
    senders = sorted({i["from"] for i in timeline})
    return {
        "name": name,
        "description": "Imported from an MSEL spreadsheet.",
        "objectives": sorted({i.pop("_objective") for i in timeline} - {""}),
        "participants": {"organisations": organisations or senders},
        "timeline": timeline,
    }


def _inject(cells: dict[str, str], line: int) -> dict[str, Any]:
    inject: dict[str, Any] = {
        "name": _slug(cells["name"], line),
        "at": _time(cells["at"], line),
        "from": cells["from"],
        "message": cells["message"],
    }
    for column in ("expected_action", "objective"):
        if cells.get(column):
            inject[column] = cells[column]
    inject["_objective"] = cells.get("objective", "")
    if cells.get("updates"):
        inject["updates"] = _slug(cells["updates"], line)
        inject["changes"] = {
            k: cells[k] for k in ("severity", "urgency", "certainty") if cells.get(k)
        }
    elif cells.get("cancels"):
        inject["cancels"] = _slug(cells["cancels"], line)
        inject["reason"] = cells["message"]
    else:
        inject["alert"] = _skeleton(cells)
    recipients = [r.strip() for r in re.split(r"[;,]", cells.get("to", "")) if r.strip()]
    if recipients:
        inject["expect"] = {"received_by": recipients}
        if cells.get("within"):
            inject["expect"] |= {"acknowledged_by": recipients, "within": cells["within"]}
    return inject


def _skeleton(cells: dict[str, str]) -> dict[str, Any]:
    area = cells.get("area", "")
    info: dict[str, Any] = {
        "language": cells.get("language") or "en",
        "category": [cells.get("category") or "Safety"],
        "event": cells["message"][:80],
        "urgency": cells.get("urgency") or "Expected",
        "severity": cells.get("severity") or "Moderate",
        "certainty": cells.get("certainty") or "Likely",
        "headline": cells["message"][:160],
        "description": cells["message"],
    }
    if area:
        info["area"] = [{"areaDesc": area, "geocode": [{"valueName": "NUTS3", "value": area}]}]
    return {"msgType": "Alert", "scope": "Restricted", "restriction": "Exercise participants",
            "info": [info]}  # fmt: skip


def _slug(text: str, line: int) -> str:
    slug = re.sub(r"[^a-z0-9._-]+", "-", text.strip().lower()).strip("-")
    if not slug:
        raise MselError(f"line {line}: the inject needs a name or number")
    return slug if slug[0].isalnum() and not slug.isdigit() else f"inject-{slug}"


def _time(text: str, line: int) -> str:
    """HH:MM[:SS], T+HH:MM, +MM (minutes) or MM -> HH:MM:SS."""
    cleaned = text.strip().upper().removeprefix("T").removeprefix("+")
    if re.fullmatch(r"\d+", cleaned):
        minutes = int(cleaned)
        return f"{minutes // 60:02d}:{minutes % 60:02d}:00"
    match = re.fullmatch(r"(\d{1,3}):(\d{2})(?::(\d{2}))?", cleaned)
    if match is None:
        raise MselError(f"line {line}: scenario time '{text}' is not HH:MM, HH:MM:SS or minutes")
    return f"{int(match[1]):02d}:{match[2]}:{match[3] or '00'}"
