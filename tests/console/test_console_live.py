"""The duty-officer console in headless Chromium against the real network.

A real registry, gateway and Kafka broker, the notifier served over real HTTP and WebSocket,
and officers' browser tabs: alerts are posted to the gateway as a crisis centre would, and the
tests look at what an officer sees.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
import uuid
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from gateway_support import flood_alert
from notifier_support import PASSWORDS, running_notifier
from playwright.async_api import Browser, WebSocket, expect

from console.console_support import (
    SLOW,
    TABLET,
    Network,
    OfficerPage,
    free_port,
    officer,
    publishers,
    upstream,
)
from schemas.exercise import (
    ContactPointRow,
    CorrectiveAction,
    ExerciseReport,
    ExpectationResult,
    OrganisationRow,
    RunState,
    Timing,
)

LIMBURG = "meldkamer@vrzl.example.org"
HEADLINES = {
    "de-DE": "Die Maas überschreitet in Lüttich die Alarmschwelle",
    "fr-BE": "La Meuse dépassera le seuil d'alerte à Liège",
    "nl-NL": "De Maas overschrijdt in Luik de alarmdrempel",
}


def headline(alert: dict[str, Any], language: str = "fr-BE") -> str:
    """The headline of `alert` in `language`: other test sessions may post alerts beside ours,
    so each headline names its alert."""
    return f"{HEADLINES[language]} [{alert['identifier']}]"


def meuse_alert(
    *, severity: str = "Severe", languages: tuple[str, ...] = ("fr-BE",), **changes: Any
) -> dict[str, Any]:
    """A flood alert of Liège for its province (BE33), in the given languages."""
    alert = flood_alert(f"BE-LG-{uuid.uuid4().hex[:10]}", **changes)
    template = alert["info"][0]
    alert["info"] = [
        template
        | {
            "language": language,
            "severity": severity,
            "headline": headline(alert, language),
            "description": f"{HEADLINES[language]} ({language}).",
            "parameter": [{"valueName": "waterLevel:Liège", "value": "5.20 m"}],
            "area": [
                {
                    "areaDesc": "Vallée de la Meuse, Liège",
                    "geocode": [{"valueName": "NUTS2", "value": "BE33"}],
                    "circle": ["50.63,5.57 10"],
                }
            ],
        }
        for language in languages
    ]
    return alert


def limburg_alert(**changes: Any) -> dict[str, Any]:
    """A flood alert of Zuid-Limburg for NL42; the Meuse agreement takes it to Liège."""
    alert = meuse_alert(languages=("fr-BE", "nl-NL"), sender=LIMBURG, **changes)
    for info in alert["info"]:
        info["area"][0]["geocode"] = [{"valueName": "NUTS2", "value": "NL42"}]
        info["area"][0]["circle"] = ["50.85,5.69 10"]  # Maastricht: where Limburg acts
        info["area"][0]["areaDesc"] = "Maasvallei Maastricht"
    return alert


async def spoken(page: OfficerPage, alert: dict[str, Any], *, urgent: bool) -> list[str]:
    """What the console said to screen readers about `alert` (urgently, or politely)."""
    said: list[str] = await page.evaluate(
        """([identifier, urgent]) => window.crossalertConsole.announcer.spoken
            .filter((s) => s.urgent === urgent && s.text.includes(identifier))
            .map((s) => s.text)""",
        [alert["identifier"], urgent],
    )
    return said


async def shown_once(page: OfficerPage, *alerts: dict[str, Any]) -> None:
    """Each alert is on the page, and was announced, exactly once."""
    await asyncio.sleep(1)  # anything replayed twice would have arrived by now
    for alert in alerts:
        await expect(page.card(alert["sender"], alert["identifier"])).to_have_count(1)
        assert len(await spoken(page, alert, urgent=True)) == 1


async def wait_spoken(page: OfficerPage, alert: dict[str, Any], *, urgent: bool) -> list[str]:
    """What was said about `alert`, once something was."""
    await page.page.wait_for_function(
        """([identifier, urgent]) => window.crossalertConsole.announcer.spoken
            .some((s) => s.urgent === urgent && s.text.includes(identifier))""",
        arg=[alert["identifier"], urgent],
        timeout=SLOW,
    )
    return await spoken(page, alert, urgent=urgent)


def follow_up(original: dict[str, Any], msg_type: str, **changes: Any) -> dict[str, Any]:
    """An Update or Cancel of `original` by the same sender."""
    later = meuse_alert(
        references=[f"{original['sender']},{original['identifier']},{original['sent']}"],
        msgType=msg_type,
        sender=original["sender"],
        **changes,
    )
    later["sent"] = datetime.now(UTC).replace(microsecond=0).isoformat()
    return later


async def test_an_officer_signs_in_and_a_posted_alert_appears_without_reload(
    browser: Browser, network: Network, officers: list[OfficerPage]
) -> None:
    eupen = await officer(browser, network, officers, "officer.eupen")
    await expect(eupen.page.locator("#whoami")).to_contain_text("Anna Kessler")
    await eupen.page.click("#sound-toggle")
    await expect(eupen.page.locator("#sound-toggle")).to_have_attribute("aria-pressed", "true")
    await eupen.evaluate("() => { window.notReloaded = true; }")
    alert = meuse_alert(severity="Extreme", languages=("fr-BE",))

    await network.post(alert)

    card = eupen.card(alert["sender"], alert["identifier"])
    await expect(card).to_be_visible(timeout=SLOW)
    assert await eupen.evaluate("() => window.notReloaded") is True
    await expect(card.locator(".sev")).to_have_text("Severity: Extreme")
    await expect(card.locator(".urg")).to_have_text("Urgency Expected")
    await expect(card.locator('[data-role="headline"]')).to_have_text(headline(alert))
    await expect(card.locator('[data-role="area"]')).to_have_text("Vallée de la Meuse, Liège")
    await expect(card).to_have_class(re.compile(r"\bunseen\b"))
    said = await wait_spoken(eupen, alert, urgent=True)
    assert said[0].startswith("New alert, Extreme, urgency Expected: Crue de la Meuse."), said
    await expect(eupen.page.locator("#live-assertive")).to_have_attribute("aria-live", "assertive")
    assert re.match(r"\(\d+\) ⚠ crossalert console", await eupen.page.title())
    await eupen.shot("01-new-extreme-alert")

    opener = card.locator('[data-role="open"]')
    await eupen.page.locator('#alert-list [data-role="open"]').first.focus()
    for _ in range(100):  # other sessions' alerts may be listed too
        if await opener.evaluate("button => button === document.activeElement"):
            break
        await eupen.page.keyboard.press("ArrowDown")
    await expect(opener).to_be_focused()
    await eupen.page.keyboard.press("Enter")

    detail = eupen.page.locator("#detail article")
    await expect(detail.locator('[data-role="detail-headline"]')).to_be_focused()
    await expect(detail.locator('[data-role="reasons"] li')).not_to_have_count(0)
    await expect(detail.locator('[data-role="parameters"]')).to_contain_text("5.20 m")
    await expect(detail.locator('path.region.hit[data-code="BE33"]')).to_have_count(1)
    await expect(detail.locator(".cap-circle ellipse")).to_have_count(1)
    recipients = detail.locator('[data-role="recipients"] tr[data-contact-point]')
    await expect(recipients.and_(eupen.page.locator('[data-channel="console"]'))).to_have_count(3)
    own_desk = recipients.and_(eupen.page.locator('[data-contact-point="be-eupen-desk"]'))
    await expect(own_desk).to_have_count(2)  # console and e-mail
    await expect(card).not_to_have_class(re.compile(r"\bunseen\b"))
    assert "#alert=" in eupen.page.url
    await eupen.shot("02-alert-detail")
    assert await eupen.poor_contrast() == []
    await eupen.page.keyboard.press("Escape")
    await expect(opener).to_be_focused()
    assert "#alert=" not in eupen.page.url

    refresh = await eupen.evaluate("() => sessionStorage.getItem('crossalert.console.refresh')")
    await eupen.page.click("#logout")

    await expect(eupen.page.locator("#login-message")).to_have_text("You have signed out.")
    renewal = await network.notifier.http.post("/v1/refresh", json={"refresh_token": refresh})
    assert renewal.status_code == 401
    await expect(eupen.page.locator("#app")).to_be_hidden()
    assert await eupen.evaluate("() => sessionStorage.getItem('crossalert.console.token')") is None


async def test_an_update_replaces_the_alert_and_a_cancel_closes_it(
    browser: Browser, network: Network, officers: list[OfficerPage]
) -> None:
    eupen = await officer(browser, network, officers, "officer.eupen")
    original = meuse_alert()
    chain = f'.card[data-chain="{original["sender"]},{original["identifier"]}"]'
    await network.post(original)
    await expect(eupen.card(original["sender"], original["identifier"])).to_be_visible(timeout=SLOW)

    update = follow_up(original, "Update", severity="Extreme")
    await network.post(update)

    updated = eupen.card(update["sender"], update["identifier"])
    await expect(updated).to_be_visible(timeout=SLOW)
    await expect(eupen.page.locator(chain)).to_have_count(1)
    await expect(eupen.card(original["sender"], original["identifier"])).to_have_count(0)
    await expect(updated.locator('[data-mark="update"]')).to_have_text("UPDATE")
    await expect(updated.locator(".sev")).to_have_text("Severity: Extreme")
    await eupen.shot("03-update-replaces")

    cancel = follow_up(update, "Cancel")
    await network.post(cancel)

    await expect(eupen.page.locator(chain)).to_have_count(0, timeout=SLOW)
    await eupen.page.select_option("#filter-status", "cancelled")
    closed = eupen.page.locator(chain)
    await expect(closed).to_have_count(1)
    await expect(closed.locator('[data-mark="cancel"]')).to_have_text("CANCEL")
    await expect(closed.locator('[data-state="cancelled"]')).to_have_text("CANCELLED")
    assert "status=cancelled" in eupen.page.url
    await closed.locator('[data-role="open"]').click()
    history = eupen.page.locator('#detail [data-role="history"] li')
    await expect(history).to_have_count(3)
    await expect(history.nth(0)).to_contain_text("ALERT")
    await expect(history.nth(1)).to_contain_text("UPDATE")
    await expect(history.nth(2)).to_contain_text("CANCEL")
    await eupen.shot("04-cancel-closes")

    await eupen.page.reload()
    await eupen.wait_live()
    await expect(eupen.page.locator("#filter-status")).to_have_value("cancelled")


async def test_an_acknowledgement_shows_in_a_colleagues_browser_at_once(
    browser: Browser, network: Network, officers: list[OfficerPage]
) -> None:
    luc = await officer(browser, network, officers, "officer.liege")
    sophie = await officer(browser, network, officers, "officer.liege.2")
    alert = limburg_alert()
    await network.post(alert, by="limburg-system")
    for page in (luc, sophie):
        await expect(page.card(LIMBURG, alert["identifier"])).to_be_visible(timeout=SLOW)

    await luc.card(LIMBURG, alert["identifier"]).locator('[data-role="open"]').click()
    await luc.page.locator('#detail [data-role="ack-note"]').fill("Pompiers de Visé prévenus")
    await luc.page.locator('#detail [data-role="ack"]').click()

    seen_by_luc = luc.card(LIMBURG, alert["identifier"]).locator('[data-role="ack-state"]')
    await expect(seen_by_luc).to_contain_text("Acknowledged by Luc Martin (you)")
    colleague = sophie.card(LIMBURG, alert["identifier"])
    await expect(colleague.locator('[data-role="ack-state"]')).to_contain_text(
        "Acknowledged by Luc Martin", timeout=SLOW
    )
    await expect(colleague.locator('[data-role="ack-state"]')).to_contain_text(
        "Pompiers de Visé prévenus"
    )
    await expect(colleague.locator('[data-role="ack"]')).to_have_count(0)
    said = await wait_spoken(sophie, alert, urgent=False)
    assert any(text.startswith("Luc Martin acknowledged") for text in said), said
    await luc.shot("05-acknowledged-by-me")
    await sophie.shot("06-acknowledged-seen-by-colleague")


async def test_an_exercise_run_is_named_on_its_items_and_selectable(
    browser: Browser, network: Network, officers: list[OfficerPage]
) -> None:
    eupen = await officer(browser, network, officers, "officer.eupen")
    run = meuse_alert(status="Exercise", note="Exercise Meuse flood 2026 — run 20261203-abc123")
    other = meuse_alert(status="Exercise", note="Exercise Meuse flood 2026 — run 20261203-def456")

    for alert in (run, other):
        await network.post(alert)

    card = eupen.card(run["sender"], run["identifier"])
    await expect(card.locator('[data-role="exercise-band"]')).to_have_text(
        "EXERCISE — not a real alert · Meuse flood 2026 (run 20261203-abc123)", timeout=SLOW
    )
    runs = eupen.page.locator("#filter-run")
    await expect(runs.locator("option")).to_have_count(3)
    report_button = eupen.page.locator("#open-exercise-report")
    await expect(report_button).to_be_hidden()  # no report of either run yet
    planner = await network.registry.auth("planner", "planner-secret-123")
    published = await network.notifier.http.post(
        "/v1/exercise-reports", json=exercise_report("20261203-abc123"), headers=planner
    )
    assert published.status_code == 201, published.text
    await runs.select_option("20261203-abc123")
    await expect(eupen.page).to_have_url(re.compile(r"[?&]run=20261203-abc123"))
    await expect(card).to_be_visible()
    await expect(eupen.card(other["sender"], other["identifier"])).to_have_count(0)

    # The run's after-action report: Eupen's desk in full, Zuid-Limburg as an aggregate.
    await report_button.click()
    dialog = eupen.page.locator("#exercise-report-dialog")
    await expect(dialog.locator("#report-shared-with")).to_contain_text("Made for be-eupen")
    await expect(dialog).to_contain_text("Krisenstab Eupen (be-eupen-desk)")
    await expect(dialog).to_contain_text("Safety region Zuid-Limburg (nl-limburg)")
    await expect(dialog).not_to_contain_text("nl-limburg-duty")
    await eupen.shot("09-exercise-report")
    async with eupen.page.expect_download() as downloading:
        await dialog.locator("#exercise-report-download").click()
    page = await asyncio.to_thread(
        Path(await (await downloading.value).path()).read_text, encoding="utf-8"
    )
    assert page.startswith("<!DOCTYPE html>") and "Made for be-eupen" in page
    await dialog.locator("#exercise-report-close").click()
    await expect(dialog).to_be_hidden()
    await runs.select_option("20261203-def456")
    await expect(report_button).to_be_hidden()


def exercise_report(run_id: str) -> dict[str, Any]:
    """A planner's report of `run_id` in which Eupen's desk acknowledged and Zuid-Limburg's
    control room did not."""
    now = datetime.now(UTC)
    delivered = Timing(count=2, median=0.4, p90=0.9, worst=0.9)
    acked = Timing(count=2, median=12, p90=30.5, worst=30.5)
    silent = Timing(count=0, median=None, p90=None, worst=None)
    Desk = tuple[str, str, str, str, Timing, list[str]]
    eupen: Desk = ("be-eupen", "Eupen crisis desk", "be-eupen-desk", "Krisenstab Eupen", acked, [])
    limburg: Desk = ("nl-limburg", "Safety region Zuid-Limburg", "nl-limburg-duty",
               "Meldkamer Zuid-Limburg", silent, ["watch", "severe"])  # fmt: skip
    report = ExerciseReport(
        run_id=run_id, scenario="Meuse flood 2026", state=RunState.FINISHED, speed=10,
        started_at=now, ended_at=now, objectives=[], made_at=now, planned=2, timeline=[],
        participants=["be-eupen", "be-liege", "nl-limburg"],
        organisations=[
            OrganisationRow(organisation=org, organisation_name=name, contact_points=1,
                            messages=2, delivered=delivered, acknowledged=ack,
                            never_acknowledged=len(missed), failed=0, escalations=len(missed))
            for org, name, _, _, ack, missed in (eupen, limburg)
        ],
        contact_points=[
            ContactPointRow(organisation=org, organisation_name=name, contact_point=cp,
                            contact_point_name=cp_name, channels=["console", "email"],
                            messages=2, delivered=delivered, acknowledged=ack,
                            never_acknowledged=missed, failed=0, escalations=len(missed))
            for org, name, cp, cp_name, ack, missed in (eupen, limburg)
        ],
        expectations=[ExpectationResult(
            inject="watch", contact_point="nl-limburg-duty", organisation="nl-limburg",
            expected="acknowledge", within_seconds=60, met=False, detail="not acknowledged",
        )],
        corrective_actions=[CorrectiveAction(
            issue="watch: nl-limburg-duty did not acknowledge it", organisation="nl-limburg",
        )],
    )  # fmt: skip
    return report.model_dump(mode="json")


async def test_an_exercise_alert_carries_the_banner_and_can_be_hidden(
    browser: Browser, network: Network, officers: list[OfficerPage]
) -> None:
    eupen = await officer(browser, network, officers, "officer.eupen", viewport=TABLET)
    exercise = meuse_alert(status="Exercise")

    await network.post(exercise)

    card = eupen.card(exercise["sender"], exercise["identifier"])
    await expect(card).to_be_visible(timeout=SLOW)
    await expect(card).to_have_class(re.compile(r"\bexercise\b"))
    await expect(card.locator('[data-role="exercise-band"]')).to_have_text(
        "EXERCISE — not a real alert"
    )
    banner = eupen.page.locator("#exercise-banner")
    await expect(banner).to_be_visible()
    await expect(banner).to_contain_text("EXERCISE")
    await eupen.shot("07-exercise-tablet")
    assert await eupen.poor_contrast() == []
    await card.locator('[data-role="open"]').click()
    await expect(eupen.page.locator("#alert-list")).to_be_hidden()
    await expect(eupen.page.locator('#detail [data-role="exercise-band"]')).to_be_visible()
    await eupen.shot("08-exercise-detail-tablet")
    await eupen.page.click('#detail [data-role="back"]')
    await expect(card).to_be_visible()

    await eupen.page.click("#exercise-toggle")

    await expect(card).to_have_count(0)
    assert "traffic=real" in eupen.page.url
    await expect(banner).to_contain_text("hidden")
    await eupen.page.click("#exercise-toggle")
    await expect(card).to_be_visible()


async def test_switching_language_changes_the_text_and_a_missing_language_is_told(
    browser: Browser, network: Network, officers: list[OfficerPage]
) -> None:
    eupen = await officer(browser, network, officers, "officer.eupen")
    trilingual = meuse_alert(languages=("fr-BE", "de-DE", "nl-NL"))
    dutch_only = meuse_alert(languages=("nl-NL",))
    await network.post(trilingual)
    await network.post(dutch_only)
    card = eupen.card(trilingual["sender"], trilingual["identifier"])
    await expect(card).to_be_visible(timeout=SLOW)
    shown = card.locator('[data-role="headline"]')
    # The Eupen desk reads German first.
    await expect(shown).to_have_text(headline(trilingual, "de-DE"))
    await expect(shown).to_have_attribute("lang", "de-DE")
    await expect(card.locator('[data-role="language-note"]')).to_have_count(0)

    await card.locator('[data-role="language"][data-language="fr-BE"]').click()

    await expect(shown).to_have_text(headline(trilingual, "fr-BE"))
    await expect(card.locator('[data-role="language"][data-language="fr-BE"]')).to_have_attribute(
        "aria-pressed", "true"
    )
    await card.locator('[data-role="open"]').click()
    await expect(eupen.page.locator('#detail [data-role="description"]')).to_contain_text("(fr-BE)")
    dutch = eupen.card(dutch_only["sender"], dutch_only["identifier"])
    await expect(dutch).to_be_visible(timeout=SLOW)
    await expect(dutch.locator('[data-role="headline"]')).to_have_text(
        headline(dutch_only, "nl-NL")
    )
    await expect(dutch.locator('[data-role="language-note"]')).to_contain_text("Not available")
    await eupen.shot("09-language-switched")


SPOIL_ACCESS_TOKEN = """() => {
    const session = window.crossalertConsole.session;
    session.token = session.token.slice(0, -4) + "AAAA";
}"""
"""The registry no longer honours the access token, as after its lifetime."""


async def end_session_elsewhere(network: Network, page: OfficerPage) -> None:
    """End the officer's session at the registry, as a sign-out in another place would."""
    refresh = await page.evaluate("() => sessionStorage.getItem('crossalert.console.refresh')")
    answer = await network.notifier.http.post("/v1/logout", json={"refresh_token": refresh})
    assert answer.status_code == 204


