"""The after-action report's page in a real browser: it shows its charts and figures, and
nothing on it reaches out of the page (no font, image, style sheet or link loaded).

Every request the page makes is recorded and aborted, so none leaves the machine even when a
test fails; the last test proves the watch sees a request when there is one.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from console.console_support import CHROMIUM, CHROMIUM_ARGS
from playwright.async_api import Browser, Page, Request, Route, async_playwright
from test_report import sample_report

from services.exercise.report import render_html

CSP_META = re.compile(r'<meta http-equiv="Content-Security-Policy"[^>]*>\n')


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless; never a browser Playwright downloads."""
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: apt-get install chromium"
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield chromium
        await chromium.close()


async def open_page(browser: Browser, html: str) -> tuple[Page, list[str]]:
    """A tab showing `html`, and the list that every request it makes is added to."""
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    requests: list[str] = []

    def seen(request: Request) -> None:
        requests.append(request.url)

    async def refuse(route: Route) -> None:
        await route.abort()

    page.on("request", seen)
    await page.route("**/*", refuse)
    # The document itself is not requested: set_content writes it into about:blank.
    await page.set_content(html, wait_until="load")
    await page.wait_for_timeout(300)  # anything loaded lazily would have started by now
    return page, requests


async def test_the_page_loads_nothing_and_shows_its_figures(browser: Browser) -> None:
    page, requests = await open_page(browser, render_html(sample_report()))

    assert requests == []
    for chart in ("#timeline-chart svg", "#acknowledgement-chart svg"):
        locator = page.locator(chart)
        assert await locator.count() == 1
        assert await locator.is_visible()
        box = await locator.bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 100
    desk = page.locator("#contact-points tbody tr", has_text="be-ncccgc-desk")
    cells = await desk.locator("td").all_inner_texts()
    # Acknowledged after 30 s and 90 s: count 2, median 60, p90 84, worst 90.
    assert cells[7:11] == ["2", "60", "84", "90"]
    assert "60 / 90 s" in await page.locator("#acknowledgement-chart").inner_text()
    text = await page.locator("body").inner_text()
    assert "4 of 8 expectations met, 4 missed." in text
    await page.close()


async def test_its_markup_loads_nothing_even_without_its_content_security_policy(
    browser: Browser,
) -> None:
    html = render_html(sample_report())
    bare, removed = CSP_META.subn("", html)
    assert removed == 1

    page, requests = await open_page(browser, bare)

    assert requests == []
    assert await page.locator("svg").count() == 2
    await page.close()


async def test_the_watch_sees_a_request_when_there_is_one(browser: Browser) -> None:
    html = CSP_META.sub("", render_html(sample_report()))
    pixel = "https://203.0.113.7/pixel.png"
    leaky = html.replace("</main>", f'<img src="{pixel}" alt=""></main>')

    page, requests = await open_page(browser, leaky)

    assert requests == [pixel]
    await page.close()
