"""The evaluator's work: keep each place's readings, replay each series it moves, and write the
messages the replay asks for to the outbox, all in one transaction.

Exactly one CAP chain per episode, however often a batch is read: a batch read again (after a
crash before its offset was committed) stores the same readings, replays to the same actions,
finds them already said in the series' record, and writes nothing new. A late or revised reading
takes its place in the series and the replay decides again (services/evaluator/reconcile.py).
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from schemas.cap import Severity, Status
from schemas.cap_types import Reference
from schemas.envelopes import ObservationsReported
from schemas.names import exercise_run_of
from schemas.observations import Observation, parse_period, place_of
from schemas.thresholds import IndicatorOut, ThresholdRule
from schemas.topics import EXERCISE_STATUSES
from services.evaluator.compose import Context, compose
from services.evaluator.engine import Kind, Reading, Reason, evaluate
from services.evaluator.models import OutgoingAlert, Series, StoredReading
from services.evaluator.reconcile import Published, reconcile
from services.evaluator.rules import RuleBook

log = structlog.get_logger(__name__)

ACTUAL, EXERCISE = "actual", "exercise"


def traffic_of(observation: Observation) -> str:
    """Which series an observation moves: the real ones, an exercise's, or one exercise run's
    (`exercise/RUN`: two runs of a scenario in the same week each raise their own alerts)."""
    if observation.status not in EXERCISE_STATUSES:
        return ACTUAL
    run = exercise_run_of(observation.note)
    return f"{EXERCISE}/{run[0]}" if run else EXERCISE


@dataclass(frozen=True)
class Watch:
    """One series to replay, with what composing its messages needs (read before the
    transaction, so that no registry call happens while rows are locked)."""

    rule: ThresholdRule
    traffic: str
    region: str
    station: str | None
    indicator: IndicatorOut
    region_names: dict[str, str]
    sender: str
    note: str | None = None
    """The exercise run's note, carried by the alerts it causes."""

    @property
    def place(self) -> str:
        return place_of(self.region, self.station)


async def handle_observations(
    envelope: ObservationsReported,
    *,
    sessions: async_sessionmaker[AsyncSession],
    book: RuleBook,
    now: datetime | None = None,
) -> int:
    """Store a place's observations and replay every series they move; messages written."""
    first = envelope.observations[0]
    traffic = traffic_of(first)
    indicators = {o.indicator for o in envelope.observations}
    rules = await book.watching(envelope.place, indicators)
    watches = [
        await _watch(book, rule, traffic, first.region, first.station, first.note) for rule in rules
    ]
    kinds = {i: await book.indicator(i) for i in indicators}
    now = now or datetime.now(UTC)
    async with sessions() as session, session.begin():
        for observation in envelope.observations:
            indicator = kinds[observation.indicator]
            if indicator is not None:
                await _store(session, observation, indicator, traffic)
        written = 0
        for watch in watches:
            written += await _replay(session, watch, now=now)
    return written


async def check_open_series(
    *, sessions: async_sessionmaker[AsyncSession], book: RuleBook, now: datetime | None = None
) -> int:
    """Replay every series with an alert in force at `now`: a silent one says it has no data,
    a retired rule ends its alerts. Messages written."""
    async with sessions() as session:
        open_series = (await session.scalars(select(Series).where(Series.open))).all()
        keys = [(s.rule_id, s.traffic, s.place) for s in open_series]
    return await _replay_all(keys, sessions=sessions, book=book, now=now)


async def replay_rules(
    rule_ids: Collection[str],
    *,
    sessions: async_sessionmaker[AsyncSession],
    book: RuleBook,
    now: datetime | None = None,
) -> int:
    """Replay every series of these (changed) rules from the readings held, alerting or not: a
    version effective from a past date judges those periods again now, not at the next figure.
    Messages written."""
    rules = await book.rules()
    keys = []
    async with sessions() as session:
        for rule in (rules[i] for i in rule_ids if i in rules):
            places = [place_of(region, rule.latest.station) for region in rule.latest.regions]
            held = await session.execute(
                select(StoredReading.traffic, StoredReading.place)
                .where(StoredReading.place.in_(places))
                .where(StoredReading.indicator.in_(rule.latest.indicators))
                .distinct()
            )
            keys += [(rule.id, traffic, place) for traffic, place in held]
    return await _replay_all(keys, sessions=sessions, book=book, now=now)


async def _replay_all(
    keys: list[tuple[str, str, str]],
    *,
    sessions: async_sessionmaker[AsyncSession],
    book: RuleBook,
    now: datetime | None,
) -> int:
    """Replay these (rule, traffic, place) series, each in a transaction of its own."""
    rules = await book.rules()
    now = now or datetime.now(UTC)
    written = 0
    for rule_id, traffic, place in keys:
        rule = rules.get(rule_id)
        if rule is None:
            continue
        region, _, station = place.partition("/")
        watch = await _watch(book, rule, traffic, region, station or None)
        async with sessions() as session, session.begin():
            written += await _replay(session, watch, now=now)
    return written


