"""The threshold rules' semantics, period by period (services/evaluator/engine.py)."""

from __future__ import annotations

from datetime import timedelta

from evaluator_support import readings_of, rule_of, soon_after, version, weeks
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.cap import Severity
from services.evaluator.engine import Evaluation, Kind, Reading, Reason, State, evaluate

RULE = rule_of(version())


def run(values: list[float | None], **options: object) -> Evaluation:
    series = weeks(values)
    rule = rule_of(version(**options)) if options else RULE
    return evaluate(rule, readings_of("rate-14d", series), now=soon_after(series))


def said(evaluation: Evaluation) -> list[tuple[str, str, str]]:
    return [(a.kind.value, a.reason.value, a.level.value) for a in evaluation.actions]


def test_a_wave_is_alerted_raised_lowered_and_cleared_once_each() -> None:
    wave = run([20, 60, 70, 160, 170, 120, 100, 45, 30, 20])

    assert said(wave) == [
        ("Alert", "confirmed", "Moderate"),  # two weeks over 50
        ("Update", "confirmed", "Severe"),  # two weeks over 150
        ("Update", "confirmed", "Moderate"),  # two weeks back under 150
        ("Cancel", "recovered", "Moderate"),  # two weeks under the recovery level, 40
    ]
    assert [a.period.label for a in wave.actions] == [
        "2026-W04",
        "2026-W06",
        "2026-W08",
        "2026-W11",
    ]
    assert wave.state is State.NORMAL and not wave.open


def test_a_single_week_over_the_threshold_is_pending_not_alerted() -> None:
    spike = run([20, 80, 20, 30])

    assert said(spike) == []
    assert [s.state for s in spike.steps] == [
        State.NORMAL,
        State.PENDING,
        State.NORMAL,
        State.NORMAL,
    ]


def test_below_the_alert_level_is_not_an_all_clear_only_below_the_recovery_level_is() -> None:
    # Under 50 but over 40 for as long as you like: the alert stays.
    hovering = run([60, 60, 45, 48, 45, 49, 45])
    cleared = run([60, 60, 45, 48, 35, 30])

    assert said(hovering) == [("Alert", "confirmed", "Moderate")]
    assert hovering.open
    assert said(cleared)[-1] == ("Cancel", "recovered", "Moderate")


def test_a_noisy_series_around_the_threshold_raises_one_chain() -> None:
    noisy = run([55, 52, 47, 51, 49, 53, 48, 56, 45, 50, 44])

    assert [a.kind for a in noisy.actions] == [Kind.ALERT]


def test_figures_not_reported_never_clear_an_alert() -> None:
    series = weeks([60, 70, None, None])  # "-" for two weeks: not yet no data (21 days)
    evaluation = evaluate(RULE, readings_of("rate-14d", series), now=soon_after(series))

    assert said(evaluation) == [("Alert", "confirmed", "Moderate")]
    assert evaluation.open


def test_a_silent_series_is_said_to_have_no_data_and_then_to_resume() -> None:
    series = weeks([60, 70])
    now = soon_after(series) + timedelta(days=30)

    silent = evaluate(RULE, readings_of("rate-14d", series), now=now)
    resumed_series = weeks([60, 70, None, None, None, None, 65])
    resumed = evaluate(
        RULE, readings_of("rate-14d", resumed_series), now=soon_after(resumed_series)
    )

    assert said(silent)[-1] == ("Update", "no data", "Moderate")
    assert silent.state is State.NO_DATA and silent.open
    assert said(resumed)[-2:] == [
        ("Update", "no data", "Moderate"),
        ("Update", "data resumed", "Moderate"),
    ]


def test_no_data_without_an_alert_is_grey_not_green_and_raises_nothing() -> None:
    series = weeks([20, 30])

    evaluation = evaluate(
        RULE, readings_of("rate-14d", series), now=soon_after(series) + timedelta(days=60)
    )

    assert evaluation.state is State.NO_DATA
    assert evaluation.actions == []


def test_a_minimum_count_gate_keeps_a_high_rate_on_few_cases_quiet() -> None:
    gated = version(gate={"min_count": 5, "over_periods": 4})
    rule = rule_of(gated)
    few = [Reading(r.period, r.value, numerator=1) for r in weeks([80, 90, 95, 99])]
    many = [Reading(r.period, r.value, numerator=3) for r in weeks([80, 90, 95, 99])]

    quiet = evaluate(rule, readings_of("rate-14d", few), now=soon_after(few))
    loud = evaluate(rule, readings_of("rate-14d", many), now=soon_after(many))

    assert quiet.actions == []
    assert said(loud) == [("Alert", "confirmed", "Moderate")]


