"""The composer in headless Chromium: duty officers of a centre without a CAP system compose an
alert, a colleague approves it, it reaches its recipients; refusals show in the form.

The network of conftest.py (registry with tests/registry/world.yaml, gateway, broker,
notifier, SMTP on loopback). The national crisis centre's officer.nccn and officer.nccn.2
compose and approve for Belgium; officer.liege.3 only composes for Liège's province.
"""

from __future__ import annotations

from typing import Any

import pytest
from notifier_support import PASSWORDS
from playwright.async_api import Browser, expect

from console.console_support import SLOW, Network, OfficerPage, officer

pytestmark = pytest.mark.usefixtures("network")


async def open_composer(page: OfficerPage) -> None:
    await page.page.click("#open-composer")
    await expect(page.page.locator("#composer")).to_be_visible()


async def new_flood_from_the_template(page: OfficerPage, *, place: str) -> None:
    """Open the composer on a new alert from the centre's river-flood template."""
    await open_composer(page)
    await page.page.click('[data-role="new"]')
    await page.page.select_option('select[name="template"]', "river-flood")
    await page.page.fill('input[name="fill-river"]', "Meuse")
    await page.page.fill('input[name="fill-place"]', place)


async def reopen_composer(page: OfficerPage) -> None:
    """Close and open the composer again: its list is read anew."""
    await page.page.click("#open-composer")
    await expect(page.page.locator("#composer")).to_be_hidden()
    await open_composer(page)


