"""Reading a scenario file: the YAML, the alert and observation files it names, every problem
said with its line.

A planner edits the YAML by hand, so a problem names the line it is on (`FILE:LINE: field:
message`), every problem at once. The alerts are checked as CAP 1.2 with what the run will set
filled in (identifier, sender, sent time, status Exercise), so that `validate` refuses what the
gateway would refuse.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from schemas import CapValidationError, parse_cap_xml, validate_alert
from schemas.cap_ingest import is_json
from schemas.exercise import Inject, InjectKind, Scenario
from services.common.observation_rows import COLUMNS, read_rows
from services.common.problems import ProblemError

RELATIVE_PERIOD = re.compile(r"^(?P<unit>[WDH])-(?P<count>\d{1,4})$")
"""W-2: the ISO week two weeks before the run's start; D-1 a day, H-3 an hour before it."""
PLACEHOLDER_SENDER = "exercise-sender@example.org"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a scenario, where it is."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.field or '(scenario)'}: {self.message}"


class ScenarioError(Exception):
    """The scenario cannot run; `problems` says every reason, each with its line."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line or 0))
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class LoadedScenario:
    """A valid scenario with the content of every inject read."""

    scenario: Scenario
    path: Path
    alerts: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Inject name -> its CAP alert in JSON form (what the run will complete and send)."""
    observations: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Inject name -> its observation rows."""


def load_scenario(path: Path) -> LoadedScenario:
    """The scenario at `path` with its files read; ScenarioError naming every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError([Problem(str(path), None, "", f"cannot be read: {exc}")]) from None
    loader = yaml.SafeLoader(text)  # one parse: the nodes (for lines) and the document
    try:
        tree = loader.get_single_node()
        document = loader.construct_document(tree) if tree is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ScenarioError([Problem(str(path), line, "", f"not YAML: {exc}")]) from None
    finally:
        loader.dispose()
    lines = _Lines(tree)
    try:
        scenario = Scenario.model_validate(document, context={"timeline_checked_later": True})
    except ValidationError as exc:
        raise ScenarioError([
            _problem(path, lines, e["loc"], str(e["msg"]).removeprefix("Value error, "))
            for e in exc.errors()
        ]) from None  # fmt: skip

    problems = [
        _problem(path, lines, ("timeline", index), message)
        for index, message in scenario.timeline_problems()
    ]
    loaded = LoadedScenario(scenario, path)
    for index, inject in enumerate(scenario.timeline):
        where = ("timeline", index)
        if inject.kind is InjectKind.OBSERVATIONS:
            rows = _observations(path, lines, where, inject, problems)
            if rows is not None:
                loaded.observations[inject.name] = rows
        elif inject.alert is not None or inject.file is not None:
            alert = _alert(path, lines, where, inject, problems)
            if alert is not None:
                loaded.alerts[inject.name] = alert
    if problems:
        raise ScenarioError(problems)
    return loaded


def as_exercise(alert: dict[str, Any], *, identifier: str, sender: str, sent: datetime,
                note: str) -> dict[str, Any]:  # fmt: skip
    """The alert with what every message of a run carries: status Exercise, the run's
    identifier, the sender's CAP id, the sending time, the run's note."""
    return alert | {
        "identifier": identifier,
        "sender": sender,
        "sent": sent.isoformat(timespec="seconds"),
        "status": "Exercise",
        "note": note,
    }


class _Lines:
    """The line of each part of the YAML document, by path (keys and list indexes)."""

    def __init__(self, tree: yaml.Node | None) -> None:
        self._tree = tree

    def of(self, path: Sequence[str | int]) -> int | None:
        node = self._tree
        line = node.start_mark.line + 1 if node is not None else None
        for step in path:
            if isinstance(node, yaml.MappingNode):
                found = next((v for k, v in node.value if k.value == step), None)
                if found is None:
                    return line
                node = found
            elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
                if step >= len(node.value):
                    return line
                node = node.value[step]
            else:
                return line
            line = node.start_mark.line + 1
        return line


def _dotted(location: Sequence[str | int]) -> str:
    text = ""
    for step in location:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text


def _steps(field: str) -> tuple[str | int, ...]:
    """info[0].area[1].polygon -> ("info", 0, "area", 1, "polygon")."""
    return tuple(int(s) if s.isdigit() else s for s in re.split(r"[.\[\]]+", field) if s)


def _alert(
    path: Path, lines: _Lines, where: tuple[str, int], inject: Inject, problems: list[Problem]
) -> dict[str, Any] | None:
    """The inject's alert (inline or from its file), checked as the run will send it."""
    inline = inject.alert is not None
    base: tuple[str | int, ...] = (*where, "alert")
    if inject.alert is not None:
        alert = dict(inject.alert)
    else:
        assert inject.file is not None
        try:
            data = (path.parent / inject.file).read_bytes()
            alert = json.loads(data) if is_json(data) else _json_form(data)
        except (OSError, ValueError, CapValidationError) as exc:
            message = f"{inject.file} cannot be read as a CAP alert: {exc}"
            problems.append(_problem(path, lines, (*where, "file"), message))
            return None
    completed = as_exercise(
        alert, identifier=f"validate.{inject.name}", note="validate", sent=datetime.now(UTC),
        sender=alert.get("sender") or PLACEHOLDER_SENDER,
    )  # fmt: skip
    if inject.kind is not InjectKind.ALERT:
        completed["msgType"] = inject.kind.value.capitalize()
        completed["references"] = [f"{PLACEHOLDER_SENDER},validate.earlier,2026-01-01T00:00:00Z"]
    try:
        validate_alert(completed)
    except CapValidationError as exc:
        for found in exc.problems:
            if inline:
                problems.append(_problem(path, lines, (*base, *_steps(found.field)), found.message))
            else:  # a CAP file has no line to point at: its field says where
                spot = (*where, "file")
                problems.append(_problem(path, lines, spot, f"{inject.file}: {found.field}: "
                                         f"{found.message}"))  # fmt: skip
        return None
    return alert


def _json_form(cap_xml: bytes) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        parse_cap_xml(cap_xml).model_dump_json(by_alias=True, exclude_none=True)
    )
    return document


def _observations(
    path: Path, lines: _Lines, where: tuple[str, int], inject: Inject, problems: list[Problem]
) -> list[dict[str, Any]] | None:
    """The inject's observation rows (inline or from its CSV/JSON file), each row's columns
    checked (their values are the gateway's to check, against the catalogue)."""
    if inject.observations is not None:
        rows = [dict(row) for row in inject.observations]
    else:
        assert inject.file is not None
        media = "text/csv" if inject.file.lower().endswith(".csv") else "application/json"
        try:
            rows = read_rows((path.parent / inject.file).read_bytes(), media)
        except (OSError, ProblemError) as exc:
            detail = exc.detail if isinstance(exc, ProblemError) else str(exc)
            problems.append(_problem(path, lines, (*where, "file"), f"{inject.file}: {detail}"))
            return None
    for number, row in enumerate(rows):
        row.pop("__line__", None)
        spot = (*where, "observations", number)
        for column in sorted(set(row) - set(COLUMNS)):
            problems.append(
                _problem(path, lines, (*spot, column), "not a column of an observation.")
            )
        for column in ("indicator", "region", "period"):
            if not row.get(column):
                problems.append(_problem(path, lines, (*spot, column), f"{column} is required."))
    return rows


def _problem(path: Path, lines: _Lines, spot: Sequence[str | int], message: str) -> Problem:
    return Problem(str(path), lines.of(spot), _dotted(spot), message)
