"""The floor under the gateway: a bare FastAPI route on uvicorn that writes the request body to
Kafka and answers 202 once the broker acknowledged it, with nothing else (no token, no CAP
validation, no database, no log line).

What the gateway cannot go below on the same machine with the same stack: its figures beside
this floor tell what crossalert's own work costs; the floor's beside raw aiokafka tell what HTTP
in Python costs. Run by bench.gateway_publish as its own process:

    CROSSALERT_BENCH_KAFKA=host:port .venv/bin/python -m bench.http_floor PORT
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI, Request, Response

TOPIC = "alerts.geo"


def create_app(bootstrap: str) -> FastAPI:
    """The floor's app: POST /v1/alerts, its body written to TOPIC (idempotent, acks=all)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", enable_idempotence=True
        )
        await producer.start()
        app.state.producer = producer
        try:
            yield
        finally:
            await producer.stop()

    app = FastAPI(lifespan=lifespan)

    @app.post("/v1/alerts", status_code=202)
    async def post_alert(request: Request) -> Response:
        body = await request.body()
        # Keyed like the gateway's records: the same partitions, the same batching.
        await request.app.state.producer.send_and_wait(
            TOPIC, body, key=request.headers["x-key"].encode()
        )
        return Response(status_code=202)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


if __name__ == "__main__":
    uvicorn.run(
        create_app(os.environ["CROSSALERT_BENCH_KAFKA"]),
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
    )
