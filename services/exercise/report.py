"""The after-action report of an exercise run, and the improvement plan to fill in after it.

After an exercise, its planners and the participating crisis centres sit down to say what went
well and what must change (the HSEEP after-action report / improvement plan). This module turns
the run's record and the notifier's delivery reports into the facts they need for that: what was
sent when, which contact point received and acknowledged what and how fast, which of the
planner's expectations were met, and a first list of corrective actions. Owners, dates and the
ratings of each objective are left for the participants to fill in.

`build_report` computes the figures (`ExerciseReport`); `render_json` and `render_html` write
them out. The HTML page stands alone: inline CSS and inline SVG charts, no script, and nothing
loaded from anywhere, so it can be mailed, archived or opened on an isolated desk.
"""

from __future__ import annotations

import html
import io
import re
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import matplotlib
from matplotlib.figure import Figure

from schemas.deliveries import DeliveryReport, DeliveryView
from schemas.envelopes import Channel, DeliveryStatus
from schemas.exercise import (
    ContactPointRow,
    CorrectiveAction,
    ExerciseReport,
    ExpectationResult,
    InjectKind,
    OrganisationRow,
    RunRecord,
    RunState,
    SentInject,
    TimelineRow,
    Timing,
)
from services.common.stats import percentile

# --- the figures -------------------------------------------------------------------------------


def timing(samples: list[float]) -> Timing:
    """Count, median, 90th percentile and worst of some seconds; None where there are none."""
    if not samples:
        return Timing(count=0, median=None, p90=None, worst=None)
    return Timing(
        count=len(samples),
        median=statistics.median(samples),
        p90=percentile(samples, 90),
        worst=max(samples),
    )


def delivered_at(view: DeliveryView) -> datetime | None:
    """When the delivery reached the contact point, as far as the network can tell.

    A console delivery is delivered when one of the contact point's consoles received it. The
    notifier never learns more of a mail than that the recipient's mail server accepted it, so
    for e-mail that acceptance (`sent_at`) is the delivery.
    """
    if view.delivered_at is not None:
        return view.delivered_at
    if view.channel is Channel.EMAIL and view.status is not DeliveryStatus.FAILED:
        return view.sent_at
    return None


@dataclass
class _Receipt:
    """What one message of the run did at one contact point, over all its channels."""

    inject: SentInject
    views: list[DeliveryView] = field(default_factory=list)

    def _after(self, moment: datetime) -> float:
        return (moment - self.inject.sent_at).total_seconds()

    @property
    def delivered(self) -> tuple[float, Channel] | None:
        """Seconds after sending of its earliest delivery, and that delivery's channel."""
        moments = [(d, v.channel) for v in self.views if (d := delivered_at(v)) is not None]
        if not moments:
            return None
        moment, channel = min(moments, key=lambda m: m[0])
        return self._after(moment), channel

    @property
    def acknowledged(self) -> float | None:
        """Seconds after sending of its acknowledgement (the notifier marks every channel)."""
        moments = [v.acknowledged_at for v in self.views if v.acknowledged_at is not None]
        return self._after(min(moments)) if moments else None

    @property
    def reached(self) -> bool:
        """An acknowledgement proves the message got there even if no delivery time did."""
        return self.delivered is not None or self.acknowledged is not None

    @property
    def acknowledgement_asked(self) -> bool:
        return any(v.ack_deadline is not None for v in self.views)


