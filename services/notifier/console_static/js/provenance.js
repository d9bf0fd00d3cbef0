// Where a threshold-raised alert comes from (schemas/provenance.py), read from its info's CAP
// parameters and shown as words beside the figures, with a chart of the recent series.
//
// Reading is lenient where the contract's `Provenance.of` is strict: a part that cannot be read
// is named as unreadable and the rest is still shown, so one bad value never hides the alert.

import { SEVERITIES } from "./cap.js";
import { h } from "./dom.js";
import { t, term, tn, uiLanguage } from "./i18n.js";
import { renderTrend } from "./trend.js";

export const PREFIX = "crossalert:";
/** The parameters of the contract, without the prefix. */
export const NAMES = [
  "rule", "rule-version", "reason", "state", "indicator", "unit", "direction", "observed",
  "threshold", "levels", "recovery-level", "confirmed-by", "series",
];
/** How many recent periods an alert carries for its chart (schemas.provenance.SERIES_PERIODS). */
export const SERIES_PERIODS = 16;

const REQUIRED = NAMES.filter((name) => name !== "confirmed-by" && name !== "series");
const NUMBER = /^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$/;

/** Whether a CAP parameter is one of the provenance's. */
export function isProvenanceParameter(parameter) {
  const name = String(parameter?.valueName ?? "");
  return name.startsWith(PREFIX) && NAMES.includes(name.slice(PREFIX.length));
}

/** {text, value} of a number as written ("312.5"), or null. */
function number(text) {
  const trimmed = String(text).trim();
  if (!NUMBER.test(trimmed)) return null;
  const value = Number(trimmed);
  return Number.isFinite(value) ? { text: trimmed, value } : null;
}

function parts(text) {
  return String(text).split(";").map((part) => part.trim()).filter(Boolean);
}

/** "2026-W14 312.5" as {period, value, text}; "-" is a value not reported (null). */
function point(text) {
  const trimmed = String(text).trim();
  const space = trimmed.lastIndexOf(" ");
  if (space <= 0) return null;
  const period = trimmed.slice(0, space).trim();
  const written = trimmed.slice(space + 1);
  if (written === "-") return { period, value: null, text: "-" };
  const read = number(written);
  return read ? { period, value: read.value, text: read.text } : null;
}

function points(text) {
  const read = parts(text).map(point);
  return read.includes(null) ? null : read;
}

function levels(text) {
  const read = parts(text).map((part) => {
    const space = part.indexOf(" ");
    const severity = part.slice(0, space);
    const threshold = space > 0 ? number(part.slice(space + 1)) : null;
    return SEVERITIES.includes(severity) && threshold ? { severity, ...threshold } : null;
  });
  return read.length && !read.includes(null) ? read : null;
}

const READERS = {
  "rule-version": (text) => (/^\d+$/.test(text.trim()) && Number(text) >= 1 ? text.trim() : null),
  direction: (text) => (text === "above" || text === "below" ? text : null),
  observed: point,
  threshold: number,
  levels,
  "recovery-level": number,
  "confirmed-by": points,
  series: points,
};

/**
 * The provenance an info's parameters carry, or null when they name no rule.
 * Each field is read on its own; `unreadable` names those missing or not readable (as null).
 */
export function readProvenance(parameters) {
  const found = new Map();
  for (const parameter of parameters ?? []) {
    if (isProvenanceParameter(parameter)) {
      found.set(parameter.valueName.slice(PREFIX.length), String(parameter.value ?? ""));
    }
  }
  if (!found.get("rule")?.trim()) return null;
  const provenance = { unreadable: [] };
  for (const name of NAMES) {
    const text = found.get(name);
    const optional = !REQUIRED.includes(name);
    let value;
    if (text === undefined || !text.trim()) value = optional ? [] : null;
    else value = READERS[name] ? READERS[name](text) : text.trim();
    if (value === null) provenance.unreadable.push(name);
    provenance[camel(name)] = value;
  }
  if (provenance.series) provenance.series = provenance.series.slice(-SERIES_PERIODS);
  return provenance;
}

function camel(name) {
  return name.replace(/-(\w)/g, (_, letter) => letter.toUpperCase());
}

// ------------------------------------------------------------------ words

// The words matter most for "no data" and "retired": neither may read as an all-clear.
const REASONS = {
  confirmed: (p) => (p.direction === "below" ? t("provenance.reason.confirmedBelow") : t("provenance.reason.confirmedAbove")),
  "no data": () => t("provenance.reason.noData"),
  "data resumed": () => t("provenance.reason.dataResumed"),
  recovered: () => t("provenance.reason.recovered"),
  revised: () => t("provenance.reason.revised"),
  retired: () => t("provenance.reason.retired"),
};
const STATES = {
  normal: () => t("provenance.state.normal"),
  pending: () => t("provenance.state.pending"),
  alerting: () => t("provenance.state.alerting"),
  recovering: () => t("provenance.state.recovering"),
  "no data": () => t("provenance.state.noData"),
};

function slug(text) {
  return text.toLowerCase().replace(/[^a-z]+/g, "-");
}

