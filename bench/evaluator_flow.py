"""Agencies' batches evaluated end to end: observations submitted to a real gateway, evaluated by
the evaluator, every alert they call for accepted by the gateway and on the broker's log; beside
raw aiokafka produce -> consume of the same records on the same broker, in the same run.

    .venv/bin/python -m bench.evaluator_flow [--rounds 5] [--crossing 0.25] [--stations 100]

Two batches a round, as agencies send them:

* weekly: every NUTS-3 region of the network (190, bench/data) x 5 weekly indicators, two weeks
  at once (a level is confirmed by two weeks in a row), one rule per indicator watching all of
  them;
* hourly: 100 ozone stations, three hours at once (three hours in a row confirm), one rule per
  station.

A share of the series (`--crossing`, the same ones every round) crosses its first level in odd
rounds and comes back under the recovery level in even ones, so every round calls for one
message per crossing series (an Alert, then a Cancel): the same work in every round. The
registry, the gateway and the evaluator run as their own processes (`crossalert serve`,
SQLite), state and logs in .state/bench-evaluator; the registry holds the demo seed plus the
bench's regions, indicators, agency and rules. Runs its own broker (ports 29392/29393, state in
.state/bench-evaluator-kafka) unless CROSSALERT_BENCH_KAFKA=host:port names one.

Figures per batch: observations per second from the request until the last alert is on the
log, and that time, beside the same records produced with acks=all and consumed back raw.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import shutil
import time
import uuid
import zlib
from collections.abc import Iterator
from contextlib import AsyncExitStack, ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.broker import bench_broker
from bench.gateway_publish import STOP_TIMEOUT_S, free_port
from bench.report import Figure, median, percentile, report
from schemas.cap import MsgType
from schemas.envelopes import AlertPublished, ObservationsReported, decode_envelope, encode_envelope
from schemas.observations import Observation
from schemas.topics import ALERT_TOPICS, all_topic_names
from services.common.kafka import PARTITIONS, create_topics
from services.localnet import kafka, process
from services.localnet.service import (
    LocalService,
    evaluator_service,
    gateway_service,
    registry_service,
    start_service,
)
from services.registry.cli import seed_database
from services.registry.seed import DEFAULT_SEED

NUTS = Path(__file__).parent / "data" / "nuts-2021-network.csv"
AGENCY, SENDER = "bench-health", "surveillance@bench.example.org"
CLIENT_ID, CLIENT_SECRET = "bench-health-system", "bench-secret-123"
WEEKLY = ("rate-14d", "positivity", "bench-ili", "bench-sari", "bench-wastewater")
FIRST_WEEK = datetime(2020, 1, 6, tzinfo=UTC)  # 2020-W02: past periods, never "in the future"
FIRST_HOUR = datetime(2020, 6, 1, tzinfo=UTC)
HIGH, LOW, QUIET = 80.0, 5.0, 20.0
"""A crossing series' value (over 50, the first level), its recovery (under 10), the rest; all
plausible for every indicator (positivity is a percentage)."""
LANGUAGES = ("nl", "fr", "de", "en")


@dataclass(frozen=True)
class Batch:
    """One submission: its rows, the gateway's envelopes for them, the messages it calls for."""

    name: str
    rows: list[dict[str, Any]]
    envelopes: list[bytes]
    expected: int


def nuts() -> list[dict[str, str]]:
    """The network's NUTS regions of levels 1 to 3 (code, level, name)."""
    with NUTS.open(encoding="utf-8") as file:
        return list(csv.DictReader(file))


def crossing(series: str, share: float) -> bool:
    """Whether this series is one of the crossing ones (stable across rounds and runs)."""
    return zlib.crc32(series.encode()) % 1000 < share * 1000


def texts() -> dict[str, dict[str, str]]:
    return {
        lang: {
            "event": f"[{lang}] bench threshold",
            "headline": f"[{lang}] {{indicator}} in {{region_name}}: {{value}} ({{level}})",
            "description": f"[{lang}] {{value}} {{unit}} in {{period}}, threshold {{threshold}}.",
        }
        for lang in LANGUAGES
    }


