"""A headless Chromium shared by the console tests, and the console page served on its own."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from notifier_support import serving
from playwright.async_api import Browser, async_playwright

from console.console_support import CHROMIUM, CHROMIUM_ARGS, OfficerPage, console_app, free_port


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless; never a browser Playwright downloads."""
    assert CHROMIUM.exists(), (
        f"{CHROMIUM} is missing: install Debian's browser (apt-get install chromium) "
        "or point CROSSALERT_CHROMIUM at one"
    )
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield chromium
        await chromium.close()


@pytest.fixture(scope="module")
async def base_url() -> AsyncIterator[str]:
    """The console's router alone in a real HTTP server."""
    async with serving(console_app(), free_port()) as url:
        yield url


@pytest.fixture
async def page(browser: Browser, base_url: str) -> AsyncIterator[OfficerPage]:
    """A tab on the console served alone (not signed in); no script error allowed."""
    officer = await OfficerPage.open(browser, base_url, "harness")
    yield officer
    await officer.close()
    assert officer.problems == []