def test_a_combined_level_needs_both_indicators_of_the_same_region_and_period() -> None:
    combined = version(
        levels=[
            {"severity": "Moderate", "threshold": 50,
             "conditions": [{"indicator": "positivity", "threshold": 4}]},
        ],
    )  # fmt: skip
    rule = rule_of(combined)
    rates = weeks([80, 90, 95])
    low = {"rate-14d": {r.period.label: r for r in rates},
           "positivity": {r.period.label: r for r in weeks([2, 3, 2])}}  # fmt: skip
    high = {"rate-14d": {r.period.label: r for r in rates},
            "positivity": {r.period.label: r for r in weeks([5, 6, None])}}  # fmt: skip

    assert evaluate(rule, low, now=soon_after(rates)).actions == []
    assert said(evaluate(rule, high, now=soon_after(rates))) == [("Alert", "confirmed", "Moderate")]


def test_two_of_the_last_three_weeks_confirm_a_level() -> None:
    evaluation = run([60, 20, 70, 20], confirm={"periods": 2, "of_last": 3})

    assert said(evaluation) == [("Alert", "confirmed", "Moderate")]
    assert evaluation.actions[0].period.label == "2026-W04"


def test_each_week_is_judged_by_the_version_in_effect_when_it_starts() -> None:
    lowered = version(
        effective_from="2026-01-19T00:00:00+00:00",  # 2026-W04
        levels=[
            {"severity": "Moderate", "threshold": 25},
            {"severity": "Severe", "threshold": 150},
        ],
        recovery_level=20,
    )
    rule = rule_of(version(), lowered)
    series = weeks([30, 30, 30, 30])

    evaluation = evaluate(rule, readings_of("rate-14d", series), now=soon_after(series))

    assert said(evaluation) == [("Alert", "confirmed", "Moderate")]
    assert evaluation.actions[0].version == 2
    assert evaluation.actions[0].period.label == "2026-W05"  # W04 and W05 under version 2


def test_a_level_below_is_for_rules_watching_a_fall() -> None:
    low_water = version(
        indicator="rate-14d",
        direction="below",
        levels=[{"severity": "Moderate", "threshold": 10}, {"severity": "Severe", "threshold": 5}],
        recovery_level=15,
    )

    evaluation = run(
        [20, 8, 7, 4, 3, 12, 16, 18], **{k: v for k, v in low_water.items() if k != "id"}
    )

    assert said(evaluation) == [
        ("Alert", "confirmed", "Moderate"),
        ("Update", "confirmed", "Severe"),
        ("Cancel", "recovered", "Severe"),
    ]


# Properties over any series


values = st.one_of(st.none(), st.floats(0, 700, allow_nan=False, width=32))


@settings(max_examples=300, derandomize=True, database=None, deadline=None)
@given(st.lists(values, min_size=1, max_size=40))
def test_any_series_has_at_most_one_open_chain_and_clears_only_after_recovery(
    series_values: list[float | None],
) -> None:
    evaluation = run(series_values)
    labels = [reading.period.label for reading in weeks(series_values)]

    open_episode: int | None = None
    for action in evaluation.actions:
        if action.kind is Kind.ALERT:
            assert open_episode is None, "an Alert while a chain is open"
            open_episode = action.episode
        else:
            assert open_episode == action.episode, "a message outside the open chain"
        if action.kind is Kind.CANCEL:
            assert action.reason is Reason.RECOVERED
            open_episode = None
    for action in evaluation.actions:
        if action.reason is Reason.RECOVERED:
            upto = series_values[: labels.index(action.period.label) + 1]
            reported = [v for v in upto if v is not None]
            assert all(v < 40 for v in reported[-2:]) and len(reported) >= 2
    assert evaluation.open == (open_episode is not None)


@settings(max_examples=200, derandomize=True, database=None, deadline=None)
@given(st.lists(values, min_size=1, max_size=30), st.randoms(use_true_random=False))
def test_the_order_readings_arrive_in_changes_nothing(
    series_values: list[float | None], shuffle: object
) -> None:
    series = weeks(series_values)
    shuffled = list(series)
    shuffle.shuffle(shuffled)  # type: ignore[attr-defined]
    now = soon_after(series)

    in_order = evaluate(RULE, readings_of("rate-14d", series), now=now)
    any_order = evaluate(RULE, readings_of("rate-14d", shuffled), now=now)

    assert said(any_order) == said(in_order)
    assert any_order.level == in_order.level


def test_severities_of_the_rule_are_the_only_levels_said() -> None:
    evaluation = run([600, 700, 800])

    assert said(evaluation) == [("Alert", "confirmed", "Extreme")]
    assert evaluation.level is Severity.EXTREME