def build_report(
    record: RunRecord,
    deliveries: Mapping[str, DeliveryReport],
    *,
    now: datetime,
    raised: Iterable[DeliveryReport] = (),
) -> ExerciseReport:
    """The after-action report of a run, from the notifier's delivery report of each message.

    `deliveries` maps a CAP identifier the run sent to its delivery report; an identifier
    without one reached no one (or the notifier does not know it). `raised` are the alerts the
    threshold evaluator raised from the run's observations: each counts for the observations
    inject sent last before it, as what those figures made the network say. Contact points are
    those the network addressed, escalation contacts included.
    """
    receipts: dict[tuple[int, str], _Receipt] = {}
    people: dict[str, DeliveryView] = {}
    escalations: dict[str, int] = defaultdict(int)
    caused: dict[int, list[DeliveryReport]] = defaultdict(list)
    for report in raised:
        index = _cause(record, report)
        if index is not None:
            caused[index].append(report)
    for index, inject in enumerate(record.injects):
        delivery = deliveries.get(inject.identifier) if inject.identifier else None
        for found in [delivery] if delivery else caused.get(index, []):
            for view in found.deliveries:
                people.setdefault(view.contact_point, view)
                receipt = receipts.setdefault((index, view.contact_point), _Receipt(inject))
                receipt.views.append(view)
            for escalation in found.escalations:
                escalations[escalation.missed_by] += 1

    timeline = [
        TimelineRow(
            inject=inject.name,
            kind=inject.kind,
            at=inject.at,
            sent_at=inject.sent_at,
            sender=inject.sender,
            identifier=inject.identifier,
            status_code=inject.status_code,
            reached=sum(r.reached for (i, _), r in receipts.items() if i == index),
            acknowledged=sum(
                r.acknowledged is not None for (i, _), r in receipts.items() if i == index
            ),
            raised=[str(report.alert.identifier) for report in caused.get(index, [])],
        )
        for index, inject in enumerate(record.injects)
    ]
    expectations = _expectations(record, deliveries, receipts, people, caused)
    contact_points = _contact_points(receipts, people, escalations)
    participants = {
        *record.participants.organisations,
        *(inject.sender for inject in record.injects),
        *(view.organisation for view in people.values()),
    }
    return ExerciseReport(
        run_id=record.run_id,
        scenario=record.scenario,
        state=record.state,
        speed=record.speed,
        started_at=record.started_at,
        ended_at=record.ended_at,
        objectives=record.objectives,
        made_at=now,
        planned=record.planned,
        timeline=timeline,
        participants=sorted(participants),
        organisations=_organisations(receipts, people, contact_points),
        contact_points=contact_points,
        expectations=expectations,
        corrective_actions=_corrective_actions(expectations, receipts, people),
    )


def _contact_points(
    receipts: dict[tuple[int, str], _Receipt],
    people: dict[str, DeliveryView],
    escalations: Mapping[str, int],
) -> list[ContactPointRow]:
    by_contact_point: dict[str, list[_Receipt]] = defaultdict(list)
    for (_, contact_point), receipt in receipts.items():
        by_contact_point[contact_point].append(receipt)
    rows = []
    for contact_point, own in by_contact_point.items():
        person = people[contact_point]
        views = [v for r in own for v in r.views]
        rows.append(
            ContactPointRow(
                organisation=person.organisation,
                organisation_name=person.organisation_name,
                contact_point=contact_point,
                contact_point_name=person.contact_point_name,
                channels=sorted({v.channel.value for v in views}),
                messages=sum(r.reached for r in own),
                delivered=timing([d[0] for r in own if (d := r.delivered) is not None]),
                acknowledged=timing([a for r in own if (a := r.acknowledged) is not None]),
                # Whether or not a delivery got through: a contact point asked to acknowledge
                # a message that never reached it has not acknowledged it either.
                never_acknowledged=[
                    r.inject.name for r in own if r.acknowledgement_asked and r.acknowledged is None
                ],
                failed=sum(v.status is DeliveryStatus.FAILED for v in views),
                escalations=escalations.get(contact_point, 0),
            )
        )
    return sorted(rows, key=lambda row: (row.organisation, row.contact_point))


def _cause(record: RunRecord, report: DeliveryReport) -> int | None:
    """The observations inject sent last before the alert: the figures that raised it. (The
    evaluator dates its messages to the second: so is the comparison.)"""
    sent = next((e.sent for e in report.history if e.key == report.alert), report.received_at)
    causes = [
        index for index, inject in enumerate(record.injects)
        if inject.kind is InjectKind.OBSERVATIONS and inject.sent_at.replace(microsecond=0) <= sent
    ]  # fmt: skip
    return causes[-1] if causes else None


