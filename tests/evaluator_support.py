"""Threshold rules and series for the evaluator's tests, written the way agencies think of them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from registry_support import Registry

from schemas.observations import PeriodKind, parse_period
from schemas.thresholds import ThresholdRule, ThresholdRuleVersion
from services.evaluator.app import create_app
from services.evaluator.engine import Reading
from services.evaluator.settings import EvaluatorSettings

TEXTS = {
    lang: {
        "event": f"[{lang}] epidemic indicator",
        "headline": f"[{lang}] {{indicator}} in {{region_name}}: {{value}} {{unit}} ({{level}})",
        "description": f"[{lang}] {{value}} {{unit}} in {{period}}, threshold {{threshold}}.",
    }
    for lang in ("fr", "nl", "de", "en")
}
START = datetime(2026, 1, 5, tzinfo=UTC)  # the Monday of 2026-W02


def version(**changes: Any) -> dict[str, Any]:
    """A rule version as an agency writes it: ECDC-style weekly rate, Moderate/Severe/Extreme."""
    rule: dict[str, Any] = {
        "id": "euregio-rate",
        "owner": "be-aviq",
        "agreement": "euregio-health",
        "event_codes": ["epidemic.indicator"],
        "effective_from": "2025-01-01T00:00:00+00:00",
        "indicator": "rate-14d",
        "regions": ["BE33"],
        "direction": "above",
        "levels": [
            {"severity": "Moderate", "threshold": 50},
            {"severity": "Severe", "threshold": 150},
            {"severity": "Extreme", "threshold": 500},
        ],
        "confirm": {"periods": 2},
        "recovery_level": 40,
        "recovery_periods": 2,
        "no_data_after": "P21D",
        "texts": TEXTS,
    }
    rule.update(changes)
    return rule


def rule_of(*versions: dict[str, Any]) -> ThresholdRule:
    """A stored rule with these versions (numbered in order)."""
    stored = [
        ThresholdRuleVersion.model_validate(
            v | {"version": n, "created_at": START, "created_by": "be-aviq-system"}
        )
        for n, v in enumerate(versions, start=1)
    ]
    return ThresholdRule(id=stored[0].id, owner=stored[0].owner, versions=stored)


def weeks(values: Sequence[float | None], *, first: int = 2, year: int = 2026) -> list[Reading]:
    """Weekly readings from week `first` on (None: not reported)."""
    return [
        Reading(parse_period(PeriodKind.ISO_WEEK, _week(year, first + n)), value)
        for n, value in enumerate(values)
    ]


def _week(year: int, number: int) -> str:
    monday = date.fromisocalendar(year, 1, 1) + timedelta(weeks=number - 1)
    iso = monday.isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


def readings_of(indicator: str, series: Sequence[Reading]) -> dict[str, dict[str, Reading]]:
    """The place's readings of one indicator, by period label."""
    return {indicator: {r.period.label: r for r in series}}


def soon_after(series: Sequence[Reading]) -> datetime:
    """A moment right after the series' last period (no data would not be due yet)."""
    return max(r.period.end for r in series) + timedelta(hours=1)


@asynccontextmanager
async def running_evaluator(
    state: Path, kafka: str, registry: Registry, gateway: httpx.AsyncClient, **settings: Any
) -> AsyncIterator[FastAPI]:
    """The evaluator in this process, reading only observations reported from now on."""
    settings.setdefault(
        "database_url", f"sqlite+aiosqlite:///{state / f'evaluator-{uuid.uuid4().hex[:6]}.sqlite3'}"
    )
    settings.setdefault("consumer_group", f"evaluator-{uuid.uuid4().hex[:8]}")
    settings.setdefault("consumer_start", "latest")
    app = create_app(
        EvaluatorSettings(
            kafka_bootstrap_servers=kafka,
            registry_url="http://registry",
            registry_client_id="evaluator",
            registry_client_secret="evaluator-secret-123",
            log_format="json",
            outbox_retry_seconds=0.2,
            **settings,
        ),
        registry_client=registry.http,
        gateway_client=gateway,
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://evaluator") as http:
            async with asyncio.timeout(60):
                while (await http.get("/readyz")).status_code != 200:
                    await asyncio.sleep(0.1)
        yield app


def recent_weeks(count: int) -> list[str]:
    """The labels of the `count` ISO weeks before the current one, oldest first."""
    today = datetime.now(UTC).date()
    labels = []
    for back in range(count, 0, -1):
        iso = (today - timedelta(weeks=back)).isocalendar()
        labels.append(f"{iso.year}-W{iso.week:02d}")
    return labels
