"""Communication checks: does every contact point of a chosen set receive the network's
messages, on every channel, and answer?

A check sends one short Exercise message addressed to the set (CAP scope Private: the
registry's routing reaches exactly the contact points its addresses name, and nobody else),
with the planner's API client (scope `exercises:plan`). Until the deadline it reads the
notifier's delivery report of that message: per contact point, whether an open console showed
it, whether the mail server took the e-mail (or refused it, and how), and who acknowledged it
how soon. Each check is recorded; the trend is reachability per organisation and channel over
the recorded checks, as the IHR's communication exercises report it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from schemas.deliveries import DeliveryReport, DeliveryView
from schemas.envelopes import Channel, DeliveryStatus
from schemas.exercise import (
    ChannelCheck,
    CheckRecord,
    ContactCheck,
    TrendCell,
    TrendRow,
)
from schemas.identity import Scope
from services.common.registry_client import RegistryClient, issued_claims
from services.exercise.runner import (
    RUNS_DIR,
    TIMEOUT_SECONDS,
    Client,
    Endpoints,
    new_run_id,
    registry_client,
)
from services.exercise.scenario import as_exercise

CHECKS_DIR = RUNS_DIR / "checks"
POLL_SECONDS = 1.0

_TEXTS = {
    "en": ("Communication check — please acknowledge",
           "Exercise only: a check that this contact point receives the network's messages. "
           "Nothing is happening; acknowledge, nothing more."),
    "fr": ("Test de communication — merci d'accuser réception",
           "Exercice uniquement : vérification que ce point de contact reçoit les messages du "
           "réseau. Il ne se passe rien ; accusez réception, rien de plus."),
    "nl": ("Communicatietest — bevestig a.u.b. de ontvangst",
           "Alleen oefening: controle of dit contactpunt de berichten van het netwerk ontvangt. "
           "Er is niets aan de hand; bevestig de ontvangst, verder niets."),
    "de": ("Kommunikationstest — bitte Empfang bestätigen",
           "Nur Übung: Prüfung, ob diese Kontaktstelle die Meldungen des Netzes erhält. "
           "Es liegt nichts vor; bitte nur den Empfang bestätigen."),
}  # fmt: skip

_DURATION = re.compile(r"^(?P<count>\d+)(?P<unit>[smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> timedelta:
    """`30s`, `15m`, `2h`, `30d` (ValueError otherwise)."""
    match = _DURATION.match(text.strip())
    if match is None or int(match["count"]) == 0:
        raise ValueError(f"{text!r} is no duration like 30s, 15m, 2h or 30d")
    return timedelta(**{_UNITS[match["unit"]]: int(match["count"])})


def check_path(checks: Path, check_id: str) -> Path:
    return checks / f"{check_id}.json"


def read_checks(checks: Path) -> list[CheckRecord]:
    """Every recorded check, oldest first."""
    found = [CheckRecord.model_validate_json(p.read_bytes()) for p in checks.glob("*.json")]
    return sorted(found, key=lambda c: c.sent_at)


def check_message(
    check_id: str, addresses: list[str], *, sender: str, category: str, sent: datetime
) -> dict[str, str | list[str] | list[dict[str, object]]]:
    """The check's CAP message: an Exercise addressed to the set, in the four languages."""
    info = [
        {"language": language, "category": [category], "event": "Communication check",
         "urgency": "Unknown", "severity": "Minor", "certainty": "Unknown",
         "headline": headline, "description": description,
         "area": [{"areaDesc": "crossalert network"}]}
        for language, (headline, description) in _TEXTS.items()
    ]  # fmt: skip
    return as_exercise(
        {"msgType": "Alert", "scope": "Private", "addresses": addresses, "info": info},
        identifier=f"exercise.{check_id}.check", sender=sender, sent=sent,
        note=f"Communication check {check_id}",
    )  # fmt: skip


async def run_check(
    client: Client,
    endpoints: Endpoints,
    addresses: list[str],
    deadline: timedelta,
    *,
    checks: Path = CHECKS_DIR,
    check_id: str | None = None,
    poll_seconds: float = POLL_SECONDS,
) -> CheckRecord:
    """Send one check, follow it until everyone answered or the deadline passed, record it."""
    check_id = check_id or new_run_id()
    async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS) as http:
        registry = registry_client(endpoints, client, http)
        token = await registry.token(Scope.EXERCISES_PLAN)
        claims = issued_claims(token)
        categories = list(claims.get("categories") or ["Other"])
        sent_at = datetime.now(UTC)
        message = check_message(
            check_id, addresses, sender=claims["sender"],
            category="Other" if "Other" in categories else categories[0], sent=sent_at,
        )  # fmt: skip
        answer = await http.post(
            endpoints.gateway_url + "/v1/alerts", json=message,
            headers={"Authorization": f"Bearer {token}"},
        )  # fmt: skip
        record = CheckRecord(
            check_id=check_id, addresses=addresses, sent_at=sent_at,
            deadline_seconds=deadline.total_seconds(), cap_sender=message["sender"],
            identifier=message["identifier"], status_code=answer.status_code,
            answer=answer.json() if answer.headers.get("content-type", "").endswith("json")
            else answer.text[:2000],
        )  # fmt: skip
        if answer.is_success:
            report = await _follow(http, registry, endpoints, record, deadline, poll_seconds)
            if report is not None:
                found = contact_checks(record, report)
                record = record.model_copy(update={"contact_points": found})
    record = record.model_copy(update={"ended_at": datetime.now(UTC)})
    save_check(checks, record)
    return record


