"""A threshold-raised alert's provenance in the console's detail view, in real Chromium: the
observed value beside the threshold and the words for why, and a chart of the recent series.

The alert's provenance is written by the contract's own `Provenance.parameters()`, the feed item
by the contract's models, and the detail view rendered by the console's own modules in the page
served under its policy.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from gateway_support import flood_alert
from playwright.async_api import ConsoleMessage, Locator, expect

from console.console_support import ARTIFACTS, OfficerPage, item_json
from schemas.cap import NamedValue, Severity, validate_alert
from schemas.provenance import PREFIX, SERIES_PERIODS, LevelMark, Point, Provenance
from schemas.registry import Reason
from schemas.thresholds import Direction

RULE = "euregio-combined-indicator-be33"
UNIT = "per 100 000 inhabitants"
HOSTILE = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script><b>bold</b>'
WEEKS = [f"2026-W{week:02d}" for week in range(3, 15)]
VALUES: list[float | None] = [120, 135, 142, None, 170, 190, 215, 238, 247, 244, 260, 312.5]
"""2026-W03 … 2026-W14: 2026-W06 not reported."""

RENDER = """async (item) => {
    const { AlertStore } = await import("/console/static/js/store.js");
    const { renderDetail } = await import("/console/static/js/views.js");
    const store = new AlertStore();
    store.apply(item);
    const view = store.views()[0];
    const nothing = () => {};
    const ctx = {
        me: { contact_point: "liege-crisis" }, now: new Date(), selected: view.chain,
        unseen: new Set(), acking: new Set(), ackErrors: new Map(), reports: new Map(),
        noteDrafts: new Map(),
        languageOf: () => ({ language: item.alert.info[0].language, missing: false }),
        actions: {
            open: nothing, close: nothing, acknowledge: nothing, setLanguage: nothing,
            loadReport: nothing,
        },
    };
    document.getElementById("login-dialog").close();
    const holder = document.createElement("section");
    holder.id = "harness";
    holder.className = "detail-pane";
    holder.append(renderDetail(view, ctx));
    document.body.append(holder);
}"""


@pytest.fixture
async def tab(page: OfficerPage) -> AsyncIterator[OfficerPage]:
    """The console tab, failing the test on any error the page logs as well."""
    errors: list[str] = []

    def logged(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.page.on("console", logged)
    yield page
    assert errors == []


def provenance(**changes: Any) -> Provenance:
    """The provenance of Liège's epidemic alert: 312.5 in 2026-W14, above Severe (250)."""
    fields: dict[str, Any] = {
        "rule": RULE,
        "rule_version": 2,
        "reason": "confirmed",
        "state": "alerting",
        "indicator": "rate-14d",
        "unit": UNIT,
        "direction": Direction.ABOVE,
        "observed": Point(period="2026-W14", value=312.5),
        "threshold": 250,
        "levels": [
            LevelMark(severity=Severity.MODERATE, threshold=150),
            LevelMark(severity=Severity.SEVERE, threshold=250),
            LevelMark(severity=Severity.EXTREME, threshold=500),
        ],
        "recovery_level": 120,
        "confirmed_by": [
            Point(period="2026-W13", value=260),
            Point(period="2026-W14", value=312.5),
        ],
        "series": [Point(period=w, value=v) for w, v in zip(WEEKS, VALUES, strict=True)],
    }
    return Provenance(**(fields | changes))


def health_item(parameters: list[NamedValue], *, identifier: str = "BE-LG-EPI-1") -> dict[str, Any]:
    """A feed item of a health alert for Liège whose info carries `parameters`."""
    alert = flood_alert(identifier)
    alert["info"][0] |= {
        "category": ["Health"],
        "event": "Indicateur épidémique",
        "headline": "Taux de notification au-dessus du seuil en province de Liège",
        "parameter": [
            {"valueName": "crossalert:hazard", "value": "epidemic"},
            *(p.model_dump(mode="json") for p in parameters),
        ],
    }
    reason = Reason(kind="area", region="BE33", detail="Your organisation acts for BE33.")
    return item_json(validate_alert(alert), [reason])


def with_values(parameters: list[NamedValue], values: dict[str, str | None]) -> list[NamedValue]:
    """The parameters with some values replaced (by name without the prefix), None left out."""
    replaced = {PREFIX + name: value for name, value in values.items()}
    kept = []
    for parameter in parameters:
        value = replaced.get(parameter.value_name, parameter.value)
        if value is not None:
            kept.append(NamedValue(value_name=parameter.value_name, value=value))
    return kept


