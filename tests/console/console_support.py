"""Headless Chromium (Debian's, driven by Playwright) and a duty officer's tab on the console."""

from __future__ import annotations

import errno
import json
import os
import socket
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from gateway_support import Gateway, running_gateway
from notifier_support import PASSWORDS, Notifier
from playwright.async_api import Browser, ConsoleMessage, Locator, Page, Request, expect
from registry_support import Registry, running_registry
from smtp_support import running_smtp

from schemas.cap import Alert
from schemas.console import FeedItem, ItemKind
from schemas.envelopes import AlertKey
from schemas.errors import IngestWarning
from schemas.registry import Reason
from schemas.signatures import SignatureVerdict
from services.common.problems import install_problem_handlers
from services.notifier import console

CHROMIUM = Path(os.environ.get("CROSSALERT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).parent / "artifacts"
CONTRAST_SCRIPT = Path(__file__).with_name("contrast.js")
PORTS = range(19400, 19500)
"""The ports these tests may listen on."""
DESK = {"width": 1280, "height": 800}
TABLET = {"width": 768, "height": 1024}
SLOW = 30_000
"""Milliseconds to wait for something that crosses the whole network (gateway, Kafka, notifier)."""


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A port of PORTS that nothing listens on now and that this session has not handed out.

    Remembering them matters: a server is often started only after the next port is chosen.
    """
    for port in PORTS:
        if port in _HANDED_OUT:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError as error:
                if error.errno == errno.EADDRINUSE:
                    continue
                raise
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError(f"every port from {PORTS.start} to {PORTS.stop - 1} is taken")


def console_app() -> FastAPI:
    """The console's router alone, with the services' problem answers."""
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(console.router)
    return app


def key_selector(kind: str, sender: str, identifier: str) -> str:
    """A CSS selector for a card or detail of one alert message."""
    return f'{kind}[data-key="{sender},{identifier}"]'


@dataclass
class OfficerPage:
    """One duty officer's browser tab on the console, and everything that went wrong in it."""

    page: Page
    base_url: str
    name: str
    problems: list[str] = field(default_factory=list)

    @classmethod
    async def open(
        cls,
        browser: Browser,
        base_url: str,
        name: str,
        *,
        viewport: dict[str, int] = DESK,
        locale: str | None = None,
    ) -> OfficerPage:
        """A new browser context (its own sessionStorage) with the console loaded; `locale` is
        the browser's language (Chromium's own, en-US, when None)."""
        context = await browser.new_context(viewport=viewport, locale=locale)  # type: ignore[arg-type]
        page = await context.new_page()
        officer = cls(page, base_url, name)
        page.on("pageerror", lambda error: officer.problems.append(f"page error: {error}"))
        page.on("console", officer._console)
        page.on("request", officer._request)
        answer = await page.goto(f"{base_url}/console")
        assert answer is not None
        assert answer.status == 200, f"{base_url}/console answered {answer.status}"
        return officer

    def _console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            self.problems.append(f"policy: {message.text}")

    def _request(self, request: Request) -> None:
        if not request.url.startswith((self.base_url, "data:")):
            self.problems.append(f"request off the origin: {request.url}")

    async def login(self, username: str, password: str) -> None:
        """Sign in through the form and wait until the feed is live."""
        dialog = self.page.locator("#login-dialog")
        await expect(dialog).to_be_visible()
        await self.page.fill("#login-username", username)
        await self.page.fill("#login-password", password)
        await self.page.click("#login-submit")
        await expect(dialog).to_be_hidden()
        await self.wait_live()

    async def wait_live(self, timeout: float = SLOW) -> None:
        """Wait until the connection state reads Live."""
        await expect(self.page.locator("#connection")).to_have_attribute(
            "data-state", "live", timeout=timeout
        )

    def card(self, sender: str, identifier: str) -> Locator:
        """The list card of one alert message."""
        return self.page.locator(key_selector(".card", sender, identifier))

    def cards(self) -> Locator:
        """Every card of the list."""
        return self.page.locator("#alert-list > .card")

    async def shot(self, name: str) -> Path:
        """Save a screenshot of the page as a test artefact."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        await self.page.screenshot(path=path, full_page=True)
        return path

    async def poor_contrast(self) -> list[str]:
        """Visible text below WCAG AA contrast (4.5:1, 3:1 when large) against its background."""
        found: list[str] = await self.page.evaluate(CONTRAST_SCRIPT.read_text())
        return found

    async def evaluate(self, script: str, arg: Any = None) -> Any:
        """Run a script in the page (with the console's modules importable)."""
        return await self.page.evaluate(script, arg)

    async def close(self) -> None:
        """Close the tab's browser context."""
        await self.page.context.close()


@dataclass
class Network:
    """The network the consoles watch, and the crisis centres that publish into it."""

    registry: Registry
    gateway: Gateway
    notifier: Notifier
    publishers: dict[str, dict[str, str]]

    async def post(self, alert: dict[str, Any], *, by: str = "liege-system") -> None:
        """Publish as a crisis centre (liege-system or limburg-system)."""
        answer = await self.gateway.http.post("/v1/alerts", json=alert, headers=self.publishers[by])
        assert answer.status_code == 202, answer.text


async def upstream(
    stack: AsyncExitStack, state: Path, kafka_bootstrap: str
) -> tuple[Registry, Gateway, int]:
    """The registry (test world), the gateway and an SMTP server (its port), until `stack` ends."""
    registry = await stack.enter_async_context(
        running_registry(f"sqlite+aiosqlite:///{state / 'registry.sqlite3'}", state)
    )
    gateway = await stack.enter_async_context(running_gateway(state, kafka_bootstrap, registry))
    smtp = await stack.enter_async_context(running_smtp(free_port()))
    return registry, gateway, smtp.port


async def publishers(registry: Registry) -> dict[str, dict[str, str]]:
    """The crisis centres' bearer headers, to publish with."""
    return {
        "liege-system": await registry.auth("liege-system", "liege-secret-123"),
        "limburg-system": await registry.auth("limburg-system", "limburg-secret-123"),
    }


async def officer(
    browser: Browser, network: Network, opened: list[OfficerPage], username: str, **options: Any
) -> OfficerPage:
    """A tab of `username` on the network's console, signed in and live; kept in `opened`."""
    page = await OfficerPage.open(browser, network.notifier.url, username, **options)
    opened.append(page)
    await page.login(username, PASSWORDS[username])
    return page


def item_json(
    alert: Alert,
    reasons: list[Reason],
    warnings: tuple[IngestWarning, ...] = (),
    signature: SignatureVerdict | None = None,
) -> dict[str, Any]:
    """An active feed item of `alert` in its first info's language, as the page receives it."""
    key = AlertKey(sender=alert.sender, identifier=alert.identifier)
    item = FeedItem(
        seq=1,
        kind=ItemKind.ALERT,
        key=key,
        chain=key,
        alert=alert,
        exercise=False,
        state="active",
        language=alert.info[0].language,
        language_available=True,
        reasons=reasons,
        warnings=list(warnings),
        signature=signature,
    )
    return dict(json.loads(item.model_dump_json()))