function reasonLine(p) {
  const words = REASONS[p.reason];
  return h(
    "p",
    { class: ["provenance-reason", words && `reason-${slug(p.reason)}`], "data-role": "provenance-reason", "data-reason": p.reason },
    words ? words(p) : t("provenance.reasonGiven", { reason: p.reason ?? t("provenance.none") }),
  );
}

function levelNamed(p) {
  return p.threshold && p.levels ? p.levels.find((level) => level.value === p.threshold.value)?.severity : undefined;
}

function observedLine(p) {
  const observed = p.observed;
  if (!observed) return h("p", { class: "provenance-figure", "data-role": "provenance-observed" }, t("provenance.observedUnreadable"));
  const severity = levelNamed(p);
  // The figures as the rule sent them (312.5), never reformatted: they are what was compared.
  const value = h("strong", { "data-role": "observed-value" }, observed.text);
  const figure = observed.value === null
    ? t("provenance.notReportedIn", { period: observed.period })
    : p.unit
      ? tn("provenance.valueUnitIn", { value, unit: p.unit, period: observed.period })
      : tn("provenance.valueIn", { value, period: observed.period });
  return h(
    "p",
    { class: "provenance-figure", "data-role": "provenance-observed" },
    p.reason === "no data" ? tn("provenance.lastReported", { figure }) : figure,
    " ",
    thresholdText(p, severity),
  );
}

function thresholdText(p, severity) {
  if (!p.threshold) return t("provenance.thresholdUnreadable");
  const threshold = h("strong", { "data-role": "threshold" }, p.threshold.text);
  return severity
    ? tn("provenance.thresholdLevel", { threshold, severity: term("severity", severity) })
    : tn("provenance.threshold", { threshold });
}

function pointsText(list) {
  return list.map((pt) => `${pt.period} (${pt.value === null ? t("provenance.notReported") : pt.text})`).join(", ");
}

function seriesTable(series) {
  if (!series?.length) return null;
  return h(
    "details",
    { class: "provenance-series" },
    h("summary", {}, t("provenance.seriesTable")),
    h(
      "table",
      { class: "table", "data-role": "provenance-series" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("table.period")), h("th", { scope: "col" }, t("table.value")))),
      h("tbody", {}, series.map((pt) => h("tr", {}, h("td", {}, pt.period), h("td", {}, pt.value === null ? t("provenance.notReported") : pt.text)))),
    ),
  );
}

function chart(p) {
  if (p.series === null) return h("p", { class: "muted", "data-role": "provenance-no-chart" }, t("provenance.seriesUnreadable"));
  if (!p.series.some((pt) => pt.value !== null)) {
    return h("p", { class: "muted", "data-role": "provenance-no-chart" }, p.series.length ? t("provenance.noValues") : t("provenance.noSeries"));
  }
  const trend = renderTrend({
    series: p.series,
    levels: p.levels ?? [],
    current: levelNamed(p),
    recovery: p.recoveryLevel,
    confirmed: (p.confirmedBy ?? []).map((pt) => pt.period),
    indicator: p.indicator ?? t("provenance.theIndicator"),
    unit: p.unit ?? "",
  });
  if (!trend) return h("p", { class: "muted", "data-role": "provenance-no-chart" }, t("provenance.tooWide"));
  return h(
    "figure",
    { class: "trend-figure" },
    trend,
    h("figcaption", {}, t("provenance.chartCaption")),
  );
}

/** The provenance block of an info: the figures beside the words, then the chart. */
export function renderProvenance(p) {
  const levelsText = p.levels ? p.levels.map((level) => `${term("severity", level.severity)} ${level.text}`).join("; ") : t("provenance.unreadable");
  const alerting = { above: () => t("provenance.alertingAbove"), below: () => t("provenance.alertingBelow") }[p.direction];
  const facts = [
    [t("provenance.rule"), h("span", { "data-role": "rule" }, p.ruleVersion ? t("provenance.ruleVersion", { rule: p.rule, version: p.ruleVersion }) : t("provenance.ruleVersionUnreadable", { rule: p.rule }))],
    [t("provenance.state"), p.state ? (STATES[p.state]?.() ?? p.state) : null],
    [t("provenance.indicator"), p.indicator ? [p.indicator, alerting ? ` ${alerting()}` : ""] : null],
    [t("provenance.levels"), [levelsText, p.recoveryLevel ? `; ${t("provenance.recoveryLevel", { level: p.recoveryLevel.text })}` : ""]],
    [t("provenance.confirmedBy"), p.confirmedBy === null ? t("provenance.unreadable") : p.confirmedBy.length ? h("span", { "data-role": "confirmed-by" }, pointsText(p.confirmedBy)) : null],
  ].filter(([, value]) => value !== null);
  return h(
    "section",
    { class: "provenance", lang: uiLanguage(), "data-role": "provenance", "aria-label": t("provenance.heading") },
    h("h4", {}, t("provenance.heading")),
    reasonLine(p),
    observedLine(p),
    h("dl", { class: "facts" }, facts.map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)])),
    p.unreadable.length
      ? h("p", { class: "provenance-problem", "data-role": "provenance-problem" }, t("provenance.problem", { names: p.unreadable.map((name) => PREFIX + name).join(", ") }))
      : null,
    chart(p),
    seriesTable(p.series),
  );
}