def _organisations(
    receipts: dict[tuple[int, str], _Receipt],
    people: dict[str, DeliveryView],
    rows: list[ContactPointRow],
) -> list[OrganisationRow]:
    """Each organisation's contact points taken together: what the other participants see."""
    by_organisation: dict[str, list[_Receipt]] = defaultdict(list)
    for (_, contact_point), receipt in receipts.items():
        by_organisation[people[contact_point].organisation].append(receipt)
    found = []
    for organisation, own in sorted(by_organisation.items()):
        own_rows = [row for row in rows if row.organisation == organisation]
        found.append(
            OrganisationRow(
                organisation=organisation,
                organisation_name=own_rows[0].organisation_name,
                contact_points=len(own_rows),
                messages=sum(row.messages for row in own_rows),
                delivered=timing([d[0] for r in own if (d := r.delivered) is not None]),
                acknowledged=timing([a for r in own if (a := r.acknowledged) is not None]),
                never_acknowledged=sum(len(row.never_acknowledged) for row in own_rows),
                failed=sum(row.failed for row in own_rows),
                escalations=sum(row.escalations for row in own_rows),
            )
        )
    return found


def _expectations(
    record: RunRecord,
    deliveries: Mapping[str, DeliveryReport],
    receipts: dict[tuple[int, str], _Receipt],
    people: dict[str, DeliveryView],
    caused: Mapping[int, list[DeliveryReport]],
) -> list[ExpectationResult]:
    def organisation(contact_point: str) -> str | None:
        person = people.get(contact_point)
        return person.organisation if person else None

    results = []
    for index, inject in enumerate(record.injects):
        expect = inject.expect
        if expect is None:
            continue
        raised = bool(caused.get(index))
        for contact_point in expect.received_by:
            receipt = receipts.get((index, contact_point))
            delivered = receipt.delivered if receipt else None
            acknowledged = receipt.acknowledged if receipt else None
            if delivered is not None:
                detail = f"delivered by {delivered[1].value} after {_seconds(delivered[0])}"
            elif acknowledged is not None:
                detail = f"acknowledged after {_seconds(acknowledged)} (no delivery time known)"
            else:
                detail = f"no delivery reached it ({_why_not(inject, deliveries, receipt, raised)})"
            results.append(
                ExpectationResult(
                    inject=inject.name,
                    contact_point=contact_point,
                    organisation=organisation(contact_point),
                    expected="receive",
                    within_seconds=None,
                    met=delivered is not None or acknowledged is not None,
                    detail=detail,
                )
            )
        within = expect.within.total_seconds() if expect.within is not None else None
        for contact_point in expect.acknowledged_by:
            receipt = receipts.get((index, contact_point))
            acknowledged = receipt.acknowledged if receipt else None
            met = acknowledged is not None and (within is None or acknowledged <= within)
            if acknowledged is None:
                detail = "not acknowledged"
                if receipt is None or not receipt.reached:
                    why = _why_not(inject, deliveries, receipt, raised)
                    detail += f": no delivery reached it ({why})"
            elif within is None:
                detail = f"acknowledged after {_seconds(acknowledged)}"
            elif met:
                detail = f"acknowledged after {_seconds(acknowledged)}, within {_seconds(within)}"
            else:
                detail = (
                    f"acknowledged after {_seconds(acknowledged)}, later than {_seconds(within)}"
                )
            results.append(
                ExpectationResult(
                    inject=inject.name,
                    contact_point=contact_point,
                    organisation=organisation(contact_point),
                    expected="acknowledge",
                    within_seconds=within,
                    met=met,
                    detail=detail,
                )
            )
    return results


def _why_not(
    inject: SentInject,
    deliveries: Mapping[str, DeliveryReport],
    receipt: _Receipt | None,
    raised: bool,
) -> str:
    """Why a message did not reach a contact point, as far as the notifier can tell."""
    if inject.kind is InjectKind.OBSERVATIONS:
        if not raised:
            return "no alert was raised from these observations"
        if receipt is None:
            return "the alerts raised from them did not address it"
    else:
        if inject.identifier is None:
            return "the inject sent no CAP message"
        if inject.identifier not in deliveries:
            return "the notifier has no record of the message"
        if receipt is None:
            return "the network did not address it"
    return "; ".join(_view_problem(view) for view in receipt.views)


def _view_problem(view: DeliveryView) -> str:
    reason = f": {view.detail}" if view.detail else ""
    if view.channel is Channel.EMAIL:
        if view.status is DeliveryStatus.FAILED:
            return f"mail failed{reason}"
        return f"mail not accepted yet{reason}"
    if view.status is DeliveryStatus.FAILED:
        return f"console delivery failed{reason}"
    return "no console of it received it"


