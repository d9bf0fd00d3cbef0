"""The composer in headless Chromium: duty officers of a centre without a CAP system compose an
alert, a colleague approves it, it reaches its recipients; refusals show in the form.

The network of conftest.py (registry with tests/registry/world.yaml, gateway, broker,
notifier, SMTP on loopback). The national crisis centre's officer.nccn and officer.nccn.2
compose and approve for Belgium; Liège's officer.liege and officer.liege.2 compose and approve
for its province, officer.liege.3 only composes, trainee.liege composes exercises only.
"""

from __future__ import annotations

from typing import Any

import pytest
from notifier_support import PASSWORDS
from playwright.async_api import Browser, Page, expect

from console.console_support import SLOW, Network, OfficerPage, officer

pytestmark = pytest.mark.usefixtures("network")


async def open_composer(page: OfficerPage) -> None:
    await page.page.click("#open-composer")
    await expect(page.page.locator("#composer")).to_be_visible()


async def new_flood_from_the_template(page: OfficerPage, *, place: str) -> None:
    """Open the composer on a new alert from the centre's river-flood template."""
    await open_composer(page)
    await page.page.click('[data-role="new"]')
    await page.page.select_option('#composer select[name="template"]', "river-flood")
    await page.page.fill('input[name="fill-river"]', "Meuse")
    await page.page.fill('input[name="fill-place"]', place)


async def submit_for_approval(page: Page) -> None:
    """Submit the form; the list shows the one composition waiting for a colleague."""
    await page.click('[data-role="submit"]')
    await expect(page.locator('.composition[data-state="submitted"]')).to_have_count(
        1, timeout=SLOW
    )


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
    await submit_for_approval(page)

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
    await page.select_option('#composer select[name="template"]', "river-flood")
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
    await submit_for_approval(page)
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
    await submit_for_approval(page)
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
    await expect(page.locator('#composer select[name="template"]')).to_have_count(0)
    await page.fill('textarea[name="note"]', "The Meuse fell back below the alert level.")
    await submit_for_approval(page)
    cancel = await approve_the_submitted(network)
    assert (cancel["msgType"], cancel["note"]) == (
        "Cancel",
        "The Meuse fell back below the alert level.",
    )
    chain = f'.card[data-chain="{original["sender"]},{original["identifier"]}"]'
    await expect(eupen.page.locator(chain)).to_have_count(0, timeout=SLOW)


SCREEN_POINT = """async ([lat, lon]) => {
  const { project } = await import(new URL("/console/static/js/map.js", location.href).href);
  const svg = document.querySelector("#composer svg.map");
  const [x, y] = project([lon, lat]);
  const point = new DOMPoint(x, y).matrixTransform(svg.getScreenCTM());
  return [point.x, point.y];
}"""


def points(text: str) -> list[tuple[float, float]]:
    """CAP's 'lat,lon lat,lon …' as pairs of numbers."""
    return [(float(lat), float(lon)) for lat, lon in (pair.split(",") for pair in text.split())]


def near(
    got: list[tuple[float, float]], meant: list[tuple[float, float]], degrees: float = 0.02
) -> bool:
    return len(got) == len(meant) and all(
        abs(a - c) <= degrees and abs(b - d) <= degrees
        for (a, b), (c, d) in zip(got, meant, strict=True)
    )


async def click_on_map(page: OfficerPage, lat: float, lon: float) -> None:
    """A click on the composer's map at a place given in degrees."""
    x, y = await page.page.evaluate(SCREEN_POINT, [lat, lon])
    await page.page.mouse.click(x, y)


async def test_an_area_drawn_as_a_polygon_and_a_circle_goes_out_with_the_regions_it_touches(
    browser: Browser, network: Network, officers: list[OfficerPage]
) -> None:
    els = await officer(browser, network, officers, "officer.nccn")
    page = els.page
    await new_flood_from_the_template(els, place="Liège")

    # A polygon around the city of Liège, corner by corner, closed by the button.
    await page.check('input[name="drawing"][value="polygon"]')
    for lat, lon in [(50.70, 5.45), (50.70, 5.75), (50.50, 5.75), (50.50, 5.45)]:
        await click_on_map(els, lat, lon)
    await page.click('[data-role="close-polygon"]')
    polygon = points(await page.input_value('input[name="polygon"]'))
    corners = [(50.70, 5.45), (50.70, 5.75), (50.50, 5.75), (50.50, 5.45), (50.70, 5.45)]
    assert near(polygon, corners)  # a click lands within a pixel of the place meant
    await expect(page.locator(".composer-regions li")).to_have_count(1)  # Liège only

    # A circle: its centre in the Ardennes south of the provinces' border, then its edge.
    await page.check('input[name="drawing"][value="circle"]')
    await click_on_map(els, 50.36, 5.60)
    await click_on_map(els, 50.36, 5.70)
    centre, radius = (await page.input_value('input[name="circle"]')).split()
    assert near(points(centre), [(50.36, 5.60)]) and 5.5 < float(radius) < 8.7  # 7.1 km meant
    codes = await page.locator(".composer-regions li").evaluate_all(
        "items => items.map(li => li.dataset.code)"
    )
    assert codes == ["BE33", "BE34"]

    xml = page.locator(".composer-xml")
    await expect(xml).to_contain_text("<polygon>", timeout=SLOW)
    await expect(xml).to_contain_text(f" {radius}</circle>")
    await submit_for_approval(page)
    area = (await approve_the_submitted(network))["info"][0]["area"][0]
    assert [points(text) for text in area["polygon"]] == [polygon]
    assert [g["value"] for g in area["geocode"]] == ["BE33", "BE34"]
    (published_circle,) = area["circle"]
    published_centre, published_radius = published_circle.split()
    assert points(published_centre) == points(centre)
    assert float(published_radius) == float(radius)