async def test_a_refused_token_is_renewed_unseen_and_an_ended_session_asks_to_sign_in_again(
    browser: Browser, network: Network, officers: list[OfficerPage]
) -> None:
    eupen = await officer(browser, network, officers, "officer.eupen")
    first, second = meuse_alert(), meuse_alert()
    for alert in (first, second):
        await network.post(alert)
        await expect(eupen.card(alert["sender"], alert["identifier"])).to_be_visible(timeout=SLOW)
    acknowledged = "Acknowledged by Anna Kessler (you)"
    await eupen.evaluate(SPOIL_ACCESS_TOKEN)

    await eupen.card(first["sender"], first["identifier"]).locator('[data-role="ack"]').click()

    first_state = eupen.card(first["sender"], first["identifier"]).locator(
        '[data-role="ack-state"]'
    )
    await expect(first_state).to_contain_text(acknowledged)
    await expect(eupen.page.locator("#login-dialog")).to_be_hidden()

    await end_session_elsewhere(network, eupen)
    await eupen.evaluate(SPOIL_ACCESS_TOKEN)
    card = eupen.card(second["sender"], second["identifier"])
    await card.locator('[data-role="ack"]').click()

    message = eupen.page.locator("#login-message")
    await expect(message).to_contain_text("Your session has ended")
    await expect(message).to_contain_text("acknowledgement is sent once you are signed in again")
    await eupen.shot("10-session-ended")
    await eupen.login("officer.eupen", PASSWORDS["officer.eupen"])
    await expect(card.locator('[data-role="ack-state"]')).to_contain_text(acknowledged)

    await end_session_elsewhere(network, eupen)
    await eupen.evaluate(
        """() => sessionStorage.setItem("crossalert.console.token",
            sessionStorage.getItem("crossalert.console.token").slice(0, -4) + "AAAA")"""
    )
    await eupen.page.reload()

    await expect(message).to_contain_text("Your session has ended", timeout=SLOW)