def _corrective_actions(
    expectations: list[ExpectationResult],
    receipts: dict[tuple[int, str], _Receipt],
    people: dict[str, DeliveryView],
) -> list[CorrectiveAction]:
    actions = []
    for result in expectations:
        if result.met:
            continue
        within = ""
        if result.within_seconds is not None:
            within = f" within {_seconds(result.within_seconds)}"
        person = people.get(result.contact_point)
        actions.append(
            CorrectiveAction(
                issue=f"{result.inject}: {_who(result.contact_point, person)} was expected to "
                f"{result.expected} it{within}; {result.detail}.",
                organisation=person.organisation if person else "unknown",
            )
        )
    # One action per way a delivery failed, not one per failed message.
    failures: dict[tuple[str, Channel, str | None], list[str]] = defaultdict(list)
    for (_, contact_point), receipt in receipts.items():
        for view in receipt.views:
            if view.status is DeliveryStatus.FAILED:
                failures[(contact_point, view.channel, view.detail)].append(receipt.inject.name)
    for (contact_point, channel, detail), injects in failures.items():
        person = people[contact_point]
        what = "Mail" if channel is Channel.EMAIL else "Console delivery"
        actions.append(
            CorrectiveAction(
                issue=f"{what} to {_who(contact_point, person)} failed: "
                f"{detail or 'no reason recorded'} ({', '.join(injects)}).",
                organisation=person.organisation,
            )
        )
    return actions


def _who(contact_point: str, person: DeliveryView | None) -> str:
    if person is None or person.contact_point_name == contact_point:
        return contact_point
    return f"{person.contact_point_name} ({contact_point})"


def _number(seconds: float) -> str:
    """2.1, 30, 412: a tenth of a second matters below 100 s, not above."""
    if abs(seconds) >= 100:
        return f"{seconds:.0f}"
    text = f"{seconds:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _seconds(seconds: float) -> str:
    return f"{_number(seconds)} s"


# --- the JSON and HTML documents ---------------------------------------------------------------


def render_json(report: ExerciseReport) -> str:
    """The report's data as JSON, for other tools and for the record."""
    return report.model_dump_json(indent=2)


CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'"
"""The page loads nothing; should anything in it ever try, the browser refuses."""

_CSS = """
body { font: 15px/1.45 system-ui, sans-serif; color: #1b1b1b; margin: 2rem auto;
       max-width: 72rem; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.25rem; border-bottom: 2px solid #1b1b1b; margin-top: 2.4rem; }
h3 { font-size: 1.05rem; margin: 1.2rem 0 .3rem; }
table { border-collapse: collapse; width: 100%; margin: .6rem 0; font-size: .9rem; }
th, td { border: 1px solid #9a9a9a; padding: .25rem .45rem; text-align: left;
         vertical-align: top; }
th { background: #ececec; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; }
.notice { border-left: 5px solid #b35900; background: #fff4e5; padding: .5rem .8rem; }
.missed td { background: #fde8e8; }
.met td:first-child { border-left: 4px solid #2e7d32; }
.missed td:first-child { border-left: 4px solid #c62828; }
figure { margin: 1rem 0; }
figure svg { max-width: 100%; height: auto; display: block; }
figcaption { font-size: .85rem; color: #444; }
.empty { font-style: italic; color: #444; }
ul.ratings { list-style: none; padding-left: 0; display: flex; flex-wrap: wrap;
             gap: .3rem 2rem; }
#improvement-plan th:nth-child(4), #improvement-plan th:nth-child(5) { width: 9rem; }
@media print { body { margin: 0; max-width: none; } h2 { break-after: avoid; }
               figure, tr { break-inside: avoid; } }
"""

_CHECKBOX = "\u2610"
_DASH = "\u2013"


def render_html(report: ExerciseReport) -> str:
    """The after-action report as one self-contained HTML page (inline CSS and SVG, no script)."""
    title = f"After-action report: {report.scenario}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>{_e(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        _header(report, title),
        "<main>",
        _timeline_section(report),
        _organisation_section(report),
        _contact_point_section(report),
        _expectation_section(report),
        _plan_section(report),
        "</main>",
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _when(moment: datetime | None) -> str:
    if moment is None:
        return _DASH
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _clock(span: timedelta) -> str:
    """A scenario time as the MSEL writes it: HH:MM:SS."""
    total = int(span.total_seconds())
    sign = "-" if total < 0 else ""
    hours, rest = divmod(abs(total), 3600)
    return f"{sign}{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