async def show(tab: OfficerPage, item: dict[str, Any]) -> Locator:
    """The detail view of `item`, rendered by the console's modules into the page."""
    await tab.evaluate(RENDER, item)
    detail = tab.page.locator("#harness article.detail")
    await expect(detail).to_be_visible()
    return detail


async def numbers(chart: Locator, selector: str, attribute: str) -> list[float]:
    """An attribute of every element `selector` finds in the chart, as numbers (SVG geometry)."""
    return [
        float(v)
        for v in await chart.locator(selector).evaluate_all(
            f"(els) => els.map((el) => el.getAttribute('{attribute}'))"
        )
    ]


async def test_a_threshold_raised_alert_shows_its_figures_beside_the_threshold_and_a_chart(
    tab: OfficerPage,
) -> None:
    detail = await show(tab, health_item(provenance().parameters()))

    block = detail.locator('[data-role="provenance"]')
    await expect(block.locator('[data-role="provenance-observed"]')).to_have_text(
        f"312.5 {UNIT} in 2026-W14 — threshold 250 (Severe)"
    )
    await expect(block.locator('[data-role="rule"]')).to_have_text(f"{RULE}, version 2")
    await expect(block.locator('[data-role="provenance-reason"]')).to_contain_text("Confirmed")
    await expect(block.locator('[data-role="confirmed-by"]')).to_have_text(
        "2026-W13 (260), 2026-W14 (312.5)"
    )
    await expect(block).to_have_attribute("lang", "en")

    chart = block.get_by_role("img", name="Recent values of rate-14d against the rule’s levels")
    await expect(chart).to_have_count(1)
    description = await chart.locator("desc").text_content()
    assert description is not None
    assert "2026-W03 to 2026-W14" in description
    assert "not reported in 2026-W06" in description
    assert "confirmed by 2026-W13, 2026-W14" in description
    assert await chart.get_attribute("aria-describedby") == await chart.locator(
        "desc"
    ).get_attribute("id")

    levels = chart.locator('[data-role="level"]')
    await expect(levels).to_have_count(3)
    assert [await level.get_attribute("data-severity") for level in await levels.all()] == [
        "Moderate",
        "Severe",
        "Extreme",
    ]
    await expect(chart.locator('[data-role="level"].current')).to_have_attribute(
        "data-severity", "Severe"
    )
    await expect(chart.locator('[data-role="recovery"]')).to_have_count(1)
    await expect(chart.locator("text.level-label")).to_have_text(
        ["Moderate 150", "Severe 250", "Extreme 500", "Recovery 120"]
    )

    points = chart.locator('[data-role="point"]')
    reported = [w for w, v in zip(WEEKS, VALUES, strict=True) if v is not None]
    await expect(points).to_have_count(len(reported))
    assert [await p.get_attribute("data-period") for p in await points.all()] == reported
    await expect(chart.locator('[data-role="gap"]')).to_have_attribute("data-period", "2026-W06")
    # Broken at the gap: 2026-W03 to W05, then 2026-W07 to W14.
    segments = chart.locator('[data-role="segment"]')
    await expect(segments).to_have_count(2)
    runs = [len((await s.get_attribute("points") or "").split()) for s in await segments.all()]
    assert runs == [3, 8]
    await expect(chart.locator(".point.confirming")).to_have_count(2)
    await expect(chart.locator("rect.confirm-band")).to_have_count(2)

    # Drawn where the values are: left to right in time, above a level exactly when beyond it.
    xs = await numbers(chart, '[data-role="point"]', "cx")
    ys = await numbers(chart, '[data-role="point"]', "cy")
    level_ys = await numbers(chart, '[data-role="level"]', "y1")
    assert xs == sorted(xs) and len(set(xs)) == len(xs)
    values = [v for v in VALUES if v is not None]
    for level_y, threshold in zip(level_ys, (150, 250, 500), strict=True):
        assert [y < level_y for y in ys] == [v > threshold for v in values]

    for role, text in [
        ("axis-first", "2026-W03"),
        ("axis-last", "2026-W14"),
        ("axis-low", "100"),
        ("axis-high", "500"),
    ]:
        await expect(chart.locator(f'[data-role="{role}"]')).to_have_text(text)

    # The provenance's parameters are not repeated in the table; the others still are.
    table = detail.locator('[data-role="parameters"]')
    await expect(table).to_contain_text("crossalert:hazard")
    await expect(table).not_to_contain_text("crossalert:rule")
    sent = detail.locator('[data-role="provenance-parameters"]')
    await expect(sent).not_to_have_attribute("open", "")
    await expect(sent.locator("summary")).to_have_text("Provenance parameters as sent (13)")
    assert await tab.poor_contrast() == []
    await block.screenshot(path=ARTIFACTS / "14-threshold-provenance.png")


