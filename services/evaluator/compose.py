"""A threshold-raised CAP message, composed from the action the replay decided on.

The message is the owning agency's, in every language its rule has texts for: the rule's
event, headline, description and instruction with the figures filled in, preceded by a sentence
of the network's own when the message says something the rule's texts do not (the figures
stopped, they resumed, the series recovered, the figures were revised, the rule was retired).
Its area is the place watched (NUTS geocode, the region's name in the language), and its
parameters carry the provenance (schemas/provenance.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from schemas.cap import Alert, Area, Info, MsgType, NamedValue, Scope, Severity, Status
from schemas.cap_types import Reference
from schemas.names import Language, exercise_run_of
from schemas.provenance import LevelMark, Point, Provenance
from schemas.thresholds import AlertTexts, IndicatorOut, ThresholdRule, ThresholdRuleVersion
from services.evaluator.engine import Action, Evaluation, Kind, Reason

EVENT_CODE_NAME = "crossalert"
RESTRICTION = "For the organisations of the network competent for the area and the indicator."

SEVERITY_NAMES: dict[str, dict[Severity, str]] = {
    "en": {Severity.MINOR: "minor", Severity.MODERATE: "moderate", Severity.SEVERE: "severe",
           Severity.EXTREME: "extreme"},
    "fr": {Severity.MINOR: "mineur", Severity.MODERATE: "modéré", Severity.SEVERE: "sévère",
           Severity.EXTREME: "extrême"},
    "nl": {Severity.MINOR: "gering", Severity.MODERATE: "matig", Severity.SEVERE: "ernstig",
           Severity.EXTREME: "extreem"},
    "de": {Severity.MINOR: "gering", Severity.MODERATE: "mäßig", Severity.SEVERE: "schwer",
           Severity.EXTREME: "extrem"},
}  # fmt: skip

PREAMBLES: dict[Reason, dict[str, str]] = {
    Reason.NO_DATA: {
        "en": "NO DATA: no figures have been received since {period}. The alert stays in force; "
        "this is not an all-clear.",
        "fr": "PAS DE DONNÉES : aucun chiffre reçu depuis {period}. L'alerte reste en vigueur ; "
        "ceci n'est pas une levée d'alerte.",
        "nl": "GEEN GEGEVENS: sinds {period} zijn geen cijfers ontvangen. De waarschuwing blijft "
        "van kracht; dit is geen einde van de waarschuwing.",
        "de": "KEINE DATEN: seit {period} sind keine Zahlen eingegangen. Die Warnung bleibt in "
        "Kraft; dies ist keine Entwarnung.",
    },
    Reason.DATA_RESUMED: {
        "en": "Figures are being received again ({period}).",
        "fr": "Les chiffres sont de nouveau reçus ({period}).",
        "nl": "Er worden weer cijfers ontvangen ({period}).",
        "de": "Es gehen wieder Zahlen ein ({period}).",
    },
    Reason.RECOVERED: {
        "en": "ALL-CLEAR: the figures have stayed below the recovery level long enough ({period}).",
        "fr": "FIN D'ALERTE : les chiffres sont restés assez longtemps sous le niveau de retour "
        "({period}).",
        "nl": "EINDE WAARSCHUWING: de cijfers zijn lang genoeg onder het herstelniveau gebleven "
        "({period}).",
        "de": "ENTWARNUNG: die Zahlen lagen lange genug unter der Rückkehrschwelle ({period}).",
    },
    Reason.REVISED: {
        "en": "REVISED: late or corrected figures changed the assessment ({period}).",
        "fr": "RÉVISION : des chiffres tardifs ou corrigés ont modifié l'évaluation ({period}).",
        "nl": "HERZIEN: late of gecorrigeerde cijfers hebben de beoordeling veranderd ({period}).",
        "de": "REVIDIERT: späte oder berichtigte Zahlen haben die Bewertung geändert ({period}).",
    },
    Reason.RETIRED: {
        "en": "The rule that raised this alert was withdrawn by its agency.",
        "fr": "La règle qui a déclenché cette alerte a été retirée par son agence.",
        "nl": "De regel die deze waarschuwing gaf, is door de instantie ingetrokken.",
        "de": "Die Regel, die diese Warnung ausgelöst hat, wurde von der Behörde zurückgezogen.",
    },
}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Context:
    """What a message needs besides the action: whose, where, what is measured, what came first."""

    rule: ThresholdRule
    indicator: IndicatorOut
    place: str
    region: str
    station: str | None
    region_names: Mapping[str, str]
    sender: str
    status: Status
    number: int
    """The series' message number: names the message."""
    previous: Reference | None
    """The open chain's latest message, which an Update or Cancel refers to."""
    exercise_note: str | None = None
    """The exercise run whose observations the series follows (`Exercise NAME — run RUN`)."""