async def test_the_console_reconnects_after_a_notifier_restart_and_shows_nothing_twice(
    browser: Browser, kafka_bootstrap: str, tmp_path: Path
) -> None:
    port = free_port()
    settings: dict[str, Any] = {
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'notifier.sqlite3'}",
        "consumer_group": f"console-restart-{uuid.uuid4().hex[:8]}",
    }
    hellos: list[dict[str, Any]] = []

    def watch(socket: WebSocket) -> None:
        socket.on("framesent", lambda payload: hellos.append(json.loads(payload)))

    async with AsyncExitStack() as stack:
        registry, gateway, settings["smtp_port"] = await upstream(stack, tmp_path, kafka_bootstrap)
        async with running_notifier(tmp_path, kafka_bootstrap, registry, port, **settings) as first:
            net = Network(registry, gateway, first, await publishers(registry))
            eupen = await OfficerPage.open(browser, first.url, "officer.eupen")
            stack.push_async_callback(eupen.close)
            eupen.page.on("websocket", watch)
            await eupen.login("officer.eupen", PASSWORDS["officer.eupen"])
            before = meuse_alert(severity="Extreme")
            await net.post(before)
            await expect(eupen.card(before["sender"], before["identifier"])).to_be_visible(
                timeout=SLOW
            )

        await expect(eupen.page.locator("#connection")).not_to_have_attribute("data-state", "live")
        during = meuse_alert(severity="Extreme")
        await net.post(during)
        await expect(eupen.page.locator("#stale-banner")).to_be_visible(timeout=SLOW)
        await eupen.shot("11-notifier-down-stale")
        await stack.enter_async_context(
            running_notifier(tmp_path, kafka_bootstrap, registry, port, **settings)
        )

        await eupen.wait_live(timeout=60_000)
        await expect(eupen.card(during["sender"], during["identifier"])).to_be_visible(timeout=SLOW)
        await expect(eupen.page.locator("#stale-banner")).to_be_hidden()
        await shown_once(eupen, before, during)
        assert [hello.get("resume_after") is not None for hello in hellos] == [False, True]
        await eupen.shot("12-reconnected-after-restart")
        assert eupen.problems == []