def _optional(seconds: float | None) -> str:
    return _DASH if seconds is None else _number(seconds)


def _table(
    head: list[str],
    rows: Iterable[list[str]],
    *,
    numeric: Iterable[int] = (),
    row_classes: Iterable[str] | None = None,
    group_head: list[tuple[str, int]] | None = None,
) -> str:
    """A table of plain texts (every cell is escaped); `numeric` columns are right-aligned."""
    right = set(numeric)
    lines = ["<table>", "<thead>"]
    if group_head:
        cells = "".join(
            f'<th colspan="{span}" scope="colgroup">{_e(text)}</th>' if span > 1 else "<td></td>"
            for text, span in group_head
        )
        lines.append(f"<tr>{cells}</tr>")
    lines.append("<tr>" + "".join(f'<th scope="col">{_e(h)}</th>' for h in head) + "</tr>")
    lines += ["</thead>", "<tbody>"]
    classes = iter(row_classes) if row_classes is not None else None
    for row in rows:
        css = next(classes, "") if classes is not None else ""
        attribute = f' class="{_e(css)}"' if css else ""
        cells = "".join(
            f'<td class="n">{_e(cell)}</td>' if i in right else f"<td>{_e(cell)}</td>"
            for i, cell in enumerate(row)
        )
        lines.append(f"<tr{attribute}>{cells}</tr>")
    lines += ["</tbody>", "</table>"]
    return "\n".join(lines)


def _header(report: ExerciseReport, title: str) -> str:
    sent = len(report.timeline)
    injects = f"{sent} inject{'' if sent == 1 else 's'}"
    if sent < report.planned:
        injects = f"{sent} of {report.planned} planned injects"
    if report.state is RunState.STOPPED:
        notice = (
            f"The run was stopped at {_when(report.ended_at)} after {injects}: this report "
            "covers what happened until it was stopped."
        )
    elif report.state is RunState.FAILED:
        notice = (
            f"The run failed at {_when(report.ended_at)} after {injects}: this report covers "
            "what happened until it failed."
        )
    elif report.state is RunState.RUNNING:
        notice = (
            f"The run was still going when this report was made ({injects} sent): it covers "
            f"what happened until {_when(report.made_at)}."
        )
    else:
        notice = f"The run finished at {_when(report.ended_at)} after {injects}."
    speed = "real time" if report.speed == 1 else f"scenario time ran {report.speed:g}× the clock"
    facts = [
        ("Scenario", report.scenario),
        ("Run", report.run_id),
        ("State", report.state.value),
        ("Speed", speed),
        ("Started", _when(report.started_at)),
        ("Ended", _when(report.ended_at)),
        ("Report made", _when(report.made_at)),
    ]
    return "\n".join(
        [
            "<header>",
            f"<h1>{_e(title)}</h1>",
            '<dl class="facts">',
            *(f"<dt>{_e(name)}</dt><dd>{_e(value)}</dd>" for name, value in facts),
            "</dl>",
            f'<p class="notice" id="run-state">{_e(notice)}</p>',
            *_shared_notice(report),
            "<p>Deliveries and acknowledgements are as the notifier knew them when the report "
            "was made. Times are wall-clock seconds from the moment the run sent the message: "
            "duty officers act in real time, whatever the run's speed.</p>",
            "</header>",
        ]
    )


def _shared_notice(report: ExerciseReport) -> list[str]:
    if report.shared_with is None:
        return []
    return [
        f'<p class="notice" id="shared-with">Made for {_e(report.shared_with)}: its own contact '
        "points, expectations and corrective actions in full; the other organisations as "
        "aggregates only.</p>"
    ]


def _timeline_section(report: ExerciseReport) -> str:
    rows = [
        [
            row.inject,
            row.kind.value,
            _clock(row.at),
            _when(row.sent_at),
            row.sender,
            row.identifier or ("raised: " + ", ".join(row.raised) if row.raised else _DASH),
            str(row.status_code) if row.status_code else "no answer",
            str(row.reached),
            str(row.acknowledged),
        ]
        for row in report.timeline
    ]
    head = [
        "Inject", "Kind", "Scenario time", "Sent", "Sender", "CAP identifier", "Gateway answer",
        "Contact points reached", "Acknowledged by",
    ]  # fmt: skip
    table = _table(head, rows, numeric=(6, 7, 8)) if rows else _empty("No inject was sent.")
    chart = (
        _figure(
            _timeline_chart(report),
            "timeline-chart",
            "When each inject was sent, and how many contact points it reached and how many "
            "acknowledged it.",
        )
        if report.timeline
        else ""
    )
    return _section("timeline", "Timeline", table, chart)