async def test_no_data_reads_as_figures_stopped_and_never_as_an_all_clear(
    tab: OfficerPage,
) -> None:
    silent = provenance(
        reason="no data",
        state="no data",
        observed=Point(period="2026-W12", value=247),
        confirmed_by=[],
        series=[
            *(Point(period=w, value=v) for w, v in zip(WEEKS[:-2], VALUES[:-2], strict=True)),
            Point(period="2026-W13", value=None),
            Point(period="2026-W14", value=None),
        ],
    )

    detail = await show(tab, health_item(silent.parameters()))

    block = detail.locator('[data-role="provenance"]')
    reason = block.locator('[data-role="provenance-reason"]')
    await expect(reason).to_have_attribute("data-reason", "no data")
    await expect(reason).to_contain_text("figures have stopped arriving")
    await expect(reason).to_contain_text("not an all-clear")
    await expect(block).not_to_contain_text("Recovered")
    await expect(block.locator('[data-role="provenance-observed"]')).to_have_text(
        f"Last reported: 247 {UNIT} in 2026-W12 — threshold 250 (Severe)"
    )
    await expect(block.locator("dd", has_text=re.compile(r"^No data$"))).to_have_count(1)
    gaps = block.locator('[data-role="gap"]')
    await expect(gaps).to_have_count(3)
    assert [await g.get_attribute("data-period") for g in await gaps.all()] == [
        "2026-W06",
        "2026-W13",
        "2026-W14",
    ]


async def test_an_alert_without_provenance_shows_neither_block_nor_chart(tab: OfficerPage) -> None:
    # Some of the family without a rule is not a provenance: shown as sent, like any parameter.
    series_only = [p for p in provenance().parameters() if p.value_name == "crossalert:series"]

    detail = await show(tab, health_item(series_only))

    await expect(detail.locator('[data-role="provenance"]')).to_have_count(0)
    await expect(detail.locator("svg.trend")).to_have_count(0)
    await expect(detail.locator('[data-role="provenance-parameters"]')).to_have_count(0)
    table = detail.locator('[data-role="parameters"]')
    await expect(table).to_contain_text("crossalert:hazard")
    await expect(table).to_contain_text("crossalert:series")


async def test_markup_in_the_provenance_is_shown_as_text_and_runs_nothing(
    tab: OfficerPage,
) -> None:
    hostile = provenance(
        unit=HOSTILE,
        indicator=HOSTILE,
        rule=HOSTILE,
        observed=Point(period=HOSTILE, value=312.5),
        confirmed_by=[Point(period=HOSTILE, value=312.5)],
        series=[Point(period="2026-W13", value=260), Point(period=HOSTILE, value=312.5)],
    )

    detail = await show(tab, health_item(hostile.parameters()))

    block = detail.locator('[data-role="provenance"]')
    await expect(block.locator('[data-role="provenance-observed"]')).to_have_text(
        f"312.5 {HOSTILE} in {HOSTILE} — threshold 250 (Severe)"
    )
    await expect(block.locator('[data-role="rule"]')).to_have_text(f"{HOSTILE}, version 2")
    chart = block.locator("svg.trend")
    assert HOSTILE in (await chart.locator("desc").text_content() or "")
    await expect(chart.locator('[data-role="point"]').last).to_have_attribute(
        "data-period", HOSTILE
    )
    await expect(chart.locator('[data-role="axis-last"]')).to_have_text(HOSTILE[:17] + "…")
    assert await tab.evaluate("() => window.pwned") is None
    made = tab.page.locator("#harness img, #harness script, #harness b")
    await expect(made).to_have_count(0)