async def _watch(
    book: RuleBook,
    rule: ThresholdRule,
    traffic: str,
    region: str,
    station: str | None,
    note: str | None = None,
) -> Watch:
    indicator = await book.indicator(rule.latest.indicator)
    if indicator is None:
        raise LookupError(f"{rule.id} watches {rule.latest.indicator}, not in the catalogue")
    return Watch(
        rule, traffic, region, station, indicator,
        await book.region_names(region), await book.sender_of(rule.owner), note,
    )  # fmt: skip


async def _store(
    session: AsyncSession, observation: Observation, indicator: IndicatorOut, traffic: str
) -> None:
    key = (traffic, observation.place, observation.indicator, observation.period)
    row = await session.get(StoredReading, key)
    if row is None:
        row = StoredReading(
            traffic=traffic, place=observation.place, indicator=observation.indicator,
            period=observation.period,
        )  # fmt: skip
        session.add(row)
    elif row.reported_at > observation.reported_at:
        return  # an older report of the period, read late: the newer one stands
    row.start = parse_period(indicator.period, observation.period).start
    row.value = observation.value
    row.numerator = observation.numerator
    row.denominator = observation.denominator
    row.source = observation.source
    row.reported_at = observation.reported_at


async def _replay(session: AsyncSession, watch: Watch, *, now: datetime) -> int:
    """Replay one series, write the messages it asks for, and keep what was said."""
    readings = await _readings(session, watch)
    evaluation = evaluate(watch.rule, readings, now=now)
    key = (watch.traffic, watch.rule.id, watch.place)
    series = await session.get(Series, key, with_for_update=True)
    if series is None:
        series = Series(
            traffic=watch.traffic, rule_id=watch.rule.id, place=watch.place, said_json="[]",
            level=None, no_data=False, open=False, state="normal", messages=0,
            note=watch.note,
        )  # fmt: skip
        session.add(series)
    published = Published(
        actions=tuple(
            (Kind(k), Reason(r), Severity(lv), e) for k, r, lv, e in json.loads(series.said_json)
        ),
        level=Severity(series.level) if series.level else None,
        no_data=series.no_data,
    )
    decision = reconcile(published, evaluation)
    status = Status.ACTUAL if watch.traffic == ACTUAL else Status.EXERCISE
    sent = now.replace(microsecond=0)
    for action in decision.send:
        series.messages += 1
        previous = (
            Reference.model_validate(series.last_reference) if series.last_reference else None
        )
        context = Context(
            rule=watch.rule, indicator=watch.indicator, place=watch.place, region=watch.region,
            station=watch.station, region_names=watch.region_names, sender=watch.sender,
            status=status, number=series.messages, previous=previous,
            exercise_note=series.note,
        )  # fmt: skip
        alert = compose(action, evaluation, context, sent=sent)
        session.add(
            OutgoingAlert(
                owner=watch.rule.owner,
                series=f"{watch.traffic}/{watch.rule.id}/{watch.place}",
                identifier=alert.identifier,
                cap_json=alert.model_dump_json(exclude_none=True),
                created_at=now,
                attempts=0,
            )
        )
        ended = action.kind is Kind.CANCEL
        series.last_reference = (
            None
            if ended
            else str(Reference(sender=alert.sender, identifier=alert.identifier, sent=sent))
        )
        log.info(
            "threshold_message", rule=watch.rule.id, place=watch.place, traffic=watch.traffic,
            kind=action.kind.value, reason=action.reason.value, severity=action.level.value,
            period=action.period.label, alert=f"{alert.sender},{alert.identifier}",
        )  # fmt: skip
    record = decision.record
    series.said_json = json.dumps(
        [[k.value, r.value, lv.value, e] for k, r, lv, e in record.actions]
    )
    series.level = record.level.value if record.level else None
    series.no_data = record.no_data
    series.open = record.level is not None
    series.state = evaluation.state.value
    series.evaluated_at = now
    return len(decision.send)


async def _readings(session: AsyncSession, watch: Watch) -> dict[str, dict[str, Reading]]:
    indicators = watch.rule.latest.indicators | {
        c.indicator for v in watch.rule.versions for lv in v.levels for c in lv.conditions
    }
    rows = await session.scalars(
        select(StoredReading).where(
            StoredReading.traffic == watch.traffic,
            StoredReading.place == watch.place,
            StoredReading.indicator.in_(indicators),
        )
    )
    readings: dict[str, dict[str, Reading]] = {}
    kind = watch.indicator.period
    for row in rows:
        period = parse_period(kind, row.period)
        readings.setdefault(row.indicator, {})[row.period] = Reading(
            period, row.value, row.numerator, row.denominator
        )
    return readings