def rule(
    rule_id: str, indicator: str, regions: list[str], confirm: int, **extra: Any
) -> dict[str, Any]:
    return {
        "id": rule_id, "owner": AGENCY, "effective_from": "2019-01-01T00:00:00+00:00",
        "indicator": indicator, "regions": regions, "event_codes": ["bench.threshold"],
        "levels": [{"severity": "Moderate", "threshold": 50},
                   {"severity": "Severe", "threshold": 95}],
        "confirm": {"periods": confirm}, "recovery_level": 10, "recovery_periods": confirm,
        "no_data_after": "P3650D", "texts": texts(), **extra,
    }  # fmt: skip


def stations(count: int, districts: list[str]) -> list[tuple[str, str]]:
    """(station, its district), spread over the districts."""
    return [(f"bench-o3-{n:03d}", districts[n * 7 % len(districts)]) for n in range(count)]


def bench_seed(path: Path, station_count: int) -> None:
    """The demo seed plus the network's NUTS regions, the bench's indicators, agency and rules."""
    seed = yaml.safe_load(DEFAULT_SEED.read_text(encoding="utf-8"))
    known = {r["code"] for r in seed["regions"]}
    regions = nuts()
    for region in regions:
        code = region["code"]
        if code not in known:
            seed["regions"].append({
                "code": code, "country": code[:2], "level": int(region["level"]),
                "parent": code[:-1], "names": {"en": region["name"]},
            })  # fmt: skip
    for indicator in WEEKLY[2:]:
        seed["indicators"].append({
            "id": indicator, "unit": "per 100 000", "period": "iso_week", "category": "Health",
            "names": {lang: indicator for lang in LANGUAGES}, "minimum": 0, "maximum": 100000,
        })  # fmt: skip
    seed["organisations"].append({
        "id": AGENCY, "name": "Bench health surveillance", "kind": "health_agency",
        "home_region": "BE", "acts_for": ["BE", "NL", "LU", "DEA", "DEB", "DEC", "FRF"],
        "cap_sender": SENDER, "languages": list(LANGUAGES),
    })  # fmt: skip
    seed["contact_points"].append({
        "id": "bench-health-desk", "organisation": AGENCY, "function": "single_point_of_contact",
        "name": "Bench surveillance desk", "languages": list(LANGUAGES),
        "competences": [{"category": "Health"}, {"category": "Env"}],
    })  # fmt: skip
    seed["api_clients"].append({
        "client_id": CLIENT_ID, "organisation": AGENCY, "secret": CLIENT_SECRET,
        "scopes": ["alerts:publish", "observations:submit", "thresholds:write"],
    })  # fmt: skip
    districts = [r["code"] for r in regions if r["level"] == "3"]
    seed["threshold_rules"] += [rule(f"bench-{i}", i, districts, 2) for i in WEEKLY]
    seed["threshold_rules"] += [
        rule(f"bench-{station}", "ozone", [district], 3, station=station)
        for station, district in stations(station_count, districts)
    ]
    path.write_text(yaml.safe_dump(seed, allow_unicode=True, sort_keys=False), encoding="utf-8")


def week_label(start: datetime) -> str:
    iso = start.isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


def batches(round_number: int, share: float, station_count: int) -> Iterator[Batch]:
    """The round's weekly and hourly batches."""
    districts = [r["code"] for r in nuts() if r["level"] == "3"]
    up = round_number % 2 == 0  # crossing series cross in even rounds, recover in odd ones
    weeks = [week_label(FIRST_WEEK + timedelta(weeks=2 * round_number + n)) for n in range(2)]
    weekly = [
        (indicator, district, None, week)
        for indicator in WEEKLY for district in districts for week in weeks
    ]  # fmt: skip
    hours = [FIRST_HOUR + timedelta(hours=3 * round_number + n) for n in range(3)]
    hourly = [
        ("ozone", district, station, hour.isoformat())
        for station, district in stations(station_count, districts) for hour in hours
    ]  # fmt: skip
    for name, cells, per_series in (("weekly", weekly, 2), ("hourly", hourly, 3)):
        rows = []
        for indicator, district, station, period in cells:
            series = f"{indicator}/{district}/{station}"
            value = (HIGH if up else LOW) if crossing(series, share) else QUIET
            row = {"indicator": indicator, "region": district, "period": period, "value": value}
            rows.append(row | ({"station": station} if station else {}))
        expected = sum(crossing(f"{i}/{d}/{s}", share) for i, d, s, _ in cells) // per_series
        yield Batch(name, rows, envelopes_of(rows), expected)


