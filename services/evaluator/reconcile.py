"""What to publish next: the replay's actions against the messages already published.

The replay of a series says what its alerts should have been. When the messages published so
far are the beginning of that list, what follows them is published, in order. When late or
revised figures changed the past (the published messages are no longer its beginning), the
alerts are brought to where the series stands now in one message: a Cancel when no episode
should be open, an Alert when one should and none is, an Update of the level otherwise, each
saying the figures were revised. The replay then becomes the record the next one is compared
with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from schemas.cap import Severity
from services.evaluator.engine import Action, ActionKey, Evaluation, Kind, Reason


@dataclass(frozen=True)
class Published:
    """What a series' alerts said so far: the replayed actions they follow, and where they stand."""

    actions: tuple[ActionKey, ...] = ()
    level: Severity | None = None
    """The level of the open alert, or None when none is open."""
    no_data: bool = False


@dataclass(frozen=True)
class Decision:
    """The messages to publish now, and the record to keep afterwards."""

    send: list[Action]
    record: Published


def reconcile(published: Published, evaluation: Evaluation) -> Decision:
    """The messages that bring the published alerts to what `evaluation` says."""
    desired = evaluation.actions
    done = len(published.actions)
    if _begins_with(desired, published.actions):
        send = list(desired[done:])
        return Decision(send, _after(published, send, desired))
    corrective = _correction(published, evaluation)
    return Decision(corrective, _after(published, corrective, desired))


def _begins_with(desired: Sequence[Action], done: Sequence[ActionKey]) -> bool:
    return len(done) <= len(desired) and all(
        wanted.key == sent for wanted, sent in zip(desired, done, strict=False)
    )


def _correction(published: Published, evaluation: Evaluation) -> list[Action]:
    last = evaluation.actions[-1] if evaluation.actions else None
    if published.level is not None and not evaluation.open:
        template = last or _latest(evaluation)
        return [replace(template, kind=Kind.CANCEL, reason=Reason.REVISED, level=published.level)]
    if evaluation.open and last is not None:
        kind = Kind.ALERT if published.level is None else Kind.UPDATE
        no_data = last.reason is Reason.NO_DATA
        if kind is Kind.UPDATE and last.level == published.level and no_data == published.no_data:
            return []
        reason = Reason.NO_DATA if no_data else Reason.REVISED
        return [replace(last, kind=kind, reason=reason)]
    return []


def _after(published: Published, send: Sequence[Action], record: Sequence[Action]) -> Published:
    level, no_data = published.level, published.no_data
    for action in send:
        if action.kind is Kind.CANCEL:
            level, no_data = None, False
        else:
            level, no_data = action.level, action.reason is Reason.NO_DATA
    return Published(tuple(action.key for action in record), level, no_data)


def _latest(evaluation: Evaluation) -> Action:
    """An action at the series' latest period, for a withdrawal the replay has no action for."""
    step = evaluation.steps[-1]
    return Action(
        Kind.CANCEL, Reason.REVISED, Severity.UNKNOWN, -1, step.reading.period,
        step.version or 0, step.reading.value, float("nan"),
    )  # fmt: skip