def _organisation_section(report: ExerciseReport) -> str:
    rows = [
        [
            _named(row.organisation_name, row.organisation),
            str(row.contact_points),
            str(row.messages),
            _optional(row.delivered.median),
            _optional(row.delivered.p90),
            _optional(row.delivered.worst),
            str(row.acknowledged.count),
            _optional(row.acknowledged.median),
            _optional(row.acknowledged.p90),
            _optional(row.acknowledged.worst),
            str(row.never_acknowledged),
            str(row.failed),
            str(row.escalations),
        ]
        for row in report.organisations
    ]
    if not rows:
        return _section("organisations", "Organisations", _empty("No organisation was reached."))
    head = [
        "Organisation", "Contact points", "Messages", "median", "p90", "worst", "count", "median",
        "p90", "worst", "Acknowledgements not given", "Failed deliveries", "Escalations",
    ]  # fmt: skip
    groups = [
        ("", 1), ("", 1), ("", 1), ("Delivered after (s)", 3), ("Acknowledged after (s)", 4),
        ("", 1), ("", 1), ("", 1),
    ]  # fmt: skip
    table = _table(head, rows, numeric=tuple(range(1, 13)), group_head=groups)
    return _section("organisations", "Organisations", table)


def _contact_point_section(report: ExerciseReport) -> str:
    rows = [
        [
            _named(row.organisation_name, row.organisation),
            _named(row.contact_point_name, row.contact_point),
            ", ".join(row.channels),
            str(row.messages),
            _optional(row.delivered.median),
            _optional(row.delivered.p90),
            _optional(row.delivered.worst),
            str(row.acknowledged.count),
            _optional(row.acknowledged.median),
            _optional(row.acknowledged.p90),
            _optional(row.acknowledged.worst),
            ", ".join(row.never_acknowledged) or _DASH,
            str(row.failed),
            str(row.escalations),
        ]
        for row in report.contact_points
    ]
    if rows:
        head = [
            "Organisation", "Contact point", "Channels", "Messages", "median", "p90", "worst",
            "count", "median", "p90", "worst", "Never acknowledged", "Failed deliveries",
            "Escalations its silence triggered",
        ]  # fmt: skip
        groups = [
            ("", 1), ("", 1), ("", 1), ("", 1), ("Delivered after (s)", 3),
            ("Acknowledged after (s)", 4), ("", 1), ("", 1), ("", 1),
        ]  # fmt: skip
        table = _table(head, rows, numeric=(3, 4, 5, 6, 7, 8, 9, 10, 12, 13), group_head=groups)
    else:
        table = _empty("No delivery recorded: the network reached no contact point.")
    chart_svg = _acknowledgement_chart(report)
    if not report.contact_points:
        chart = _empty("No delivery recorded.")
    elif chart_svg is None:
        chart = _empty("No acknowledgement was recorded or asked for.")
    else:
        chart = _figure(
            chart_svg,
            "acknowledgement-chart",
            "Acknowledgement time per organisation and contact point: median (bar), 90th "
            "percentile (tick) and worst (light bar), in seconds from sending.",
        )
    return _section("contact-points", "Contact points", table, chart)


def _expectation_section(report: ExerciseReport) -> str:
    results = report.expectations
    met = sum(r.met for r in results)
    if not results:
        return _section(
            "expectations", "Expectations", _empty("The scenario states no expectation.")
        )
    summary = (
        f'<p id="expectation-summary"><strong>{met} of {len(results)} expectations met, '
        f"{len(results) - met} missed.</strong></p>"
    )
    rows = [
        [
            "met" if r.met else "missed",
            r.inject,
            r.contact_point,
            r.expected,
            _DASH if r.within_seconds is None else _seconds(r.within_seconds),
            r.detail,
        ]
        for r in results
    ]
    table = _table(
        ["Result", "Inject", "Contact point", "Expected to", "Within", "What happened"],
        rows,
        row_classes=["met" if r.met else "missed" for r in results],
    )
    return _section("expectations", "Expectations", summary, table)