def envelopes_of(rows: list[dict[str, Any]]) -> list[bytes]:
    """The records the gateway writes for these rows: one envelope per place."""
    now = datetime.now(UTC)
    by_place: dict[str, list[Observation]] = {}
    for row in rows:
        observation = Observation(
            **row, unit="u", source=SENDER, reported_at=now
        )  # the unit's length is all the baseline cares about
        by_place.setdefault(observation.place, []).append(observation)
    return [
        encode_envelope(
            ObservationsReported(producer="alert_gateway", client_id=CLIENT_ID, observations=obs)
        )
        for obs in by_place.values()
    ]


async def token(registry_url: str) -> str:
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.post(
            f"{registry_url}/v1/oauth/token",
            data={"grant_type": "client_credentials", "client_id": CLIENT_ID,
                  "client_secret": CLIENT_SECRET, "scope": "observations:submit"},
        )  # fmt: skip
    answer.raise_for_status()
    return str(answer.json()["access_token"])


class AlertLog:
    """The alert topics read from their end: when each of the bench's messages got there."""

    def __init__(self, bootstrap: str) -> None:
        self.consumer = consumer(bootstrap)
        self.arrived: list[tuple[float, MsgType]] = []
        self._mark = 0
        self._more = asyncio.Event()

    async def start(self) -> None:
        await at_end(self.consumer, *(spec.name for spec in ALERT_TOPICS.values()))
        self._task = asyncio.create_task(self._read())

    async def stop(self) -> None:
        self._task.cancel()
        await self.consumer.stop()

    async def _read(self) -> None:
        async for record in self.consumer:
            envelope = decode_envelope(record.value or b"")
            if isinstance(envelope, AlertPublished) and envelope.alert.sender == SENDER:
                self.arrived.append((time.perf_counter(), envelope.alert.msg_type))
                self._more.set()

    async def wait_for(self, count: int) -> tuple[float, float]:
        """When the first and the `count`-th message since `mark()` arrived."""
        while len(self.arrived) - self._mark < count:
            self._more.clear()
            await self._more.wait()
        return self.arrived[self._mark][0], self.arrived[self._mark + count - 1][0]

    def mark(self) -> None:
        self._mark = len(self.arrived)


def consumer(bootstrap: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)


async def at_end(reader: AIOKafkaConsumer, *topics: str) -> None:
    """Start `reader` on every partition of the topics (as `create_topics` made them),
    positioned at their current end."""
    await reader.start()
    partitions = [TopicPartition(topic, p) for topic in topics for p in range(PARTITIONS)]
    reader.assign(partitions)
    await reader.seek_to_end(*partitions)
    for partition in partitions:
        await reader.position(partition)  # resolved now: what comes after is new


async def raw_round(bootstrap: str, topic: str, batch: Batch) -> tuple[float, float]:
    """Produce the batch's records (acks=all) and consume them back: (seconds, records/s)."""
    reader = consumer(bootstrap)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await at_end(reader, topic)
    await producer.start()
    try:
        started = time.perf_counter()
        sent = [
            await producer.send(topic, record, key=str(n % 64).encode())
            for n, record in enumerate(batch.envelopes)
        ]
        await asyncio.gather(*sent)
        received = 0
        while received < len(batch.envelopes):
            records = await reader.getmany(timeout_ms=1000)
            received += sum(len(r) for r in records.values())
        elapsed = time.perf_counter() - started
    finally:
        await producer.stop()
        await reader.stop()
    return elapsed, len(batch.rows) / elapsed


