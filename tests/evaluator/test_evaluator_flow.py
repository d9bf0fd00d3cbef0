"""Agencies' figures raise, update and clear alerts by themselves, end to end on a real broker.

AViQ watches the 14-day rate in Liège (BE33), GGD Zuid-Limburg in Dutch Limburg (NL42), each
with the common Euregio rule (Moderate 50, Severe 150, Extreme 500; two weeks confirm a level,
two weeks below 40 the all-clear). They submit their weekly figures to the gateway; the
evaluator publishes through the gateway as each agency; the notifier delivers to the duty
officers the registry names, on their consoles and by e-mail.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from evaluator_support import recent_weeks, running_evaluator, version
from gateway_support import envelopes_on
from notifier_support import Network, network_on

from bench.signing import signer
from schemas.cap import Alert
from schemas.envelopes import AlertPublished
from schemas.observations import PeriodKind, parse_period
from schemas.provenance import Point, Provenance

AVIQ = "surveillance@aviq.example.org"
GGD = "infectieziekten@ggdzl.example.org"
WEEKS = recent_weeks(9)
LIEGE_WAVE = [20, 60, 70, 200, 210, 90, 80, 30, 20]
LIMBURG_WAVE = [10, 160, 170, 30, 20, 10, 10, None, None]
TEXTS = {
    "fr": {"event": "Indicateur épidémique", "headline": "{indicator} à {region_name} : {value}",
           "description": "{value} {unit} en {period} (seuil {threshold}, niveau {level})."},
    "nl": {"event": "Epidemische indicator", "headline": "{indicator} in {region_name}: {value}",
           "description": "{value} {unit} in {period} (drempel {threshold}, niveau {level})."},
    "de": {"event": "Epidemischer Indikator", "headline": "{indicator} in {region_name}: {value}",
           "description": "{value} {unit} in {period} (Schwelle {threshold}, Stufe {level})."},
    "en": {"event": "Epidemic indicator", "headline": "{indicator} in {region_name}: {value}",
           "description": "{value} {unit} in {period} (threshold {threshold}, level {level})."},
}  # fmt: skip


@dataclass
class Agencies:
    network: Network
    kafka: str
    auth: dict[str, dict[str, str]]
    rules: dict[str, str]
    """Sender -> the id of its rule (new in each test: the broker keeps earlier tests' alerts)."""

    async def submit(self, agency: str, rows: list[dict[str, Any]]) -> None:
        answer = await self.network.gateway.http.post(
            "/v1/observations", json=rows, headers=self.auth[agency]
        )
        assert answer.status_code == 202, answer.text

    async def alerts_of(self, sender: str, count: int, timeout: float = 60) -> list[Alert]:
        """The sender's alerts on the health topic, once there are `count` of them."""
        async with asyncio.timeout(timeout):
            while len(found := await self.said_by(sender)) < count:
                await asyncio.sleep(0.5)
        return found

    async def said_by(self, sender: str) -> list[Alert]:
        """The alerts of the sender's rule on the health topic now."""
        return [
            e.alert
            for e in await envelopes_on(self.kafka, "alerts.health")
            if isinstance(e, AlertPublished) and e.alert.sender == sender
            and e.alert.identifier.startswith(f"crossalert.{self.rules[sender]}.")
        ]  # fmt: skip


def rows(region: str, values: Sequence[float | None]) -> list[list[dict[str, Any]]]:
    """One submission per week of the wave."""
    return [
        [{"indicator": "rate-14d", "region": region, "period": week, "value": value}]
        for week, value in zip(WEEKS, values, strict=True)
    ]


@pytest.fixture
async def agencies(
    request: pytest.FixtureRequest, tmp_path: Path, kafka_bootstrap: str
) -> AsyncIterator[Agencies]:
    """The network and the evaluator; with the parameter "signed", AViQ requires its alerts
    signed by its key, which the evaluator holds."""
    async with network_on(tmp_path, kafka_bootstrap, registry_changes=True) as network:
        registry = network.registry
        auth = {
            "aviq": await registry.auth("aviq-system", "aviq-secret-123"),
            "ggd": await registry.auth("ggd-system", "ggd-secret-123"),
        }
        test = uuid.uuid4().hex[:6]
        rules = {AVIQ: f"wave-be33-{test}", GGD: f"wave-nl42-{test}"}
        # The weeks are past ones sent at once: "no data" only after a quarter of silence.
        quiet = {"texts": TEXTS, "no_data_after": "P90D"}
        for agency, rule in (
            ("aviq", version(id=rules[AVIQ], **quiet)),
            ("ggd", version(id=rules[GGD], owner="nl-ggd", regions=["NL42"], **quiet)),
        ):
            created = await registry.http.post(
                "/v1/threshold-rules", json=rule, headers=auth[agency]
            )
            assert created.status_code == 201, created.text
        signing: dict[str, Any] = {}
        if getattr(request, "param", None) == "signed":
            signing["signing_keys_dir"] = await aviq_signs(network, tmp_path / "keys")
        async with running_evaluator(
            tmp_path, kafka_bootstrap, registry, network.gateway.http, **signing
        ):
            yield Agencies(network, kafka_bootstrap, auth, rules)


async def aviq_signs(network: Network, keys: Path) -> Path:
    """AViQ's key kept where the evaluator reads it, its certificate registered with AViQ
    under the policy require; the directory."""
    aviq = signer("AViQ surveillance")
    aviq.keep_in(keys, "be-aviq")
    admin = await network.registry.auth("admin", "admin-secret-123")
    url = "/v1/organisations/be-aviq"
    record = await network.registry.http.get(url, headers=admin)
    body = {k: v for k, v in record.json().items() if k != "version"}
    changed = await network.registry.http.put(
        url,
        json={
            **body,
            "signature_policy": "require",
            "signing_keys": [aviq.registered().model_dump()],
        },
        headers={**admin, "If-Match": record.headers["ETag"]},
    )
    assert changed.status_code == 200, changed.text
    return keys


def mailed_to(agencies: Agencies, address: str) -> list[Any]:
    return [m for m in agencies.network.smtp.messages if address in str(m["To"])]


def summary(alerts: list[Alert]) -> list[tuple[str, str]]:
    return [(a.msg_type.value, a.info[0].severity.value) for a in alerts]


async def test_an_epidemic_wave_raises_one_chain_per_region_in_every_language(
    agencies: Agencies,
) -> None:
    nccn = await agencies.network.console("be-nccn-duty")
    for liege, limburg in zip(rows("BE33", LIEGE_WAVE), rows("NL42", LIMBURG_WAVE), strict=True):
        await agencies.submit("aviq", liege)
        await agencies.submit("ggd", limburg)

    liege_chain = await agencies.alerts_of(AVIQ, 4)
    limburg_chain = await agencies.alerts_of(GGD, 2)

    # Liège: Moderate confirmed in week 3, Severe in week 5, back to Moderate in week 7, the
    # all-clear after two weeks below 40 (weeks 8 and 9).
    assert summary(liege_chain) == [
        ("Alert", "Moderate"), ("Update", "Severe"), ("Update", "Moderate"), ("Cancel", "Moderate"),
    ]  # fmt: skip
    # Limburg: Severe confirmed in week 3, all-clear in week 5; unreported weeks say nothing.
    assert summary(limburg_chain) == [("Alert", "Severe"), ("Cancel", "Severe")]
    for chain in (liege_chain, limburg_chain):
        for earlier, later in itertools.pairwise(chain):
            assert [(r.sender, r.identifier) for r in later.references] == [
                (earlier.sender, earlier.identifier)
            ]
        for alert in chain:
            assert {info.language for info in alert.info} == {"fr", "nl", "de", "en"}
            assert alert.scope.value == "Restricted"
    alert, severe, _, cancel = liege_chain
    french = {info.language: info for info in alert.info}["fr"]
    assert french.headline == "Taux d'incidence sur 14 jours à Liège : 70"
    assert french.description == (
        f"70 per 100 000 in 14 days en {WEEKS[2]} (seuil 50, niveau modéré)."
    )
    assert french.area[0].geocode[0].value == "BE33"
    german_cancel = {info.language: info for info in cancel.info}["de"]
    assert (german_cancel.description or "").startswith("ENTWARNUNG")
    provenance = Provenance.of(severe.info[0].parameter)
    assert provenance is not None
    assert (provenance.rule, provenance.rule_version) == (agencies.rules[AVIQ], 1)
    assert provenance.observed.value == 210 and provenance.threshold == 150
    assert [p.value for p in provenance.confirmed_by] == [200, 210]
    assert [p.value for p in provenance.series] == LIEGE_WAVE[:5]

    # The registry names the national crisis centre for Liège's health alerts: its duty officer
    # sees the whole chain on the console, and its desk gets each message by e-mail.
    report = await agencies.network.report(alert.model_dump(), agencies.auth["aviq"])
    assert report.status_code == 200, report.text
    reached = {d["contact_point"] for d in report.json()["deliveries"]}
    assert "be-nccn-duty" in reached
    identifiers = {a.identifier for a in liege_chain}
    await nccn.wait_for(
        lambda c: identifiers <= {key[1] for key in c.shown()}, what="Liège's chain shown"
    )
    async with asyncio.timeout(30):
        while len(to_nccn := mailed_to(agencies, "duty@nccn.example.org")) < len(identifiers):
            await asyncio.sleep(0.2)
    assert len(to_nccn) == len(identifiers)
    await nccn.disconnect()


@pytest.mark.parametrize("agencies", ["signed"], indirect=True)
async def test_an_agency_whose_key_the_evaluator_holds_has_its_alerts_signed_and_verified(
    agencies: Agencies,
) -> None:
    for week in rows("BE33", LIEGE_WAVE):
        await agencies.submit("aviq", week)

    chain = await agencies.alerts_of(AVIQ, 4)

    # AViQ requires its alerts signed: the whole chain got through, each signed by its key.
    identifiers = {alert.identifier for alert in chain}
    verdicts = [
        e.signature
        for e in await envelopes_on(agencies.kafka, "alerts.health")
        if isinstance(e, AlertPublished) and e.alert.identifier in identifiers
    ]
    assert len(verdicts) == 4
    for verdict in verdicts:
        assert verdict is not None and verdict.status == "verified"
        assert [(c.outcome, c.signer) for c in verdict.signatures] == [
            ("verified", "AViQ surveillance")
        ]


async def test_shuffled_and_repeated_rows_give_the_alerts_of_the_clean_series(
    agencies: Agencies,
) -> None:
    clean = [row for week in rows("BE33", LIEGE_WAVE) for row in week]
    shuffled = clean + random.Random(7).sample(clean, 4)  # duplicates among them
    random.Random(11).shuffle(shuffled)

    await agencies.submit("aviq", shuffled)

    chain = await agencies.alerts_of(AVIQ, 4)
    await asyncio.sleep(2)  # nothing more follows
    chain = await agencies.alerts_of(AVIQ, 4)
    assert summary(chain) == [
        ("Alert", "Moderate"), ("Update", "Severe"), ("Update", "Moderate"), ("Cancel", "Moderate"),
    ]  # fmt: skip


async def test_a_revision_withdrawing_the_crossing_cancels_the_alert_saying_so(
    agencies: Agencies,
) -> None:
    weeks = rows("BE33", [20, 20, 20, 20, 20, 20, 20, 60, 70])
    for week in weeks:
        await agencies.submit("aviq", week)
    [alert] = await agencies.alerts_of(AVIQ, 1)
    assert summary([alert]) == [("Alert", "Moderate")]

    revised = [dict(weeks[-1][0], value=45, status="revision")]
    await agencies.submit("aviq", revised)

    alert, cancel = await agencies.alerts_of(AVIQ, 2)
    assert summary([cancel]) == [("Cancel", "Moderate")]
    english = {info.language: info for info in cancel.info}["en"]
    assert (english.description or "").startswith("REVISED")
    provenance = Provenance.of(english.parameter)
    assert provenance is not None and provenance.reason == "revised"


async def own_rule(agencies: Agencies, **changes: Any) -> dict[str, Any]:
    """A new AViQ rule on the German-speaking Community (BE336), which the wave rules leave
    alone; its alerts are the ones `alerts_of(AVIQ, …)` looks for from now on."""
    rule = version(
        **{"id": f"district-{uuid.uuid4().hex[:6]}", "regions": ["BE336"], "texts": TEXTS,
           "no_data_after": "P90D"} | changes
    )  # fmt: skip
    created = await agencies.network.registry.http.post(
        "/v1/threshold-rules", json=rule, headers=agencies.auth["aviq"]
    )
    assert created.status_code == 201, created.text
    agencies.rules[AVIQ] = rule["id"]
    return rule | {"etag": created.headers["ETag"]}


def district(values: Sequence[float | None], numerators: Sequence[float] = ()) -> list[Any]:
    """One submission of weekly BE336 rates (and their case counts, when given)."""
    found = []
    for week, value, numerator in itertools.zip_longest(WEEKS, values, numerators):
        if value is not None:
            row = {"indicator": "rate-14d", "region": "BE336", "period": week, "value": value}
            found.append(row | ({"numerator": numerator} if numerator is not None else {}))
    return found


async def test_a_new_version_judges_the_periods_from_its_effective_date(
    agencies: Agencies,
) -> None:
    rule = await own_rule(agencies)
    await agencies.submit("aviq", district([35] * 9))
    await asyncio.sleep(3)  # under version 1 (Moderate from 50), 35 says nothing
    assert await agencies.said_by(AVIQ) == []

    # AViQ lowers the first level to 30 from the start of the seventh week: that week and the
    # next confirm it; the weeks before stay judged by version 1.
    effective = parse_period(PeriodKind.ISO_WEEK, WEEKS[6]).start
    changed = {k: v for k, v in rule.items() if k not in ("id", "etag")} | {
        "effective_from": effective.isoformat(),
        "levels": [
            {"severity": "Moderate", "threshold": 30},
            {"severity": "Severe", "threshold": 150},
            {"severity": "Extreme", "threshold": 500},
        ],
        "recovery_level": 20,
    }
    put = await agencies.network.registry.http.put(
        f"/v1/threshold-rules/{rule['id']}",
        json=changed | {"id": rule["id"]},
        headers=agencies.auth["aviq"] | {"If-Match": rule["etag"]},
    )
    assert put.status_code == 200, put.text

    [alert] = await agencies.alerts_of(AVIQ, 1)  # no new figure: the change replays the series
    assert summary([alert]) == [("Alert", "Moderate")]
    provenance = Provenance.of(alert.info[0].parameter)
    assert provenance is not None
    assert (provenance.rule_version, provenance.threshold) == (2, 30)
    assert [p.period for p in provenance.confirmed_by] == WEEKS[6:8]


async def test_silence_is_said_as_no_data_never_as_an_all_clear_and_the_return_too(
    agencies: Agencies,
) -> None:
    await own_rule(agencies, no_data_after="P14D")
    await agencies.submit("aviq", district([60, 70, 70, 70]))  # then nothing for five weeks

    alert, silent = await agencies.alerts_of(AVIQ, 2)
    assert summary([alert, silent]) == [("Alert", "Moderate"), ("Update", "Moderate")]
    said = Provenance.of(silent.info[0].parameter)
    assert said is not None and (said.reason, said.state) == ("no data", "no data")

    await agencies.submit("aviq", district([None] * 7 + [80, 90]))  # the last two weeks

    *_, back = await agencies.alerts_of(AVIQ, 3)
    assert summary([back]) == [("Update", "Moderate")]
    resumed = Provenance.of(back.info[0].parameter)
    assert resumed is not None and resumed.reason == "data resumed"
    assert resumed.observed == Point(period=WEEKS[7], value=80)  # the first figure back
    await asyncio.sleep(2)
    assert len(await agencies.said_by(AVIQ)) == 3  # no all-clear, nothing twice


async def test_too_few_cases_raise_nothing_however_high_the_rate(agencies: Agencies) -> None:
    # "No alarm with fewer than 10 cases in 2 weeks": a rate of 80 on 2 cases a week is noise.
    await own_rule(agencies, gate={"min_count": 10, "over_periods": 2})

    await agencies.submit("aviq", district([80] * 9, [2, 2, 2, 2, 2, 2, 2, 8, 8]))

    [alert] = await agencies.alerts_of(AVIQ, 1)
    assert summary([alert]) == [("Alert", "Moderate")]
    provenance = Provenance.of(alert.info[0].parameter)
    assert provenance is not None
    # Only weeks 8 (2 + 8 cases) and 9 (8 + 8) pass the gate, and they confirm the level.
    assert [p.period for p in provenance.confirmed_by] == WEEKS[7:9]