def save_check(checks: Path, record: CheckRecord) -> None:
    checks.mkdir(parents=True, exist_ok=True)
    check_path(checks, record.check_id).write_text(record.model_dump_json(indent=2), "utf-8")


async def _follow(
    http: httpx.AsyncClient,
    registry: RegistryClient,
    endpoints: Endpoints,
    record: CheckRecord,
    deadline: timedelta,
    poll_seconds: float,
) -> DeliveryReport | None:
    """The delivery report at the deadline, or as soon as nothing more can change."""
    url = f"{endpoints.notifier_url}/v1/alerts/{record.cap_sender}/{record.identifier}/deliveries"
    until = asyncio.get_running_loop().time() + deadline.total_seconds()
    report: DeliveryReport | None = None
    while True:
        answer = await http.get(
            url, headers={"Authorization": f"Bearer {await registry.token(Scope.ALERTS_READ)}"}
        )
        if answer.status_code == 200:
            report = DeliveryReport.model_validate_json(answer.content)
            if report.deliveries and all(_settled(d) for d in report.deliveries):
                return report
        elif answer.status_code != 404:  # 404: the notifier has not taken it in yet
            answer.raise_for_status()
        left = until - asyncio.get_running_loop().time()
        if left <= 0:
            return report
        await asyncio.sleep(min(poll_seconds, left))


def _settled(delivery: DeliveryView) -> bool:
    # Nothing more to learn of it: acknowledged (once per contact point, on whichever
    # channel), and an e-mail taken or refused for good.
    mailed = delivery.channel is not Channel.EMAIL or bool(delivery.sent_at or delivery.failed_at)
    return delivery.acknowledged_at is not None and mailed


def contact_checks(record: CheckRecord, report: DeliveryReport) -> list[ContactCheck]:
    """Per contact point: each channel's outcome and the acknowledgement, from the report."""
    by_contact: dict[str, list[DeliveryView]] = {}
    for delivery in report.deliveries:
        by_contact.setdefault(delivery.contact_point, []).append(delivery)

    def seconds(moment: datetime | None) -> float | None:
        return None if moment is None else round((moment - record.sent_at).total_seconds(), 3)

    found = []
    for contact_point, rows in sorted(
        by_contact.items(), key=lambda item: (item[1][0].organisation, item[0])
    ):
        first = rows[0]
        acked = min((r for r in rows if r.acknowledged_at), key=lambda r: r.acknowledged_at or 0,
                    default=None)  # fmt: skip
        channels = []
        for row in sorted(rows, key=lambda r: r.channel):
            # A console has it once one showed it (an officer's acknowledgement proves one
            # did); an e-mail, once the mail server took it.
            reached = (
                (row.delivered_at or row.acknowledged_at)
                if row.channel is Channel.CONSOLE
                else row.sent_at
            )
            channels.append(ChannelCheck(
                channel=row.channel, status=row.status, reached_at=reached,
                seconds=seconds(reached), detail=row.detail,
            ))  # fmt: skip
        acknowledged_at = acked.acknowledged_at if acked else None
        found.append(ContactCheck(
            organisation=first.organisation, organisation_name=first.organisation_name,
            contact_point=contact_point, contact_point_name=first.contact_point_name,
            channels=channels, acknowledged_at=acknowledged_at,
            ack_seconds=seconds(acknowledged_at),
            acknowledged_by=acked.acknowledged_by if acked else None,
        ))  # fmt: skip
    return found


def trend(records: Iterable[CheckRecord]) -> list[TrendRow]:
    """Per organisation and channel (and acknowledgements): reached / addressed, check by check."""
    rows: dict[tuple[str, str], list[TrendCell]] = {}
    for record in records:
        counts: dict[tuple[str, str], list[int]] = {}
        for contact in record.contact_points:
            for channel in contact.channels:
                count = counts.setdefault((contact.organisation, channel.channel.value), [0, 0])
                count[0] += channel.reached_at is not None
                count[1] += 1
            count = counts.setdefault((contact.organisation, "acknowledged"), [0, 0])
            count[0] += contact.acknowledged_at is not None
            count[1] += 1
        for key, (reached, total) in counts.items():
            rows.setdefault(key, []).append(TrendCell(
                check_id=record.check_id, sent_at=record.sent_at, reached=reached, total=total,
            ))  # fmt: skip
    order = {"console": 0, "email": 1, "acknowledged": 2}
    return [
        TrendRow(organisation=org, channel=channel, cells=cells)
        for (org, channel), cells in sorted(rows.items(), key=lambda i: (i[0][0], order[i[0][1]]))
    ]


def problems(record: CheckRecord) -> list[str]:
    """What the check found wrong, one sentence each."""
    found = []
    if record.status_code >= 300 or record.status_code == 0:
        found.append(f"the gateway refused the check ({record.status_code}): {record.answer}")
    elif not record.contact_points:
        found.append("nobody was reached: the addresses name no contact point, or the notifier "
                     "had not taken the check in by the deadline")  # fmt: skip
    for contact in record.contact_points:
        for channel in contact.channels:
            if channel.reached_at is None:
                found.append(f"{contact.contact_point} ({contact.organisation}) did not receive "
                             f"it by {channel.channel.value} ({_why(channel)})")  # fmt: skip
        if contact.acknowledged_at is None:
            found.append(f"{contact.contact_point} ({contact.organisation}) did not acknowledge "
                         f"within {record.deadline_seconds:g} s")  # fmt: skip
    return found


def _why(channel: ChannelCheck) -> str:
    if channel.channel is Channel.CONSOLE and channel.status is not DeliveryStatus.FAILED:
        return "no console of it was open"
    return f"{channel.status.value}: {channel.detail}" if channel.detail else channel.status.value