NAMES = [p.value_name.removeprefix(PREFIX) for p in provenance().parameters()]
MALFORMED: dict[str, tuple[dict[str, str | None], list[str], bool]] = {
    # case: (values replaced, the names said to be unreadable, whether a chart is drawn)
    "garbage in the series": (
        {"series": "2026-W03 abc; nonsense; 2026-W05 12"},
        ["series"],
        False,
    ),
    "unknown severities": ({"levels": "Catastrophic 9000; Severe"}, ["levels"], True),
    "numbers that are not": (
        {"observed": "312.5", "threshold": "lots", "recovery-level": "0x78", "rule-version": "0"},
        ["rule-version", "observed", "threshold", "recovery-level"],
        True,
    ),
    "a rule and nothing else": (
        dict.fromkeys(NAMES[1:]),
        [name for name in NAMES[1:] if name not in ("confirmed-by", "series")],
        False,
    ),
    "values no chart can span": (
        {"series": "2026-W01 1e308; 2026-W02 -1e308", "levels": "Severe 1e308"},
        [],
        False,
    ),
    "nothing reported": ({"series": "2026-W13 -; 2026-W14 -"}, [], False),
}


@pytest.mark.parametrize(("values", "unreadable", "drawn"), MALFORMED.values(), ids=MALFORMED)
async def test_malformed_provenance_is_named_as_such_and_breaks_nothing(
    tab: OfficerPage, values: dict[str, str | None], unreadable: list[str], drawn: bool
) -> None:
    parameters = with_values(provenance().parameters(), values)

    detail = await show(tab, health_item(parameters))

    await expect(detail.locator('[data-role="detail-headline"]')).to_have_text(
        "Taux de notification au-dessus du seuil en province de Liège"
    )
    block = detail.locator('[data-role="provenance"]')
    await expect(block).to_contain_text(RULE)
    await expect(block.locator("svg.trend")).to_have_count(1 if drawn else 0)
    await expect(block.locator('[data-role="provenance-no-chart"]')).to_have_count(
        0 if drawn else 1
    )
    if drawn and "levels" in unreadable:
        await expect(block.locator('[data-role="level"]')).to_have_count(0)
    problem = block.locator('[data-role="provenance-problem"]')
    await expect(problem).to_have_count(1 if unreadable else 0)
    said = (await problem.text_content() or "") if unreadable else ""
    assert sorted(re.findall(r"crossalert:([a-z-]+)", said)) == sorted(unreadable)
    sent = detail.locator('[data-role="provenance-parameters"]')
    if unreadable:
        await expect(sent).to_have_attribute("open", "")
    else:
        await expect(sent).not_to_have_attribute("open", "")


async def test_the_console_reads_every_parameter_the_contract_writes(tab: OfficerPage) -> None:
    written = provenance()
    twenty = "; ".join(f"2026-W{week:02d} {week}" for week in range(1, 21))

    read = await tab.evaluate(
        """async ([parameters, longer]) => {
            const p = await import("/console/static/js/provenance.js");
            return {
                names: p.NAMES.map((name) => p.PREFIX + name),
                periods: p.SERIES_PERIODS,
                read: p.readProvenance(parameters),
                longer: p.readProvenance(longer).series.map((point) => point.period),
            };
        }""",
        [
            [p.model_dump(mode="json") for p in written.parameters()],
            [
                p.model_dump(mode="json")
                for p in with_values(written.parameters(), {"series": twenty})
            ],
        ],
    )

    assert read["names"] == [p.value_name for p in written.parameters()]
    assert read["periods"] == SERIES_PERIODS
    held = read["read"]
    assert held["unreadable"] == []
    assert (held["rule"], held["ruleVersion"], held["reason"]) == (RULE, "2", "confirmed")
    assert (held["state"], held["indicator"], held["unit"]) == ("alerting", "rate-14d", UNIT)
    assert (held["direction"], held["threshold"]["value"]) == ("above", 250)
    assert held["observed"] == {"period": "2026-W14", "value": 312.5, "text": "312.5"}
    assert [(m["severity"], m["value"]) for m in held["levels"]] == [
        (m.severity.value, m.threshold) for m in written.levels
    ]
    assert held["recoveryLevel"]["value"] == written.recovery_level
    assert [(p["period"], p["value"]) for p in held["confirmedBy"]] == [
        (p.period, p.value) for p in written.confirmed_by
    ]
    assert [(p["period"], p["value"]) for p in held["series"]] == [
        (p.period, p.value) for p in written.series
    ]
    assert read["longer"] == [f"2026-W{week:02d}" for week in range(5, 21)]