def _plan_section(report: ExerciseReport) -> str:
    parts = []
    if report.objectives:
        for number, objective in enumerate(report.objectives, start=1):
            ratings = "".join(f"<li>{_CHECKBOX} {_e(rating)}</li>" for rating in report.ratings)
            parts.append(
                f'<div class="objective"><h3>Objective {number}: {_e(objective)}</h3>'
                f'<ul class="ratings">{ratings}</ul></div>'
            )
    else:
        parts.append(_empty("The scenario names no objective to rate."))
    parts.append("<h3>Corrective actions</h3>")
    if report.corrective_actions:
        rows = [
            [str(n), a.issue, a.organisation, a.owner or "", a.due or ""]
            for n, a in enumerate(report.corrective_actions, start=1)
        ]
        parts.append(
            _table(["#", "Issue", "Organisation", "Owner", "Due date"], rows, numeric=(0,))
        )
    else:
        parts.append(_empty("The run shows no missed expectation and no failed delivery."))
    return _section("improvement-plan", "Improvement plan", *parts)


def _section(anchor: str, title: str, *parts: str) -> str:
    return "\n".join([f'<section id="{anchor}">', f"<h2>{_e(title)}</h2>", *parts, "</section>"])


def _empty(text: str) -> str:
    return f'<p class="empty">{_e(text)}</p>'


def _named(name: str, identifier: str) -> str:
    return identifier if name == identifier else f"{name} ({identifier})"


def _figure(svg: str, anchor: str, caption: str) -> str:
    return f'<figure id="{anchor}">\n{svg}\n<figcaption>{_e(caption)}</figcaption>\n</figure>'


# --- the charts --------------------------------------------------------------------------------

_KIND_STYLE = {
    InjectKind.ALERT: ("o", "#c62828"),
    InjectKind.UPDATE: ("s", "#ef6c00"),
    InjectKind.CANCEL: ("X", "#546e7a"),
    InjectKind.OBSERVATIONS: ("D", "#1565c0"),
}
_ORGANISATION_COLOURS = ["#1565c0", "#2e7d32", "#6a1b9a", "#00838f", "#ad1457", "#4e342e"]


def _label(text: str, width: int = 48) -> str:
    """Chart text: shortened, and with `$` escaped (matplotlib would read it as mathematics)."""
    if len(text) > width:
        text = text[: width - 1] + "…"
    return text.replace("$", r"\$")


def _timeline_chart(report: ExerciseReport) -> str:
    return _svg(lambda: _draw_timeline(report), "timeline", "Timeline of the injects")


def _draw_timeline(report: ExerciseReport) -> Figure:
    rows = report.timeline
    minutes = [(row.sent_at - report.started_at).total_seconds() / 60 for row in rows]
    figure = Figure(figsize=(8.0, 1.2 + 0.38 * len(rows)), layout="constrained")
    axes = figure.subplots()
    positions = list(range(len(rows)))
    for y, (row, x) in enumerate(zip(rows, minutes, strict=True)):
        marker, colour = _KIND_STYLE[row.kind]
        refused = not 200 <= row.status_code < 300
        axes.scatter(
            [x], [y], marker=marker, s=60, color=colour, zorder=3,
            edgecolors="black" if refused else "none", linewidths=1.5,
        )  # fmt: skip
        if refused:
            note = f"gateway: {row.status_code or 'no answer'}"
        elif row.identifier is None:
            note = "observations"
        else:
            note = f"{row.reached} reached, {row.acknowledged} acknowledged"
        axes.annotate(_label(note), (x, y), xytext=(8, 0), textcoords="offset points", va="center")
    axes.set_yticks(positions, [_label(row.inject, 32) for row in rows])
    axes.set_ylim(len(rows) - 0.5, -0.5)
    right = max(minutes, default=0.0)
    axes.set_xlim(min(0.0, *minutes) - 0.5, right * 1.45 + 2)
    axes.set_xlabel("minutes after the run's start (wall clock)")
    axes.grid(axis="x", color="#dddddd")
    axes.set_axisbelow(True)
    for kind in dict.fromkeys(row.kind for row in rows):
        marker, colour = _KIND_STYLE[kind]
        axes.scatter([], [], marker=marker, color=colour, label=kind.value)
    figure.legend(loc="outside upper right", ncols=4, fontsize=8, frameon=False)
    return figure