def identifier_of(
    rule_id: str, place: str, number: int, *, exercise: bool, run: str | None = None
) -> str:
    """`crossalert.RULE.PLACE.N` (`crossalert.exercise[.RUN].RULE.PLACE.N`): the same message
    always gets the same identifier, and each exercise run its own."""
    kind = f"exercise.{run}." if run else "exercise." if exercise else ""
    return f"crossalert.{kind}{rule_id}.{_UNSAFE.sub('_', place)}.{number}"


def compose(action: Action, evaluation: Evaluation, context: Context, *, sent: datetime) -> Alert:
    """The CAP message saying `action` for the series, as the owning agency, in the words of
    the rule's version that decided it."""
    rule = _version(context.rule, action.version)
    provenance = _provenance(action, evaluation, rule, context)
    infos = [
        _info(language, texts, action, rule, context, provenance)
        for language, texts in rule.texts.items()
    ]
    run = exercise_run_of(context.exercise_note)
    raised = f"Raised by threshold rule {rule.id} version {action.version} ({action.reason})."
    return Alert(
        identifier=identifier_of(
            rule.id,
            context.place,
            context.number,
            exercise=context.status is not Status.ACTUAL,
            run=run[0] if run else None,
        ),
        sender=context.sender,
        sent=sent,
        status=context.status,
        msg_type=MsgType(action.kind.value),
        scope=Scope.RESTRICTED,
        restriction=RESTRICTION,
        references=[context.previous] if action.kind is not Kind.ALERT and context.previous else [],
        # A run's note first: consoles and the run's report know the alert by it.
        note=f"{context.exercise_note}. {raised}" if context.exercise_note else raised,
        info=infos,
    )


def _info(
    language: Language,
    texts: AlertTexts,
    action: Action,
    rule: ThresholdRuleVersion,
    context: Context,
    provenance: Provenance,
) -> Info:
    indicator = context.indicator
    names = SEVERITY_NAMES.get(language, SEVERITY_NAMES["en"])
    region_name = context.region_names.get(language) or context.region_names.get("en") or ""
    values = {
        "value": "-" if action.value is None else format(action.value, ".10g"),
        "threshold": format(action.threshold, ".10g"),
        "unit": indicator.unit,
        "region": context.region,
        "region_name": region_name or context.region,
        "level": names.get(action.level, action.level.value),
        "period": action.period.label,
        "indicator": indicator.names.get(language) or next(iter(indicator.names.values())),
    }
    preamble = PREAMBLES.get(action.reason, {})
    said = preamble.get(language) or preamble.get("en")
    description = texts.description.format(**values)
    if said:
        description = said.format(period=action.period.label) + "\n\n" + description
    area_name = region_name or context.region
    if context.station:
        area_name = f"{context.station}, {area_name}"
    return Info(
        language=language,
        category=[indicator.category],
        event=texts.event.format(**values),
        urgency=rule.urgency,
        severity=action.level,
        certainty=rule.certainty,
        event_code=[NamedValue(value_name=EVENT_CODE_NAME, value=c) for c in rule.event_codes],
        headline=texts.headline.format(**values)[:300],
        description=description,
        instruction=texts.instruction.format(**values) if texts.instruction else None,
        parameter=provenance.parameters(),
        area=[
            Area(
                area_desc=area_name,
                geocode=[
                    NamedValue(value_name=f"NUTS{len(context.region) - 2}", value=context.region)
                ],
            )
        ],
    )


def _version(rule: ThresholdRule, number: int) -> ThresholdRuleVersion:
    return next((v for v in rule.versions if v.version == number), rule.latest)


def _provenance(
    action: Action, evaluation: Evaluation, rule: ThresholdRuleVersion, context: Context
) -> Provenance:
    steps = [s for s in evaluation.steps if s.reading.period.start <= action.period.start]
    series = [Point(period=s.reading.period.label, value=s.reading.value) for s in steps]
    state = "no data" if action.reason is Reason.NO_DATA else (
        steps[-1].state.value if steps else evaluation.state.value
    )  # fmt: skip
    return Provenance(
        rule=rule.id,
        rule_version=action.version,
        reason=action.reason.value,
        state=state,
        indicator=context.indicator.id,
        unit=context.indicator.unit,
        direction=rule.direction,
        observed=Point(period=action.period.label, value=action.value),
        threshold=action.threshold,
        levels=[LevelMark(severity=lv.severity, threshold=lv.threshold) for lv in rule.levels],
        recovery_level=rule.recovery_level,
        confirmed_by=[Point(period=r.period.label, value=r.value) for r in action.confirmed_by],
        series=series,
    )