async def test_short_access_tokens_are_renewed_through_the_shift_without_a_gap(
    browser: Browser, kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The shortest lifetimes the registry allows: an access token lasts 30 s, a session 60 s.
    monkeypatch.setenv("CROSSALERT_REGISTRY_TOKEN_TTL_SECONDS", "30")
    monkeypatch.setenv("CROSSALERT_REGISTRY_SESSION_TTL_SECONDS", "60")
    sent: list[dict[str, Any]] = []

    def watch(socket: WebSocket) -> None:
        socket.on("framesent", lambda payload: sent.append(json.loads(payload)))

    async with AsyncExitStack() as stack:
        registry, gateway, smtp_port = await upstream(stack, tmp_path, kafka_bootstrap)
        notifier = await stack.enter_async_context(
            running_notifier(tmp_path, kafka_bootstrap, registry, free_port(), smtp_port=smtp_port)
        )
        net = Network(registry, gateway, notifier, await publishers(registry))
        eupen = await OfficerPage.open(browser, notifier.url, "officer.eupen")
        stack.push_async_callback(eupen.close)
        eupen.page.on("websocket", watch)
        await eupen.login("officer.eupen", PASSWORDS["officer.eupen"])
        await expect(eupen.page.locator("#session-banner")).to_contain_text("Your session ends at")
        before = meuse_alert(severity="Extreme")
        await net.post(before)
        await expect(eupen.card(before["sender"], before["identifier"])).to_be_visible(timeout=SLOW)

        # The first access token runs out 30 s after sign-in; it is renewed before.
        first_token = await eupen.evaluate("() => window.crossalertConsole.session.token")
        first_expires = claims_of(first_token)["exp"]
        await eupen.page.wait_for_function(
            "(first) => window.crossalertConsole.session.token !== first",
            arg=first_token,
            timeout=40_000,
        )
        await eupen.wait_live()
        during = meuse_alert(severity="Extreme")
        net.publishers = await publishers(registry)  # the crisis centre's token ran out too
        await net.post(during)

        await expect(eupen.card(during["sender"], during["identifier"])).to_be_visible(timeout=SLOW)
        await expect(eupen.page.locator("#login-dialog")).to_be_hidden()
        await shown_once(eupen, before, during)

        # The open feed was handed the new token: it outlives the first one, not reconnected.
        await asyncio.sleep(max(0.0, first_expires - time.time() + 1))
        await eupen.wait_live()
        assert [frame["type"] for frame in sent] == ["hello", "renew"]
        assert sent[0]["token"] == first_token
        assert sent[1]["token"] != first_token
        await eupen.shot("13-session-renewed")
        assert eupen.problems == []


def claims_of(token: str) -> dict[str, Any]:
    """The claims of a JWT, read without checking its signature (the test only needs `exp`)."""
    payload = token.split(".")[1]
    padded = payload + "=" * (-len(payload) % 4)
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(padded))
    return claims


