"""The after-action report's figures against a run whose every time is known.

`sample_run` is a run of three injects seen by four contact points of three organisations:
- be-ncccgc-desk acknowledges `flood` after 30 s and `flood-update` after 90 s (its limit: 60 s);
- lu-cgdis-cis acknowledges `flood` after 200 s;
- fr-cogic-ops never acknowledges; its mail of `flood-update` fails and no console of it is
  open, so its silence is escalated twice, and fr-cogic-chief receives `flood` that way;
- nl-lcms is expected to receive `flood`, but the network never addresses it.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from schemas.cap import MsgType
from schemas.console import AlertState, Escalation
from schemas.deliveries import DeliveryReport, DeliveryView
from schemas.envelopes import AlertKey, Channel, DeliveryStatus
from schemas.exercise import (
    ExerciseReport,
    Expectation,
    InjectKind,
    Participants,
    RunRecord,
    RunState,
    SentInject,
)
from schemas.registry import Reason
from services.common.stats import percentile
from services.exercise.report import build_report, render_html, render_json, timing

START = datetime(2025, 3, 4, 9, 0, tzinfo=UTC)
NOW = START + timedelta(hours=1)
SENDER = "be-ncccgc@crossalert.example"
FAILED_MAIL = "550 5.1.1 <ops@cogic.example>: mailbox unavailable"

NAMES = {
    "be-ncccgc-desk": ("be-ncccgc", "NCCN", "NCCN duty desk"),
    "lu-cgdis-cis": ("lu-cgdis", "CGDIS", "CGDIS 112 centre"),
    "fr-cogic-ops": ("fr-cogic", "COGIC", "COGIC operations"),
    "fr-cogic-chief": ("fr-cogic", "COGIC", "COGIC chief on duty"),
}


def sent(name: str, minutes: float, identifier: str | None, **fields: object) -> SentInject:
    kind = InjectKind.OBSERVATIONS if identifier is None else InjectKind.ALERT
    return SentInject.model_validate(
        {
            "name": name,
            "kind": fields.pop("kind", kind),
            "at": timedelta(minutes=minutes),
            "sent_at": START + timedelta(minutes=minutes, seconds=1),
            "sender": "be-ncccgc",
            "cap_sender": SENDER if identifier else None,
            "identifier": identifier,
            "msg_type": MsgType.ALERT if identifier else None,
            "status_code": 202,
            **fields,
        }
    )


def view(
    inject: SentInject,
    contact_point: str,
    channel: Channel = Channel.CONSOLE,
    *,
    delivered: float | None = None,
    acknowledged: float | None = None,
    asked: bool = True,
    failed: str | None = None,
    escalation: bool = False,
) -> DeliveryView:
    """One delivery of `inject`, its times given in seconds after the run sent it."""

    def after(seconds: float | None) -> datetime | None:
        return None if seconds is None else inject.sent_at + timedelta(seconds=seconds)

    organisation, organisation_name, name = NAMES[contact_point]
    email = channel is Channel.EMAIL
    if failed is not None:
        status = DeliveryStatus.FAILED
    elif acknowledged is not None and not email:
        status = DeliveryStatus.ACKNOWLEDGED
    elif delivered is not None:
        status = DeliveryStatus.SENT if email else DeliveryStatus.DELIVERED
    else:
        status = DeliveryStatus.PENDING if email else DeliveryStatus.SENT
    return DeliveryView(
        contact_point=contact_point,
        contact_point_name=name,
        organisation=organisation,
        organisation_name=organisation_name,
        channel=channel,
        status=status,
        language="fr-BE",
        language_available=True,
        escalation=escalation,
        reasons=[Reason(kind="escalation" if escalation else "area", detail="Meuse basin")],
        created_at=inject.sent_at + timedelta(seconds=0.5),
        # The notifier knows of a mail only that the mail server took it (sent_at).
        sent_at=after(delivered if email else 0.5),
        delivered_at=None if email else after(delivered),
        failed_at=after(40) if failed is not None else None,
        attempts=1 if email else 0,
        detail=failed,
        ack_deadline=after(300) if asked else None,
        acknowledged_at=after(acknowledged),
        acknowledged_by=None if acknowledged is None else f"officer.{organisation}",
        acknowledgement_note=None,
    )


def report_of(
    inject: SentInject, views: list[DeliveryView], escalations: list[Escalation]
) -> DeliveryReport:
    assert inject.identifier is not None
    key = AlertKey(sender=SENDER, identifier=inject.identifier)
    return DeliveryReport(
        alert=key,
        chain=key,
        exercise=True,
        state=AlertState.ACTIVE,
        received_at=inject.sent_at + timedelta(seconds=0.2),
        deliveries=views,
        escalations=escalations,
        history=[],
    )


def escalated(inject: SentInject) -> Escalation:
    return Escalation(
        missed_by="fr-cogic-ops",
        deadline=inject.sent_at + timedelta(seconds=300),
        escalated_at=inject.sent_at + timedelta(seconds=301),
        notified=["fr-cogic-chief"],
    )


def record_of(injects: list[SentInject], **fields: object) -> RunRecord:
    return RunRecord.model_validate(
        {
            "run_id": "run-20250304-0900",
            "scenario": "Meuse flood, March",
            "scenario_file": "exercise.meuse.yaml",
            "objectives": [
                "Warn every riparian crisis centre within 5 minutes.",
                "Acknowledge alerts within the agreed time.",
            ],
            "participants": Participants(
                organisations=["be-ncccgc", "lu-cgdis", "fr-cogic", "nl-lcms"]
            ),
            "speed": 10.0,
            "started_at": START,
            "ended_at": START + timedelta(minutes=30),
            "state": RunState.FINISHED,
            "injects": injects,
            "planned": len(injects),
            **fields,
        }
    )


def sample_run() -> tuple[RunRecord, dict[str, DeliveryReport]]:
    flood = sent(
        "flood",
        0,
        "ex-run-flood",
        expect=Expectation(
            received_by=["be-ncccgc-desk", "fr-cogic-ops", "nl-lcms"],
            acknowledged_by=["be-ncccgc-desk", "lu-cgdis-cis"],
            within=timedelta(minutes=5),
        ),
    )
    gauges = sent("gauges", 5, None)
    update = sent(
        "flood-update",
        10,
        "ex-run-flood-update",
        kind=InjectKind.UPDATE,
        expect=Expectation(
            received_by=["fr-cogic-ops"],
            acknowledged_by=["be-ncccgc-desk", "fr-cogic-ops"],
            within=timedelta(minutes=1),
        ),
    )
    deliveries = {
        "ex-run-flood": report_of(
            flood,
            [
                view(flood, "be-ncccgc-desk", delivered=3, acknowledged=30),
                view(flood, "be-ncccgc-desk", Channel.EMAIL, delivered=2.1, acknowledged=30),
                view(flood, "lu-cgdis-cis", delivered=12, acknowledged=200),
                view(flood, "fr-cogic-ops", delivered=5),
                view(flood, "fr-cogic-chief", delivered=310, asked=False, escalation=True),
            ],
            [escalated(flood)],
        ),
        "ex-run-flood-update": report_of(
            update,
            [
                view(update, "be-ncccgc-desk", delivered=4, acknowledged=90),
                view(update, "fr-cogic-ops"),
                view(update, "fr-cogic-ops", Channel.EMAIL, failed=FAILED_MAIL),
            ],
            [escalated(update)],
        ),
    }
    return record_of([flood, gauges, update]), deliveries


def sample_report() -> ExerciseReport:
    record, deliveries = sample_run()
    return build_report(record, deliveries, now=NOW)


def test_percentiles_interpolate_between_samples() -> None:
    assert percentile([30, 90], 90) == pytest.approx(84)
    assert percentile([10, 20, 30, 40], 90) == pytest.approx(37)
    figures = timing([200, 30, 90])
    assert (figures.count, figures.median, figures.worst) == (3, 90, 200)
    assert figures.p90 == pytest.approx(178)
    assert timing([]).model_dump() == {"count": 0, "median": None, "p90": None, "worst": None}


def test_the_timeline_counts_who_was_reached_and_who_acknowledged() -> None:
    report = sample_report()

    assert [(r.inject, r.kind, r.reached, r.acknowledged) for r in report.timeline] == [
        ("flood", InjectKind.ALERT, 4, 2),
        ("gauges", InjectKind.OBSERVATIONS, 0, 0),
        ("flood-update", InjectKind.UPDATE, 1, 1),
    ]
    assert report.timeline[2].sent_at == START + timedelta(minutes=10, seconds=1)


def test_each_contact_point_has_its_own_figures() -> None:
    rows = {row.contact_point: row for row in sample_report().contact_points}

    assert list(rows) == ["be-ncccgc-desk", "fr-cogic-chief", "fr-cogic-ops", "lu-cgdis-cis"]
    desk = rows["be-ncccgc-desk"]
    assert desk.channels == ["console", "email"]
    assert desk.messages == 2
    # Earliest delivery per message over both channels: the mail (2.1 s), then the console (4 s).
    assert (desk.delivered.count, desk.delivered.median, desk.delivered.worst) == (2, 3.05, 4)
    assert desk.delivered.p90 == pytest.approx(3.81)
    assert desk.acknowledged.model_dump() == {
        "count": 2, "median": 60.0, "p90": pytest.approx(84.0), "worst": 90.0,
    }  # fmt: skip
    assert (desk.never_acknowledged, desk.failed, desk.escalations) == ([], 0, 0)

    centre = rows["lu-cgdis-cis"]
    assert centre.acknowledged.model_dump() == {
        "count": 1, "median": 200.0, "p90": 200.0, "worst": 200.0,
    }  # fmt: skip
    assert (centre.organisation_name, centre.contact_point_name) == ("CGDIS", "CGDIS 112 centre")

    silent = rows["fr-cogic-ops"]
    assert silent.messages == 1  # the update reached neither its console nor its mailbox
    assert silent.acknowledged.count == 0 and silent.acknowledged.median is None
    assert silent.never_acknowledged == ["flood", "flood-update"]
    assert (silent.failed, silent.escalations) == (1, 2)

    chief = rows["fr-cogic-chief"]  # reached by escalation, asked for no acknowledgement
    assert chief.delivered.worst == 310
    assert chief.never_acknowledged == []


def test_expectations_are_met_or_missed_with_what_happened() -> None:
    results = [
        (r.inject, r.contact_point, r.expected, r.within_seconds, r.met, r.detail)
        for r in sample_report().expectations
    ]

    assert results == [
        ("flood", "be-ncccgc-desk", "receive", None, True, "delivered by email after 2.1 s"),
        ("flood", "fr-cogic-ops", "receive", None, True, "delivered by console after 5 s"),
        ("flood", "nl-lcms", "receive", None, False,
         "no delivery reached it (the network did not address it)"),
        ("flood", "be-ncccgc-desk", "acknowledge", 300, True,
         "acknowledged after 30 s, within 300 s"),
        ("flood", "lu-cgdis-cis", "acknowledge", 300, True,
         "acknowledged after 200 s, within 300 s"),
        ("flood-update", "fr-cogic-ops", "receive", None, False,
         f"no delivery reached it (no console of it received it; mail failed: {FAILED_MAIL})"),
        ("flood-update", "be-ncccgc-desk", "acknowledge", 60, False,
         "acknowledged after 90 s, later than 60 s"),
        ("flood-update", "fr-cogic-ops", "acknowledge", 60, False,
         "not acknowledged: no delivery reached it (no console of it received it; "
         f"mail failed: {FAILED_MAIL})"),
    ]  # fmt: skip


def test_missed_expectations_and_failed_mail_become_corrective_actions() -> None:
    actions = sample_report().corrective_actions

    assert [(a.organisation, a.owner, a.due) for a in actions] == [
        ("unknown", None, None),
        ("fr-cogic", None, None),
        ("be-ncccgc", None, None),
        ("fr-cogic", None, None),
        ("fr-cogic", None, None),
    ]
    assert actions[0].issue == (
        "flood: nl-lcms was expected to receive it; no delivery reached it "
        "(the network did not address it)."
    )
    assert actions[2].issue == (
        "flood-update: NCCN duty desk (be-ncccgc-desk) was expected to acknowledge it within "
        "60 s; acknowledged after 90 s, later than 60 s."
    )
    assert actions[4].issue == (
        f"Mail to COGIC operations (fr-cogic-ops) failed: {FAILED_MAIL} (flood-update)."
    )


def test_json_carries_the_whole_report() -> None:
    report = sample_report()
    document = render_json(report)

    assert ExerciseReport.model_validate_json(document) == report
    data = json.loads(document)
    assert data["made_at"] == "2025-03-04T10:00:00Z"
    assert data["ratings"][0] == "Performed without challenges"


def test_the_page_shows_the_figures_charts_and_plan() -> None:
    page = render_html(sample_report())

    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<svg ") == 2
    assert 'id="timeline-chart"' in page and 'id="acknowledgement-chart"' in page
    assert "4 of 8 expectations met, 4 missed." in page
    assert "The run finished at 2025-03-04 09:30:00 UTC after 3 injects." in page
    assert "scenario time ran 10× the clock" in page
    assert page.count("\u2610 Performed with major challenges") == 2  # one per objective
    assert "Objective 1: Warn every riparian crisis centre within 5 minutes." in page
    assert f"failed: {FAILED_MAIL.replace('<', '&lt;').replace('>', '&gt;')}" in page
    # The desk's row: acknowledgements 2, median 60, p90 84, worst 90.
    assert re.search(
        r"NCCN duty desk \(be-ncccgc-desk\)</td>.*?"
        r'<td class="n">2</td><td class="n">60</td><td class="n">84</td><td class="n">90</td>',
        page,
    )
    assert "60 / 90 s" in page  # the chart's label for the desk
    assert 'id="timeline-clip' not in page  # ids carry the chart's prefix only at their start
    assert not re.search(r"https?:|//[a-z]|<script|<link|<img|@import|@font-face", page)


def test_a_stopped_run_covers_what_happened_until_it_was_stopped() -> None:
    record, deliveries = sample_run()
    stopped = record_of(
        record.injects[:2],
        state=RunState.STOPPED,
        ended_at=START + timedelta(minutes=7),
        planned=3,
    )

    report = build_report(stopped, deliveries, now=NOW)
    page = render_html(report)

    assert (report.state, report.planned) == (RunState.STOPPED, 3)
    assert [row.inject for row in report.timeline] == ["flood", "gauges"]
    assert "flood-update" not in {r.inject for r in report.expectations}
    assert (
        "The run was stopped at 2025-03-04 09:07:00 UTC after 2 of 3 planned injects: this "
        "report covers what happened until it was stopped."
    ) in page


def test_a_run_that_reached_no_one_still_renders() -> None:
    record, _ = sample_run()

    report = build_report(record, {}, now=NOW)
    page = render_html(report)

    assert report.contact_points == []
    assert [(r.reached, r.acknowledged) for r in report.timeline] == [(0, 0)] * 3
    assert not any(r.met for r in report.expectations)
    assert report.expectations[0].detail == (
        "no delivery reached it (the notifier has no record of the message)"
    )
    assert "No delivery recorded." in page
    assert page.count("<svg ") == 1  # the timeline; no acknowledgement chart
    assert "0 of 8 expectations met, 8 missed." in page


def test_an_inject_the_gateway_did_not_take_is_marked_on_the_timeline() -> None:
    record, deliveries = sample_run()
    refused = record_of(
        [record.injects[0], record.injects[2].model_copy(update={"status_code": 0})]
    )

    page = render_html(build_report(refused, deliveries, now=NOW))

    assert re.search(r"<text[^>]*>gateway: no answer</text>", page)
    assert "<td>no answer</td>" not in page and '<td class="n">no answer</td>' in page


def test_a_run_that_sent_nothing_renders() -> None:
    report = build_report(
        record_of([], state=RunState.FAILED, planned=3, objectives=[]), {}, now=NOW
    )
    page = render_html(report)

    assert "<svg" not in page
    assert "No inject was sent." in page
    assert "The scenario names no objective to rate." in page
    assert "this report covers what happened until it failed." in page


def test_names_are_text_in_the_page_and_in_its_charts() -> None:
    hostile = "<script>alert(1)</script> & $x^2$"
    NAMES["be-ncccgc-desk"] = ("be-ncccgc", hostile, hostile)
    try:
        page = render_html(sample_report())
    finally:
        NAMES["be-ncccgc-desk"] = ("be-ncccgc", "NCCN", "NCCN duty desk")

    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; $x^2$" in page
    # In the chart, the dollars are shown as they are, not read as mathematics.
    assert re.search(r"<text[^>]*>&lt;script&gt;alert\(1\)&lt;/script&gt; &amp; \$x\^2\$", page)
