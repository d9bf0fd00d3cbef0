"""An external source's alert brought in with repairs shows them in the detail view, in real
Chromium: which part of the issuer's document was repaired or left out, and why.

The item is a real US National Weather Service warning (CAP 1.1, an empty polygon), read by the
contract's ingest mode, rendered by the console's own modules.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.async_api import expect

from console.console_support import OfficerPage, item_json
from console.test_console_provenance import show, tab
from schemas.cap_ingest import ingest_cap_xml
from schemas.errors import IngestWarning
from schemas.registry import Reason
from schemas.signatures import SignatureCheck, SignaturePolicy, SignatureVerdict

__all__ = ["tab"]  # the provenance tests' tab fixture: fails on any error the page logs

BLIZZARD = (
    Path(__file__).parents[1]
    / "cap_corpus"
    / "real"
    / "us_nws_blizzard_warning_minnesota_empty_polygon_cap11.xml"
)


def item_of(warnings: tuple[IngestWarning, ...] | None = None) -> dict[str, Any]:
    ingested = ingest_cap_xml(BLIZZARD.read_bytes())
    reason = Reason(kind="agreement", agreement="weather", detail="An agreement binds it.")
    return item_json(ingested.alert, [reason], ingested.warnings if warnings is None else warnings)


async def test_the_repairs_of_an_ingested_alert_show_beside_it(tab: OfficerPage) -> None:
    detail = await show(tab, item_of())

    shown = detail.locator('[data-role="warnings"] li')
    await expect(shown).to_have_count(2)
    await expect(shown.nth(0)).to_have_attribute("data-action", "repaired")
    await expect(shown.nth(0)).to_contain_text("the document is CAP 1.1")
    await expect(shown.nth(1)).to_have_attribute("data-action", "dropped")
    await expect(shown.nth(1)).to_contain_text("info[0].area[0].polygon[0]")
    await expect(shown.nth(1)).to_contain_text("polygon is empty. It was left out.")


async def test_an_alert_brought_in_whole_shows_no_repairs_and_markup_stays_text(
    tab: OfficerPage,
) -> None:
    whole = await show(tab, item_of(()))
    await expect(whole.locator('[data-role="warnings"]')).to_have_count(0)

    hostile = IngestWarning(
        field="info[0].web",
        code="invalid_url",
        message='<img src=x onerror="window.pwned=1"> It was left out.',
        action="dropped",
    )
    await tab.evaluate("document.getElementById('harness')?.remove()")
    detail = await show(tab, item_of((hostile,)))

    await expect(detail.locator('[data-role="warnings"] li')).to_contain_text("<img src=x")
    assert await tab.evaluate("window.pwned === undefined")


async def test_who_signed_an_alert_and_whether_it_verified_shows_in_its_detail(
    tab: OfficerPage,
) -> None:
    verdict = SignatureVerdict(
        policy=SignaturePolicy.VERIFY_IF_PRESENT,
        status="verified",
        signatures=[
            SignatureCheck(index=0, outcome="untrusted", signer="dss1.pelmorex.com"),
            SignatureCheck(index=1, outcome="verified", signer="Environment Canada 2011"),
            SignatureCheck(index=2, outcome="invalid", reason="the alert was altered"),
        ],
    )
    ingested = ingest_cap_xml(BLIZZARD.read_bytes())
    reason = Reason(kind="agreement", agreement="weather", detail="An agreement binds it.")
    detail = await show(tab, item_json(ingested.alert, [reason], signature=verdict))

    shown = detail.locator('[data-role="signature"] li')
    await expect(shown).to_have_count(3)
    await expect(shown.nth(0)).to_have_attribute("data-outcome", "untrusted")
    await expect(shown.nth(0)).to_contain_text("dss1.pelmorex.com, with a key not registered")
    await expect(shown.nth(1)).to_contain_text("Signed by Environment Canada 2011, verified")
    await expect(shown.nth(2)).to_contain_text("does not verify: the alert was altered")

    unsigned = SignatureVerdict(policy=SignaturePolicy.VERIFY_IF_PRESENT, status="unsigned")
    await tab.evaluate("document.getElementById('harness')?.remove()")
    plain = await show(tab, item_json(ingested.alert, [reason], signature=unsigned))
    await expect(plain.locator('[data-role="signature"]')).to_have_count(0)
