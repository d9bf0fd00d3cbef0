"""Agencies' observations: from the rows of a request body (services/common/observation_rows.py)
to validated observations, row by row, then published per place.

Each row is checked against the indicator catalogue and the agency's token: a known indicator in
its unit, a period of the indicator's kind and not in the future, a plausible value, a region
the agency acts for and an indicator it is competent for. An empty value or "-" is a value not
reported, never 0; a status `revision` replaces an earlier value of the same period. Every wrong
row is named in one refusal, and nothing is accepted unless every row is right.

Accepted observations travel per place (region, or region/station), so that the evaluator
reads every indicator of a place together and in order.
"""

from __future__ import annotations

import asyncio
import math
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from schemas.cap import Status
from schemas.envelopes import ObservationsReported
from schemas.errors import Problem
from schemas.gateway import ObservationsAccepted
from schemas.identity import TokenClaims
from schemas.observations import Observation, parse_period
from schemas.thresholds import IndicatorOut
from schemas.topics import route
from services.common.kafka import BrokerUnavailable, LazyProducer, publish
from services.common.observation_rows import COLUMNS, NOT_REPORTED
from services.common.problems import ProblemError

PER_ENVELOPE = 500
"""Observations per record at most: a large batch of one place stays under Kafka's 1 MB."""
RETRY_AFTER_SECONDS = 5
REQUIRED = ("indicator", "region", "period", "value")


def observations(
    rows: list[dict[str, Any]],
    *,
    catalogue: Mapping[str, IndicatorOut],
    claims: TokenClaims,
    status: Status,
    now: datetime,
) -> list[Observation]:
    """Every row as an observation of the agency; one refusal naming every wrong row otherwise.

    403 when a row is beyond the agency's regions or competences, 422 when it is wrong.
    """
    found: list[Observation] = []
    problems: list[Problem] = []
    forbidden = False
    for index, row in enumerate(rows):
        errors, observation = _row(index, row, catalogue, claims, status, now)
        problems += errors
        forbidden |= any(p.code in ("outside_regions", "not_competent") for p in errors)
        if observation is not None:
            found.append(observation)
    if problems:
        first = problems[0]
        raise ProblemError(
            403 if forbidden else 422,
            first.code,
            f"{len(problems)} problem(s) in the rows; nothing was accepted. First: {first.message}",
            field=first.field,
            problems=problems,
        )
    return found


async def publish_all(
    producer: LazyProducer,
    found: list[Observation],
    *,
    client_id: str,
    producer_name: str,
    ack_timeout: float,
) -> ObservationsAccepted:
    """Publish the observations per place (acks=all); 503 when the broker did not take them all.

    Sending them again is harmless: the evaluator keeps one value per place, indicator and
    period, so a repeated observation changes nothing.
    """
    by_place: dict[str, list[Observation]] = defaultdict(list)
    for observation in found:
        by_place[observation.place].append(observation)
    envelopes = [
        ObservationsReported(
            producer=producer_name, client_id=client_id, observations=rows[i : i + PER_ENVELOPE]
        )
        for rows in by_place.values()
        for i in range(0, len(rows), PER_ENVELOPE)
    ]
    try:
        connected = await producer.get(within=ack_timeout)
        await asyncio.gather(
            *(publish(connected, envelope, ack_timeout=ack_timeout) for envelope in envelopes)
        )
    except BrokerUnavailable:
        raise ProblemError(
            503,
            "broker_unavailable",
            "the observations could not all be written to the network's log now. Send them "
            "again shortly: observations already written are not counted twice.",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        ) from None
    return ObservationsAccepted(
        rows=len(found),
        not_reported=sum(o.value is None for o in found),
        places=sorted(by_place),
        topic=route(envelopes[0])[0],
    )


