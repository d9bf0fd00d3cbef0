"""Threshold rules and series for the evaluator's tests, written the way agencies think of them."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from gateway_support import envelopes_on
from registry_support import Registry

from schemas.cap import Alert
from schemas.envelopes import AlertPublished
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


WAVES = {  # three places of Wallonia AViQ acts for; the chain each calls for, week by week
    "BE3": ([20, 60, 70, 200, 210, 90, 80, 30, 20],
            [("Alert", "Moderate"), ("Update", "Severe"), ("Update", "Moderate"),
             ("Cancel", "Moderate")]),
    "BE33": ([60, 70, 600, 650, 700, 30, 20, 20, 20],
             [("Alert", "Moderate"), ("Update", "Extreme"), ("Cancel", "Extreme")]),
    "BE336": ([10, 160, 170, 180, 190, 200, 210, 220, 230],
              [("Alert", "Severe")]),
}  # fmt: skip
"""An epidemic wave of `version()`'s indicator over the weeks `recent_weeks(WAVE_WEEKS)`."""
WAVE_WEEKS = 9
WAVE_MESSAGES = sum(len(chain) for _, chain in WAVES.values())


def wave_week(weeks: Sequence[str], week: int) -> list[dict[str, Any]]:
    """The observations of `WAVES`' week number `week`, as the agency submits them."""
    return [
        {"indicator": "rate-14d", "region": region, "period": weeks[week], "value": values[week]}
        for region, (values, _) in WAVES.items()
    ]


async def threshold_alerts(kafka: str, rule_id: str) -> list[Alert]:
    """The alerts the evaluator published on the broker for the rule `rule_id`, in order."""
    return [
        e.alert
        for e in await envelopes_on(kafka, "alerts.health")
        if isinstance(e, AlertPublished) and e.alert.identifier.startswith(f"crossalert.{rule_id}.")
    ]


def check_chains(alerts: Sequence[Alert]) -> None:
    """Each message `WAVES` calls for published once, each place's in its chain."""
    assert len({a.identifier for a in alerts}) == len(alerts), "a message published twice"
    for region, (_, chain) in WAVES.items():
        of_place = [a for a in alerts if a.info[0].area[0].geocode[0].value == region]
        assert [(a.msg_type.value, a.info[0].severity.value) for a in of_place] == chain, region
        for earlier, later in itertools.pairwise(of_place):
            assert [r.identifier for r in later.references] == [earlier.identifier], region
