"""A headless Chromium shared by the console tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, async_playwright

from console.console_support import CHROMIUM, CHROMIUM_ARGS


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
