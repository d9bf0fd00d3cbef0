"""After-action reports of exercises, kept for the organisations that took part.

A planner publishes a run's report (`crossalert exercise report RUN --publish`, scope
`exercises:plan`); the duty officers of every organisation it names as a participant then read
it from their consoles: their own organisation's contact points, expectations and corrective
actions in full, the other organisations only as aggregates. The planner's organisation reads,
and may replace, the whole report.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.exercise import ExerciseReport, PublishedReport
from schemas.identity import Scope, TokenClaims
from services.common.problems import ProblemError
from services.notifier.models import ExerciseReportParticipant, PublishedExerciseReport


async def publish(
    session: AsyncSession, report: ExerciseReport, claims: TokenClaims
) -> tuple[PublishedReport, bool]:
    """Keep the report (replacing the same planner's earlier one): how it is listed, and
    whether it is new."""
    row = await session.get(PublishedExerciseReport, report.run_id)
    created = row is None
    if row is not None and row.published_by != claims.org:
        raise ProblemError(
            403,
            "not_the_publisher",
            f"{row.published_by} published the report of run {report.run_id}; only it may "
            "replace it.",
            field="run_id",
        )
    fields = {
        "scenario": report.scenario,
        "state": report.state.value,
        "started_at": report.started_at,
        "published_by": claims.org,
        "published_at": datetime.now(UTC),
        "report_json": report.model_dump_json(),
    }
    if row is None:
        row = PublishedExerciseReport(run_id=report.run_id, **fields)
        session.add(row)
        await session.flush()
    else:
        for name, value in fields.items():
            setattr(row, name, value)
        await session.execute(
            delete(ExerciseReportParticipant).where(
                ExerciseReportParticipant.run_id == report.run_id
            )
        )
    session.add_all(
        ExerciseReportParticipant(run_id=report.run_id, organisation=organisation)
        for organisation in set(report.participants)
    )
    return _published(row), created


async def listed(session: AsyncSession, claims: TokenClaims) -> list[PublishedReport]:
    """The reports the reader may open, newest run first."""
    query = select(PublishedExerciseReport)
    if Scope.EXERCISES_PLAN in claims.scopes:
        query = query.where(PublishedExerciseReport.published_by == claims.org)
    else:
        query = query.join(
            ExerciseReportParticipant,
            ExerciseReportParticipant.run_id == PublishedExerciseReport.run_id,
        ).where(ExerciseReportParticipant.organisation == claims.org)
    rows = await session.scalars(query.order_by(PublishedExerciseReport.started_at.desc()))
    return [_published(row) for row in rows]


async def read(session: AsyncSession, run_id: str, claims: TokenClaims) -> ExerciseReport:
    """The whole report for its planner's organisation; a participant's share for an officer;
    404 when unknown, 403 for anyone else."""
    row = await session.get(PublishedExerciseReport, run_id)
    if row is None:
        raise ProblemError(404, "unknown_report", f"No report of run {run_id} was published.")
    report = ExerciseReport.model_validate_json(row.report_json)
    if Scope.EXERCISES_PLAN in claims.scopes and claims.org == row.published_by:
        return report
    taking_part = await session.get(ExerciseReportParticipant, (run_id, claims.org))
    if Scope.CONSOLE in claims.scopes and taking_part is not None:
        return report.for_organisation(claims.org)
    raise ProblemError(
        403,
        "not_a_participant",
        f"{claims.org} did not take part in run {run_id}, so it may not read its report.",
    )


def _published(row: PublishedExerciseReport) -> PublishedReport:
    return PublishedReport(
        run_id=row.run_id,
        scenario=row.scenario,
        state=row.state,
        started_at=row.started_at,
        published_by=row.published_by,
        published_at=row.published_at,
    )