def _row(
    index: int,
    row: dict[str, Any],
    catalogue: Mapping[str, IndicatorOut],
    claims: TokenClaims,
    status: Status,
    now: datetime,
) -> tuple[list[Problem], Observation | None]:
    where = f"rows[{index}]"
    line = row.pop("__line__", index + 1)

    def problem(column: str, code: str, message: str) -> Problem:
        return Problem(field=f"{where}.{column}", code=code, message=f"line {line}: {message}")

    unknown = sorted(set(row) - set(COLUMNS))
    if unknown:
        return [problem(unknown[0], "unknown_column", f"{unknown[0]} is not a column.")], None
    # A value may be null (not reported), but the column must be there: silence is not a report.
    missing = [c for c in REQUIRED if c not in row or (row[c] is None and c != "value")]
    if missing:
        return [problem(missing[0], "missing", f"{missing[0]} is required.")], None
    errors: list[Problem] = []
    indicator = catalogue.get(str(row["indicator"]).strip())
    if indicator is None:
        errors.append(
            problem(
                "indicator",
                "unknown_indicator",
                f"no indicator '{row['indicator']}' in the registry's catalogue.",
            )
        )
        return errors, None
    if indicator.category not in claims.categories:
        errors.append(
            problem(
                "indicator",
                "not_competent",
                f"{claims.org} holds no competence for {indicator.category}.",
            )
        )
    region = str(row["region"]).strip()
    if not region.startswith(tuple(claims.regions)):
        errors.append(
            problem(
                "region",
                "outside_regions",
                f"{claims.org} acts for {', '.join(claims.regions) or 'no region'}, "
                f"not for {region}.",
            )
        )
    unit = _text(row.get("unit"))
    if unit is not None and unit != indicator.unit:
        errors.append(
            problem(
                "unit", "wrong_unit", f"{indicator.id} is reported in {indicator.unit}, not {unit}."
            )
        )
    try:
        period = parse_period(indicator.period, str(row["period"]))
        if period.start > now:
            errors.append(problem("period", "future_period", f"{period.label} has not begun."))
    except ValueError as exc:
        errors.append(problem("period", "invalid_period", str(exc)))
        period = None
    numbers: dict[str, float | None] = {}
    for column in ("value", "numerator", "denominator"):
        try:
            numbers[column] = _number(row.get(column))
        except ValueError as exc:
            errors.append(problem(column, "not_a_number", str(exc)))
    value = numbers.get("value")
    if value is not None and not _plausible(value, indicator):
        errors.append(
            problem(
                "value",
                "implausible_value",
                f"{value} lies outside what {indicator.id} can be "
                f"({indicator.minimum} to {indicator.maximum}).",
            )
        )
    revision = _text(row.get("status")) or "new"
    if revision not in ("new", "revision"):
        errors.append(problem("status", "invalid_status", "status is new or revision."))
    if errors or period is None:
        return errors, None
    try:
        return [], Observation(
            indicator=indicator.id,
            region=region,
            station=_text(row.get("station")),
            period=period.label,
            value=value,
            numerator=numbers.get("numerator"),
            denominator=numbers.get("denominator"),
            unit=indicator.unit,
            revision=revision == "revision",
            source=claims.sender,
            status=status,
            reported_at=now,
        )
    except ValidationError as exc:  # a region or station that is no code, a negative count
        first = exc.errors()[0]
        column = str(first["loc"][0]) if first["loc"] else "row"
        return [problem(column, "invalid_value", str(first["msg"]))], None


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _number(value: Any) -> float | None:
    if value is None or (isinstance(value, str) and value.strip() in NOT_REPORTED):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{value!r} is not a number.")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"'{value}' is not a number (write - for a value not reported).") from None
    if not math.isfinite(number):
        raise ValueError(f"'{value}' is not a finite number.")
    return number


def _plausible(value: float, indicator: IndicatorOut) -> bool:
    low = indicator.minimum if indicator.minimum is not None else -math.inf
    high = indicator.maximum if indicator.maximum is not None else math.inf
    return low <= value <= high