HOSTILE = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script><b>bold</b>'


async def test_script_and_markup_in_every_text_of_an_alert_are_shown_as_text(
    browser: Browser, network: Network, officers: list[OfficerPage]
) -> None:
    eupen = await officer(browser, network, officers, "officer.eupen")
    alert = meuse_alert()
    info = alert["info"][0]
    marker = f"{HOSTILE} [{alert['identifier']}]"
    for field in ("headline", "description", "instruction", "senderName", "contact", "event"):
        info[field] = marker
    info["area"][0]["areaDesc"] = marker
    info["parameter"] = [{"valueName": HOSTILE, "value": HOSTILE}]
    alert["note"] = HOSTILE
    # Only http(s) links are accepted at all (a javascript: one is refused at the gateway).
    info["web"] = "https://example.org/?q=<script>"

    await network.post(alert)

    card = eupen.card(alert["sender"], alert["identifier"])
    await expect(card).to_be_visible(timeout=SLOW)
    await expect(card.locator('[data-role="headline"]')).to_have_text(marker)
    await card.locator('[data-role="open"]').click()
    detail = eupen.page.locator("#detail article")
    await expect(detail.locator('[data-role="description"]')).to_have_text(marker)
    await expect(detail.locator('[data-role="parameters"]')).to_contain_text(HOSTILE)
    assert await eupen.evaluate("() => window.pwned") is None
    # Nothing the alert said became an element: no image, script or bold text from it.
    made = eupen.page.locator("img[src='x'], script:text('pwned'), b:text-is('bold')")
    await expect(made).to_have_count(0)
    web = detail.locator('a[href^="https://example.org/"]')
    await expect(web).to_have_count(1)