async def bearer(network: Network, username: str) -> dict[str, str]:
    """An officer's Authorization header, signed in through the console's origin."""
    answer = await network.notifier.http.post(
        "/v1/login", json={"username": username, "password": PASSWORDS[username]}
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def compositions(network: Network, username: str) -> list[dict[str, Any]]:
    """The compositions an officer's organisation has, read through the console's origin."""
    answer = await network.notifier.http.get(
        "/v1/compositions", headers=await bearer(network, username)
    )
    assert answer.status_code == 200, answer.text
    return list(answer.json())


async def test_an_officer_composes_a_bilingual_alert_on_the_map_and_a_colleague_approves_it(
    browser: Browser, network: Network, officers: list[OfficerPage]
) -> None:
    els = await officer(browser, network, officers, "officer.nccn")
    eupen = await officer(browser, network, officers, "officer.eupen")
    page = els.page
    await new_flood_from_the_template(els, place="Liège")
    # One region by the mouse, the other by the keyboard.
    await page.click('#composer path.region[data-code="BE33"]')
    await page.focus('#composer path.region[data-code="BE34"]')
    await page.keyboard.press("Enter")
    check = page.locator("#composer-check")
    await expect(check.locator(".composer-recipients li").first).to_be_visible(timeout=SLOW)
    recipients = await check.locator(".composer-recipients li").evaluate_all(
        "items => items.map(li => li.dataset.contactPoint)"
    )
    assert "be-eupen-desk" in recipients
    await expect(page.locator(".composer-regions li")).to_have_count(2)
    assert await els.poor_contrast() == []  # the form meets the console's contrast check
    unlabelled = await page.evaluate(
        """() => [...document.querySelectorAll('#composer :is(input, select, textarea)')]
              .filter((el) => !el.closest('label') && !el.labels?.length).map((el) => el.name)"""
    )
    assert unlabelled == []
    await els.shot("composer-form")
    await page.click('[data-role="submit"]')
    await expect(page.locator('.composition[data-state="submitted"]')).to_have_count(
        1, timeout=SLOW
    )

    colleague = await officer(browser, network, officers, "officer.nccn.2")
    await open_composer(colleague)
    approve = colleague.page.locator('.composition[data-state="submitted"] [data-role="approve"]')
    await expect(approve).to_be_visible(timeout=SLOW)
    await approve.click()
    await expect(colleague.page.locator('.composition[data-state="published"]')).to_have_count(
        1, timeout=SLOW
    )

    published = [
        c for c in await compositions(network, "officer.nccn") if c["state"] == "published"
    ]
    assert len(published) == 1
    document = published[0]["document"]
    assert [info["language"] for info in document["info"]] == ["fr", "de"]
    assert document["info"][1]["event"] == "Hochwasser der Meuse"
    geocodes = [g["value"] for g in document["info"][0]["area"][0]["geocode"]]
    assert geocodes == ["BE33", "BE34"]
    await expect(eupen.card(document["sender"], document["identifier"])).to_be_visible(timeout=SLOW)


async def test_refusals_show_in_the_form_before_anything_is_sent(
    browser: Browser, network: Network, officers: list[OfficerPage]
) -> None:
    marc = await officer(browser, network, officers, "officer.liege.3")
    page = marc.page
    await open_composer(marc)
    await page.click('[data-role="new"]')
    await page.select_option('select[name="template"]', "river-flood")
    await page.click('#composer path.region[data-code="NL42"]')  # Liège acts for its province only

    problems = page.locator(".composer-problems li")
    await expect(problems.first).to_be_visible(timeout=SLOW)
    await expect(problems.first).to_contain_text("info[0].area[0].geocode[0]")
    await expect(page.locator('[data-field="area"][aria-invalid="true"]')).to_have_count(1)
    # An officer who composes without approving sees no approval button, even on others' drafts.
    await page.click('[data-role="submit"]')
    await expect(page.locator(".composer-error")).to_be_visible(timeout=SLOW)
    assert not [
        c for c in await compositions(network, "officer.liege.3") if c["state"] == "published"
    ]


async def approve_the_submitted(network: Network) -> dict[str, Any]:
    """A colleague (officer.nccn.2) approves the centre's submitted composition; its document."""
    colleague = await bearer(network, "officer.nccn.2")
    submitted = [
        c for c in await compositions(network, "officer.nccn.2") if c["state"] == "submitted"
    ]
    assert len(submitted) == 1, submitted
    approved = await network.notifier.http.post(
        f"/v1/compositions/{submitted[0]['id']}/approve",
        json={"version": submitted[0]["version"]},
        headers=colleague,
    )
    assert approved.status_code == 200, approved.text
    return dict(approved.json()["document"])


async def test_update_and_cancel_start_from_the_published_alert(
    browser: Browser, network: Network, officers: list[OfficerPage]
) -> None:
    els = await officer(browser, network, officers, "officer.nccn")
    eupen = await officer(browser, network, officers, "officer.eupen")
    page = els.page
    await new_flood_from_the_template(els, place="Huy")
    await page.click('#composer path.region[data-code="BE33"]')
    await expect(page.locator(".composer-recipients li").first).to_be_visible(timeout=SLOW)
    await page.click('[data-role="submit"]')
    await expect(page.locator('.composition[data-state="submitted"]')).to_have_count(
        1, timeout=SLOW
    )
    original = await approve_the_submitted(network)
    await expect(eupen.card(original["sender"], original["identifier"])).to_be_visible(timeout=SLOW)

    # Update: the form opens with the alert's content and its reference; the officer changes
    # the severity and submits.
    await reopen_composer(els)
    # The newest published alert (this one) comes first.
    await page.locator('.composition[data-state="published"] [data-role="update"]').first.click()
    await expect(page.locator(".composer-form h2")).to_have_text("Update a published alert")
    await expect(page.locator('input[name="fr-headline"]')).to_have_value(
        original["info"][0]["headline"]
    )
    await page.select_option('#composer select[name="severity"]', "Extreme")
    await expect(page.locator(".composer-recipients li").first).to_be_visible(timeout=SLOW)
    await page.click('[data-role="submit"]')
    await expect(page.locator('.composition[data-state="submitted"]')).to_have_count(
        1, timeout=SLOW
    )
    update = await approve_the_submitted(network)
    assert update["msgType"] == "Update"
    assert update["references"] == [
        f"{original['sender']},{original['identifier']},{original['sent']}"
    ]
    updated = eupen.card(update["sender"], update["identifier"])
    await expect(updated).to_be_visible(timeout=SLOW)
    await expect(eupen.card(original["sender"], original["identifier"])).to_have_count(0)

    # Cancel asks for the reason only; the newest published alert (the update) comes first.
    await reopen_composer(els)
    await page.locator('.composition[data-state="published"] [data-role="cancel"]').first.click()
    await expect(page.locator(".composer-form h2")).to_have_text("Cancel a published alert")
    await expect(page.locator('select[name="template"]')).to_have_count(0)
    await page.fill('textarea[name="note"]', "The Meuse fell back below the alert level.")
    await page.click('[data-role="submit"]')
    await expect(page.locator('.composition[data-state="submitted"]')).to_have_count(
        1, timeout=SLOW
    )
    cancel = await approve_the_submitted(network)
    assert (cancel["msgType"], cancel["note"]) == (
        "Cancel",
        "The Meuse fell back below the alert level.",
    )
    chain = f'.card[data-chain="{original["sender"]},{original["identifier"]}"]'
    await expect(eupen.page.locator(chain)).to_have_count(0, timeout=SLOW)