FOCUSED = """(selector) => {
  const element = document.activeElement;
  return [element.matches(selector), [...document.querySelectorAll("*")].indexOf(element)];
}"""


async def tab_to(page: OfficerPage, selector: str, limit: int = 120) -> list[int]:
    """Press Tab until `selector` holds the focus; the document positions of the stops."""
    stops = []
    for _ in range(limit):
        await page.page.keyboard.press("Tab")
        found, position = await page.page.evaluate(FOCUSED, selector)
        stops.append(position)
        if found:
            return stops
    raise AssertionError(f"Tab never reaches {selector}")


async def test_an_alert_is_composed_and_approved_with_the_keyboard_alone(
    browser: Browser, network: Network, officers: list[OfficerPage]
) -> None:
    luc = await officer(browser, network, officers, "officer.liege")
    page, keys = luc.page, luc.page.keyboard
    await page.focus("body")
    await tab_to(luc, "#open-composer")
    await keys.press("Enter")
    await tab_to(luc, '[data-role="new"]')
    await keys.press("Enter")
    # As an officer does, wait for the organisation's templates to be offered.
    await page.wait_for_selector('#composer option[value="river-flood"]', state="attached")

    # The form in the order it reads: every stop comes after the one before.
    stops = await tab_to(luc, '#composer select[name="template"]')
    await keys.press("ArrowDown")  # the organisation's first template: the river flood
    assert await page.input_value('#composer select[name="template"]') == "river-flood"
    stops += await tab_to(luc, 'input[name="fill-river"]')
    await keys.type("Meuse")
    stops += await tab_to(luc, 'input[name="fill-place"]')
    await keys.type("Huy")
    stops += await tab_to(luc, '#composer select[name="severity"]')
    await keys.press("ArrowUp")  # Severe -> Extreme
    assert await page.input_value('#composer select[name="severity"]') == "Extreme"
    stops += await tab_to(luc, 'path.region[data-code="BE33"]')
    await keys.press("Enter")
    stops += await tab_to(luc, 'input[name="contact"]')
    await keys.type("+32 4 000 00 00")
    await expect(page.locator(".composer-recipients li").first).to_be_visible(timeout=SLOW)
    # Extreme goes out on one officer's approval at Liège: the form says so before.
    await expect(page.locator('[data-role="submit"]')).to_have_text(
        "Publish now (no second approval needed)"
    )
    stops += await tab_to(luc, '[data-role="submit"]')
    assert stops == sorted(stops), "the focus moves back up the form"
    await keys.press("Enter")

    published = page.locator('.composition[data-state="published"]')
    await expect(published.first).to_be_visible(timeout=SLOW)
    document = next(
        c["document"]
        for c in await compositions(network, "officer.liege")
        if c["state"] == "published" and c["document"]["info"][0]["contact"] == "+32 4 000 00 00"
    )
    assert [info["language"] for info in document["info"]] == ["fr", "de"]
    assert document["info"][0]["headline"] == "Meuse dépassera le seuil d'alerte à Huy"
    assert document["info"][0]["severity"] == "Extreme"
    assert [g["value"] for g in document["info"][0]["area"][0]["geocode"]] == ["BE33"]


async def test_exercise_mode_composes_exercise_alerts_only(
    browser: Browser, network: Network, officers: list[OfficerPage]
) -> None:
    hugo = await officer(browser, network, officers, "trainee.liege")
    await open_composer(hugo)
    await hugo.page.click('[data-role="new"]')
    real = hugo.page.locator('input[name="status"][value="Actual"]')
    await expect(real).to_be_disabled()
    await expect(hugo.page.locator('input[name="status"][value="Exercise"]')).to_be_checked()
    await expect(hugo.page.locator("#composer .banner-exercise")).to_have_text(
        "EXERCISE MODE — this console composes exercise alerts only"
    )

    # An officer who may compose real alerts too, on a console showing exercise traffic only.
    marc = await officer(browser, network, officers, "officer.liege.3")
    await marc.page.select_option("#filter-traffic", "exercise")
    await open_composer(marc)
    await marc.page.click('[data-role="new"]')
    await expect(marc.page.locator('input[name="status"][value="Actual"]')).to_be_disabled()
    await marc.page.select_option('#composer select[name="template"]', "river-flood")
    await marc.page.click('#composer path.region[data-code="BE33"]')
    await expect(marc.page.locator(".composer-xml")).to_contain_text(
        "<status>Exercise</status>", timeout=SLOW
    )
