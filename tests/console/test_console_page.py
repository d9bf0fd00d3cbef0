"""The console page on its own, in real Chromium: served locally under a strict policy, and the
logic its modules hold (one view per message, filters in the URL, languages, the map's regions).

The page is served by the console's router in a real HTTP server; the feed items are made by
the contract's own models, so the page reads exactly what the notifier sends.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from gateway_support import flood_alert
from playwright.async_api import Browser, expect

from console.console_support import OfficerPage, console_app
from schemas.cap import validate_alert
from schemas.console import FeedItem, ItemKind
from schemas.envelopes import AlertKey
from schemas.registry import Reason

ROOT = Path(__file__).parents[2]
SEED = ROOT / "services" / "registry" / "seed" / "benelux_greater_region.yaml"


def item(
    seq: int,
    identifier: str,
    *,
    kind: ItemKind = ItemKind.ALERT,
    state: str = "active",
    chain: str | None = None,
    replaces: tuple[str, ...] = (),
    closes: tuple[str, ...] = (),
    exercise: bool = False,
    **changes: Any,
) -> dict[str, Any]:
    """A feed item as the notifier writes it, for a Liège flood alert."""
    earlier = flood_alert()
    references = [f"{earlier['sender']},{r},{earlier['sent']}" for r in (*replaces, *closes)]
    if references:
        changes.setdefault("references", references)
    alert = validate_alert(flood_alert(identifier, **changes))

    def key(identifier: str) -> AlertKey:
        return AlertKey(sender=alert.sender, identifier=identifier)

    feed_item = FeedItem(
        seq=seq,
        kind=kind,
        key=key(identifier),
        chain=key(chain or identifier),
        alert=alert,
        exercise=exercise,
        state=state,
        language="fr-BE",
        language_available=True,
        reasons=[Reason(kind="area", region="BE33", detail="Your organisation acts for BE33.")],
        replaces=[key(r) for r in replaces],
        closes=[key(c) for c in closes],
    )
    return dict(json.loads(feed_item.model_dump_json()))


async def test_the_page_is_served_with_a_strict_policy_and_fetches_nothing_elsewhere(
    page: OfficerPage, base_url: str
) -> None:
    async with httpx.AsyncClient(base_url=base_url) as http:
        answer = await http.get("/console")
        slash = await http.get("/console/?severity=Severe")
        head = await http.head("/console/static/js/main.js")
    policy = answer.headers["content-security-policy"]

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in policy
    assert "script-src 'self';" in policy
    assert "unsafe" not in policy
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert head.status_code == 200
    assert head.headers["content-type"] == "text/javascript; charset=utf-8"
    assert slash.status_code == 308
    assert slash.headers["location"] == "/console?severity=Severe"
    await expect(page.page.locator("#login-dialog")).to_be_visible()
    await expect(page.page.locator("#connection")).to_contain_text("Not connected")
    # The page fixture fails the test on any script error, policy violation or foreign request.


async def test_the_browser_gets_the_security_headers_and_refuses_to_frame_the_console(
    browser: Browser, base_url: str
) -> None:
    context = await browser.new_context()
    try:
        tab = await context.new_page()
        loaded = await tab.goto(f"{base_url}/console")
        assert loaded is not None
        headers = await loaded.all_headers()
        framing = await context.new_page()
        async with framing.expect_console_message(
            lambda message: "frame-ancestors" in message.text
        ) as refusal:
            await framing.set_content(f'<iframe src="{base_url}/console"></iframe>')
        refused = (await refusal.value).text
        framed = framing.frames[-1]
        framed_title = await framed.title() if framed is not framing.main_frame else ""
    finally:
        await context.close()

    policy = headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy
    assert "default-src 'none'" in policy and "unsafe" not in policy
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"
    assert "has been blocked" in refused, refused
    assert "crossalert" not in framed_title


@pytest.mark.parametrize(
    "path", ["..%2Fconsole.py", "js/..%2F..%2Fconsole.py", "missing.js", "js/main.py", "js/"]
)
async def test_nothing_but_the_console_files_is_served(path: str) -> None:
    transport = httpx.ASGITransport(app=console_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://notifier") as http:
        answer = await http.get(f"/console/static/{path}")

    assert answer.status_code == 404
    assert answer.json()["code"] == "not_found"


async def test_every_message_is_held_once_and_updates_and_cancels_close_what_they_follow(
    page: OfficerPage,
) -> None:
    first = item(1, "A-1")
    ack = item(3, "A-1", kind=ItemKind.ACKNOWLEDGEMENT)
    update = item(4, "A-2", chain="A-1", msgType="Update", replaces=("A-1",))
    cancel = item(6, "A-3", chain="A-1", msgType="Cancel", state="cancelled", closes=("A-2",))
    other = item(5, "B-1")

    result = await page.evaluate(
        """async ([first, ack, update, cancel, other]) => {
            const { AlertStore } = await import("/console/static/js/store.js");
            const store = new AlertStore();
            const heads = () => store.views().map((v) => [v.key.split(",")[1], v.state]);
            const steps = {};
            steps.resumeBefore = store.resumeAfter();
            steps.firstNew = store.apply(first).isNew;
            steps.sameAgain = store.apply(first).changed;
            steps.ack = store.apply(ack).changed;
            steps.staleFirst = store.apply(first).changed;
            steps.afterAlert = heads();
            store.apply(update);
            steps.afterUpdate = heads();
            store.apply(other);
            store.apply(cancel);
            steps.afterCancel = heads();
            store.markSynced(6);
            steps.resumeAfter = store.resumeAfter();
            return steps;
        }""",
        [first, ack, update, cancel, other],
    )

    assert result["resumeBefore"] is None
    assert (result["firstNew"], result["sameAgain"], result["ack"]) == (True, False, True)
    assert result["staleFirst"] is False
    assert result["afterAlert"] == [["A-1", "active"]]
    assert result["afterUpdate"] == [["A-2", "active"]]
    assert sorted(result["afterCancel"]) == [["A-3", "cancelled"], ["B-1", "active"]]
    assert result["resumeAfter"] == 6


async def test_an_alert_past_its_expiry_counts_as_expired(page: OfficerPage) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=5)).replace(microsecond=0).isoformat()
    expired = item(1, "OLD-1")
    expired["alert"]["info"][0]["expires"] = past

    states = await page.evaluate(
        """async (expired) => {
            const { AlertStore } = await import("/console/static/js/store.js");
            const store = new AlertStore();
            store.apply(expired);
            return store.views().map((v) => v.state);
        }""",
        expired,
    )

    assert states == ["expired"]


async def test_filters_live_in_the_query_string_and_select_what_they_say(page: OfficerPage) -> None:
    severe = item(1, "S-1")
    minor_exercise = item(2, "M-1", status="Exercise", exercise=True)
    minor_exercise["alert"]["info"][0]["severity"] = "Minor"
    minor_exercise["alert"]["info"][0]["category"] = ["Health"]
    minor_exercise["alert"]["info"][0]["area"][0]["geocode"] = [
        {"valueName": "NUTS2", "value": "NL42"}
    ]

    result = await page.evaluate(
        """async ([severe, minor]) => {
            const f = await import("/console/static/js/filters.js");
            const { AlertStore } = await import("/console/static/js/store.js");
            const store = new AlertStore();
            store.apply(severe);
            store.apply(minor);
            const pick = (query) => store.views()
                .filter((v) => f.matches(v, f.readFilters(query)))
                .map((v) => v.key.split(",")[1]).sort();
            return {
                written: f.writeFilters(
                    { ...f.DEFAULTS, severity: "Severe", region: "BE3" }, "?x=1"),
                defaults: f.writeFilters(f.DEFAULTS),
                read: f.readFilters("?status=nonsense&category=Geo"),
                all: pick(""),
                severe: pick("?severity=Severe"),
                health: pick("?category=Health"),
                belgium: pick("?region=BE"),
                liegeProvince: pick("?region=BE33"),
                limburg: pick("?region=NL4"),
                real: pick("?traffic=real"),
                exercise: pick("?traffic=exercise"),
                cancelled: pick("?status=cancelled"),
            };
        }""",
        [severe, minor_exercise],
    )

    assert result["written"] == "?x=1&severity=Severe&region=BE3"
    assert result["defaults"] == ""
    assert result["read"]["status"] == "active"
    assert result["read"]["category"] == "Geo"
    assert result["all"] == ["M-1", "S-1"]
    assert result["severe"] == ["S-1"]
    assert result["health"] == ["M-1"]
    assert result["belgium"] == ["S-1"]
    assert result["liegeProvince"] == ["S-1"]
    assert result["limburg"] == ["M-1"]
    assert (result["real"], result["exercise"]) == (["S-1"], ["M-1"])
    assert result["cancelled"] == []


async def test_exercise_items_name_their_run_and_can_be_filtered_by_it(
    page: OfficerPage,
) -> None:
    real = item(1, "R-1")
    run_a = item(2, "exercise.20261203-aaaaaa.flood", status="Exercise", exercise=True,
                 note="Exercise Meuse flood 2026 — run 20261203-aaaaaa")  # fmt: skip
    run_b = item(3, "exercise.20261203-bbbbbb.flood", status="Exercise", exercise=True,
                 note="Exercise Meuse flood 2026 — run 20261203-bbbbbb")  # fmt: skip
    replayed = item(4, "exercise.20261203-cccccc.1", status="Exercise", exercise=True,
                    note="Exercise replay 20261203-cccccc of real traffic from 2026-12-01T10:00"
                    ":00+00:00 to 2026-12-01T11:00:00+00:00")  # fmt: skip
    by_hand = item(5, "drill-1", status="Exercise", exercise=True, note="Monthly drill")

    result = await page.evaluate(
        """async (items) => {
            const f = await import("/console/static/js/filters.js");
            const { exerciseRunOf } = await import("/console/static/js/cap.js");
            const { AlertStore } = await import("/console/static/js/store.js");
            const store = new AlertStore();
            items.forEach((i) => store.apply(i));
            const pick = (query) => store.views()
                .filter((v) => f.matches(v, f.readFilters(query)))
                .map((v) => v.key.split(",")[1]).sort();
            return {
                runs: items.map((i) => exerciseRunOf(i.alert)),
                a: pick("?run=20261203-aaaaaa"), replay: pick("?run=20261203-cccccc"),
                any: pick(""), written: f.writeFilters({ ...f.DEFAULTS, run: "20261203-aaaaaa" }),
            };
        }""",
        [real, run_a, run_b, replayed, by_hand],
    )

    assert result["runs"] == [
        None,
        {"run": "20261203-aaaaaa", "name": "Meuse flood 2026"},
        {"run": "20261203-bbbbbb", "name": "Meuse flood 2026"},
        {"run": "20261203-cccccc", "name": "Replay of real traffic"},
        None,
    ]
    assert result["a"] == ["exercise.20261203-aaaaaa.flood"]
    assert result["replay"] == ["exercise.20261203-cccccc.1"]
    assert len(result["any"]) == 5
    assert result["written"] == "?run=20261203-aaaaaa"


async def test_the_preferred_language_comes_first_and_a_missing_one_is_told(
    page: OfficerPage,
) -> None:
    alert = json.loads(
        (ROOT / "schemas" / "examples" / "alert.meuse-flood-warning.json").read_text()
    )

    result = await page.evaluate(
        """async (alert) => {
            const cap = await import("/console/static/js/cap.js");
            return {
                languages: cap.languagesOf(alert),
                german: cap.chooseLanguage(alert, ["de"]),
                dutch: cap.chooseLanguage(alert, ["nl-BE"]),
                french: cap.chooseLanguage(alert, ["fr"]),
                regions: cap.regionCodes(alert),
                polygon: cap.parsePolygon(alert.info[0].area[0].polygon[0]),
                circle: cap.parseCircle(alert.info[1].area[0].circle[0]),
            };
        }""",
        alert,
    )

    assert result["languages"] == ["nl-NL", "de-DE"]
    assert result["german"] == {"language": "de-DE", "missing": False}
    assert result["dutch"] == {"language": "nl-NL", "missing": False}
    assert result["french"] == {"language": "nl-NL", "missing": True}
    assert result["regions"] == ["NL421", "DEA1E"]
    assert result["polygon"][0] == [51.4, 6.1]
    assert result["circle"] == {"lat": 51.37, "lon": 6.17, "radiusKm": 15}


async def test_the_map_has_a_shape_for_every_region_of_the_network(page: OfficerPage) -> None:
    regions = yaml.safe_load(SEED.read_text())["regions"]
    codes = [region["code"] for region in regions]

    result = await page.evaluate(
        """async (codes) => {
            const map = await import("/console/static/js/map.js");
            const { REGIONS, BOUNDS, ringsOf } = await import("/console/static/js/regions.js");
            const outside = REGIONS.filter((r) => !r.context).flatMap((r) => ringsOf(r).flat()
                .filter(([lon, lat]) => lon < BOUNDS.west || lon > BOUNDS.east
                    || lat < BOUNDS.south || lat > BOUNDS.north)
                .map(() => r.code));
            return {
                unmapped: codes.filter((code) => map.regionsFor(code).length === 0),
                ambiguous: codes.filter(
                    (code) => code.length >= 4 && map.regionsFor(code).length !== 1),
                outside,
                svg: map.renderMap({
                    highlights: [{ code: "BE332", severity: "Severe" }],
                    circles: [{ lat: 50.63, lon: 5.57, radiusKm: 10 }],
                    polygons: [{ points: [[50.6, 5.5], [50.7, 5.6], [50.6, 5.7], [50.6, 5.5]] }],
                    zoom: true,
                }).outerHTML,
            };
        }""",
        codes,
    )

    assert result["unmapped"] == []
    assert result["ambiguous"] == []
    assert result["outside"] == []
    assert 'data-code="BE33"' in result["svg"]
    assert "region hit sev-severe" in result["svg"]
    assert "<ellipse" in result["svg"]
    assert 'class="cap-polygon"' in result["svg"]


async def test_reconnects_back_off_exponentially_to_half_a_minute(page: OfficerPage) -> None:
    delays = await page.evaluate(
        """async () => {
            const { backoffDelay } = await import("/console/static/js/feed.js");
            return [0, 1, 2, 3, 4, 5, 9].map((attempt) => backoffDelay(attempt, () => 0.5));
        }"""
    )

    assert delays == [1000, 2000, 4000, 8000, 16000, 30000, 30000]
