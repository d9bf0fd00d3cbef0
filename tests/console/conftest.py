"""A headless Chromium shared by the console tests, the console page served on its own, and
the real network (registry, gateway, broker, notifier) for the tests of a signed-in officer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import pytest
from notifier_support import running_notifier, serving
from playwright.async_api import Browser, async_playwright

from console.console_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    Network,
    OfficerPage,
    console_app,
    free_port,
    publishers,
    upstream,
)


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


@pytest.fixture(scope="module")
async def network(
    tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str
) -> AsyncIterator[Network]:
    state = tmp_path_factory.mktemp("console-network")
    async with AsyncExitStack() as stack:
        registry, gateway, smtp_port = await upstream(stack, state, kafka_bootstrap)
        notifier = await stack.enter_async_context(
            running_notifier(
                state, kafka_bootstrap, registry, free_port(), smtp_port=smtp_port, gateway=gateway
            )
        )
        yield Network(registry, gateway, notifier, await publishers(registry))


@pytest.fixture
async def officers(browser: Browser, network: Network) -> AsyncIterator[list[OfficerPage]]:
    """Browser tabs opened with `officer(...)`, closed after the test; no script error allowed."""
    opened: list[OfficerPage] = []
    yield opened
    for page in opened:
        await page.close()
    assert [problem for page in opened for problem in page.problems] == []