async def measure(
    bootstrap: str, registry_url: str, gateway_url: str, args: argparse.Namespace
) -> tuple[list[Figure], dict[str, Any]]:
    """Run the rounds (raw and end to end alternating which goes first); the figures."""
    topic = f"bench.observations-{uuid.uuid4().hex[:6]}"
    await create_topics(bootstrap, [*all_topic_names(), topic])
    times: dict[str, list[float]] = {}
    counts: dict[str, int] = {}
    async with AsyncExitStack() as stack:
        log = AlertLog(bootstrap)
        await log.start()
        stack.push_async_callback(log.stop)
        http = await stack.enter_async_context(httpx.AsyncClient(base_url=gateway_url, timeout=120))
        for round_number in range(args.rounds):
            headers = {"Authorization": f"Bearer {await token(registry_url)}"}
            for batch in batches(round_number, args.crossing, args.stations):
                counts[batch.name] = len(batch.rows)
                order = ("raw", "network") if round_number % 2 else ("network", "raw")
                for side in order:
                    if side == "raw":
                        elapsed, _ = await raw_round(bootstrap, topic, batch)
                        times.setdefault(f"{batch.name} raw", []).append(elapsed)
                        continue
                    log.mark()
                    started = time.perf_counter()
                    answer = await http.post("/v1/observations", json=batch.rows, headers=headers)
                    if answer.status_code != 202:
                        raise RuntimeError(f"gateway: {answer.status_code} {answer.text}")
                    accepted = time.perf_counter()
                    async with asyncio.timeout(600):
                        first, last = await log.wait_for(batch.expected)
                    times.setdefault(f"{batch.name} accepted", []).append(accepted - started)
                    times.setdefault(f"{batch.name} network", []).append(last - started)
                    times.setdefault(f"{batch.name} first", []).append(first - started)
                    print(
                        f"round {round_number} {batch.name}: {len(batch.rows)} observations,"
                        f" {batch.expected} messages, 202 after {accepted - started:.2f} s,"
                        f" first message on the log after {first - started:.2f} s,"
                        f" the last after {last - started:.2f} s"
                    )
                await asyncio.sleep(1)  # let the evaluator settle before the next batch

    figures = []
    for name in ("weekly", "hourly"):
        network, raw = times[f"{name} network"], times[f"{name} raw"]
        rows = counts[name]
        figures += [
            Figure(f"{name}: observations/s to the last alert", "obs/s",
                   median([rows / t for t in network]), "raw produce->consume",
                   median([rows / t for t in raw])),
            Figure(f"{name}: time to the last alert, median", "s", median(network),
                   "raw produce->consume", median(raw)),
            Figure(f"{name}: time to the last alert, max", "s", max(network),
                   "raw produce->consume", max(raw)),
            Figure(f"{name}: gateway 202, median", "s", median(times[f"{name} accepted"]),
                   "raw produce->consume", median(raw)),
            Figure(f"{name}: time to the first alert, median", "s",
                   median(times[f"{name} first"]), "raw produce->consume", median(raw)),
        ]  # fmt: skip
    spread = {k: [round(percentile(v, q), 3) for q in (0, 50, 100)] for k, v in times.items()}
    return figures, {"rows": counts, "min/median/max s": spread}


def main() -> None:
    """Start (or use) a broker, start the registry, gateway and evaluator, measure, report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--crossing", type=float, default=0.25)
    parser.add_argument("--stations", type=int, default=100)
    args = parser.parse_args()

    root = kafka.repo_root()
    state = root / ".state" / "bench-evaluator"
    with ExitStack() as stack:
        bootstrap = bench_broker(stack, "bench-evaluator-kafka", (29392, 29393))
        shutil.rmtree(state, ignore_errors=True)
        state.mkdir(parents=True)
        seed = state / "seed.yaml"
        bench_seed(seed, args.stations)
        registry = registry_service(state, bootstrap, free_port())
        asyncio.run(seed_database(registry.env["CROSSALERT_REGISTRY_DATABASE_URL"], seed))
        gateway = gateway_service(
            state, bootstrap, free_port(), registry.url, rate_limit_per_minute=str(10**9)
        )
        evaluator = evaluator_service(
            state, bootstrap, free_port(), registry.url, gateway.url,
            consumer_start="latest", consumer_group=f"bench-{uuid.uuid4().hex[:6]}",
        )  # fmt: skip
        services: list[LocalService] = [registry, gateway, evaluator]
        for service in services:
            pid = start_service(service)
            stack.callback(process.terminate, pid, timeout=STOP_TIMEOUT_S, marker="serve")
        _until_ready(evaluator)
        figures, extra = asyncio.run(measure(bootstrap, registry.url, gateway.url, args))
    print(json.dumps(extra, indent=1))
    report(
        "evaluator_flow",
        figures,
        settings={
            "rounds": args.rounds,
            "crossing": args.crossing,
            "districts": sum(r["level"] == "3" for r in nuts()),
            "weekly_indicators": len(WEEKLY),
            "stations": args.stations,
            "services": "registry, gateway, evaluator: 1 process each, uvicorn, SQLite",
        },
    )


def _until_ready(service: LocalService, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while httpx.get(f"{service.url}/readyz", timeout=5).status_code != 200:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the {service.name} is not ready after {timeout:g} s")
        time.sleep(0.5)


if __name__ == "__main__":
    main()