def _acknowledgement_chart(report: ExerciseReport) -> str | None:
    rows = [
        row for row in report.contact_points if row.acknowledged.count > 0 or row.never_acknowledged
    ]
    if not rows:
        return None
    return _svg(
        lambda: _draw_acknowledgements(rows),
        "acknowledgement",
        "Acknowledgement time per contact point",
    )


def _draw_acknowledgements(rows: list[ContactPointRow]) -> Figure:
    colours: dict[str, str] = {}
    for row in rows:
        colours.setdefault(
            row.organisation, _ORGANISATION_COLOURS[len(colours) % len(_ORGANISATION_COLOURS)]
        )
    figure = Figure(figsize=(8.0, 1.3 + 0.42 * len(rows)), layout="constrained")
    axes = figure.subplots()
    positions = list(range(len(rows)))
    worst = max((row.acknowledged.worst or 0.0 for row in rows), default=0.0) or 1.0
    for y, row in enumerate(rows):
        colour = colours[row.organisation]
        timing_ = row.acknowledged
        if timing_.median is None or timing_.worst is None or timing_.p90 is None:
            axes.annotate(
                "never acknowledged", (0, y), xytext=(4, 0), textcoords="offset points",
                va="center", color="#c62828",
            )  # fmt: skip
            continue
        axes.barh([y], [timing_.worst], height=0.6, color=colour, alpha=0.3)
        axes.barh([y], [timing_.median], height=0.6, color=colour)
        axes.plot([timing_.p90], [y], marker="|", markersize=14, color="black")
        axes.annotate(
            f"{_number(timing_.median)} / {_number(timing_.worst)} s",
            (timing_.worst, y), xytext=(4, 0), textcoords="offset points", va="center",
        )  # fmt: skip
    labels = [_label(f"{row.organisation_name} · {row.contact_point_name}", 44) for row in rows]
    axes.set_yticks(positions, labels)
    for tick, row in zip(axes.get_yticklabels(), rows, strict=True):
        tick.set_color(colours[row.organisation])
    axes.set_ylim(len(rows) - 0.5, -0.5)
    axes.set_xlim(0, worst * 1.3)
    axes.set_xlabel("seconds from sending to acknowledgement (median / worst)")
    axes.grid(axis="x", color="#dddddd")
    axes.set_axisbelow(True)
    return figure


_PREAMBLE = re.compile(r"\A.*?(?=<svg\b)", re.DOTALL)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL)
_NAMESPACES = re.compile(r'\s+xmlns(?::\w+)?="[^"]*"')
_REFERENCES = re.compile(r'(?:href="([^"]*)")|(?:url\(([^)]*)\))')


def _svg(draw: Callable[[], Figure], prefix: str, label: str) -> str:
    """The figure `draw` makes, as SVG markup to put in the page, referring to nothing outside it.

    The XML declaration, DOCTYPE and metadata (which name outside addresses) go; so do the
    namespace declarations, which HTML does not need. Ids get the chart's prefix, so that two
    charts on one page never share one.
    """
    buffer = io.StringIO()
    # Set while the figure is drawn and saved, put back afterwards.
    with matplotlib.rc_context(
        {
            # Text stays text: no embedded glyphs, no font file; the reader's sans-serif draws it.
            "svg.fonttype": "none",
            # Fixed, so that the same report gives the same page (ids are hashed with it).
            "svg.hashsalt": "crossalert-exercise-report",
            "font.size": 9.0,
        }
    ):
        draw().savefig(buffer, format="svg", metadata={"Date": None})
    markup = _METADATA.sub("", _PREAMBLE.sub("", buffer.getvalue(), count=1))
    markup = _NAMESPACES.sub("", markup)
    markup = markup.replace('id="', f'id="{prefix}-')
    markup = markup.replace('href="#', f'href="#{prefix}-').replace("url(#", f"url(#{prefix}-")
    for match in _REFERENCES.finditer(markup):
        target = match.group(1) or match.group(2) or ""
        if not target.startswith(f"#{prefix}-"):
            raise ValueError(f"the {prefix} chart refers to {target!r}, outside the page")
    return markup.replace("<svg ", f'<svg role="img" aria-label="{_e(label)}" ', 1)
