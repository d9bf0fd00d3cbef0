"""`/metrics` on every service: the Prometheus text format, and counters that move when
alerts flow through the whole network (real broker, gateway, notifier, consoles, mail)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

import httpx
from notifier_support import FLOOD_RECIPIENTS, ids, meuse_alert, network_on
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(http: httpx.AsyncClient) -> Samples:
    answer = await http.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels` (0 when there is none)."""
    wanted = set(labels.items())
    return sum(v for (n, got), v in samples.items() if n == name and wanted <= got)


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


async def settled(http: httpx.AsyncClient, before: Samples, mails: int) -> None:
    for _ in range(50):
        now = await scrape(http)
        if moved(before, now, "crossalert_notifier_mails_total", status="sent") >= mails:
            return
        await asyncio.sleep(0.2)


async def test_counters_move_when_an_alert_flows_and_when_one_is_refused(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    async with network_on(tmp_path, kafka_bootstrap) as net:
        services: Mapping[str, httpx.AsyncClient] = {
            "registry": net.registry.http,
            "gateway": net.gateway.http,
            "notifier": net.notifier.http,
        }
        before = {name: await scrape(http) for name, http in services.items()}
        consoles = [await net.console(cp) for cp in sorted(FLOOD_RECIPIENTS)]
        alert = meuse_alert()

        await net.post(alert)
        wrong = await net.gateway.http.post(
            "/v1/alerts", json={**meuse_alert(), "status": "actual"}, headers=net.publisher
        )
        for console in consoles:
            await console.wait_for(lambda c: alert["identifier"] in ids(c))
        await net.smtp.wait_for(len(FLOOD_RECIPIENTS), timeout=20)
        # The mailer records a mail as sent once the server answered: a moment after it arrived.
        await settled(services["notifier"], before["notifier"], len(FLOOD_RECIPIENTS))
        after = {name: await scrape(http) for name, http in services.items()}

        assert wrong.status_code == 422
        gateway_before, gateway = before["gateway"], after["gateway"]
        assert moved(gateway_before, gateway, "crossalert_gateway_alerts_total",
                     outcome="published") == 1  # fmt: skip
        assert moved(gateway_before, gateway, "crossalert_gateway_alerts_total",
                     outcome="refused", reason="invalid_enum") == 1  # fmt: skip
        # Requests by the route's template, never by the path asked.
        assert moved(gateway_before, gateway, "crossalert_http_requests_total",
                     service="alert_gateway", route="/v1/alerts", status="202") == 1  # fmt: skip
        assert moved(gateway_before, gateway, "crossalert_http_request_duration_seconds_count",
                     service="alert_gateway", route="/v1/alerts") == 2  # fmt: skip
        notifier_before, notifier = before["notifier"], after["notifier"]
        recipients = len(FLOOD_RECIPIENTS)
        assert moved(notifier_before, notifier, "crossalert_notifier_deliveries_total",
                     channel="console", status="sent") == recipients  # fmt: skip
        assert moved(notifier_before, notifier, "crossalert_notifier_deliveries_total",
                     channel="email", status="sent") == recipients  # fmt: skip
        assert moved(notifier_before, notifier, "crossalert_notifier_mails_total",
                     status="queued") == recipients  # fmt: skip
        assert moved(notifier_before, notifier, "crossalert_notifier_mails_total",
                     status="sent") == recipients  # fmt: skip
        assert value(notifier, "crossalert_notifier_console_connections") >= len(consoles)
        lag = [
            v for (name, labels), v in notifier.items()
            if name == "crossalert_consumer_lag_records" and ("topic", "alerts.geo") in labels
        ]  # fmt: skip
        assert lag and all(v >= 0 for v in lag)
        assert moved(before["registry"], after["registry"], "crossalert_http_requests_total",
                     service="registry", route="/v1/routing") >= 1  # fmt: skip
