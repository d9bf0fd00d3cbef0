"""The services' Prometheus metrics, and `/metrics`, which serves them to a Prometheus server.

Each service runs in its own process, so its metrics live in the process's default registry,
as the Prometheus client intends. The request metrics carry a `service` label: in the tests,
several services share one process. A metric belongs to the module that moves it; the ones
every service shares are here.
"""

from __future__ import annotations

from fastapi import Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

REQUESTS = Counter(
    "crossalert_http_requests",
    "HTTP requests answered, by route (its template, not the path asked) and status.",
    ["service", "method", "route", "status"],
)
REQUEST_SECONDS = Histogram(
    "crossalert_http_request_duration_seconds",
    "Time to answer an HTTP request, by route.",
    ["service", "method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
CONSUMER_LAG = Gauge(
    "crossalert_consumer_lag_records",
    "Records of a partition its consumer has not handled yet (the high watermark of its last "
    "fetch minus the next offset it handles).",
    ["topic", "partition"],
)


async def metrics() -> Response:
    """The process's metrics in the Prometheus text format."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
