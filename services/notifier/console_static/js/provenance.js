// Where a threshold-raised alert comes from (schemas/provenance.py), read from its info's CAP
// parameters and shown as words beside the figures, with a chart of the recent series.
//
// Reading is lenient where the contract's `Provenance.of` is strict: a part that cannot be read
// is named as unreadable and the rest is still shown, so one bad value never hides the alert.

import { SEVERITIES } from "./cap.js";
import { h } from "./dom.js";
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

function side(direction) {
  return direction === "below" ? "at or below" : "at or above";
}

// The words matter most for "no data" and "retired": neither may read as an all-clear.
const REASONS = {
  confirmed: (p) => `Confirmed: the figures have been ${side(p.direction)} the threshold for as many periods as the rule asks.`,
  "no data": () => "No data: figures have stopped arriving for this series. This is not an all-clear — the alert stays in force, and the last reported value is shown.",
  "data resumed": () => "Data resumed: figures arrive again after a time without data.",
  recovered: () => "Recovered: the figures have stayed on the safe side of the recovery level for as many periods as the rule asks (the all-clear).",
  revised: () => "Revised: late or corrected figures changed what was said before.",
  retired: () => "Rule retired: this rule no longer watches the series, so its alert ends — the figures have not necessarily recovered.",
};
const STATES = {
  normal: "Normal",
  pending: "A level is crossed, not yet confirmed",
  alerting: "Alerting",
  recovering: "Recovering: back on the safe side, not yet for long enough",
  "no data": "No data",
};

function slug(text) {
  return text.toLowerCase().replace(/[^a-z]+/g, "-");
}

function reasonLine(p) {
  const words = REASONS[p.reason];
  return h(
    "p",
    { class: ["provenance-reason", words && `reason-${slug(p.reason)}`], "data-role": "provenance-reason", "data-reason": p.reason },
    words ? words(p) : `Reason given: ${p.reason ?? "none"}`,
  );
}

function levelNamed(p) {
  return p.threshold && p.levels ? p.levels.find((level) => level.value === p.threshold.value)?.severity : undefined;
}

function observedLine(p) {
  const observed = p.observed;
  if (!observed) return h("p", { class: "provenance-figure", "data-role": "provenance-observed" }, "The observed value could not be read.");
  const unit = p.unit ? ` ${p.unit}` : "";
  const severity = levelNamed(p);
  return h(
    "p",
    { class: "provenance-figure", "data-role": "provenance-observed" },
    p.reason === "no data" ? "Last reported: " : "",
    observed.value === null
      ? `not reported in ${observed.period}`
      : [h("strong", { "data-role": "observed-value" }, observed.text), `${unit} in ${observed.period}`],
    p.threshold
      ? [" — threshold ", h("strong", { "data-role": "threshold" }, p.threshold.text), severity ? ` (${severity})` : ""]
      : " — the threshold could not be read",
  );
}

function pointsText(list) {
  return list.map((pt) => `${pt.period} (${pt.value === null ? "not reported" : pt.text})`).join(", ");
}

function seriesTable(series) {
  if (!series?.length) return null;
  return h(
    "details",
    { class: "provenance-series" },
    h("summary", {}, "The chart’s figures as a table"),
    h(
      "table",
      { class: "table", "data-role": "provenance-series" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Period"), h("th", { scope: "col" }, "Value"))),
      h("tbody", {}, series.map((pt) => h("tr", {}, h("td", {}, pt.period), h("td", {}, pt.value === null ? "not reported" : pt.text)))),
    ),
  );
}

function chart(p) {
  if (p.series === null) return h("p", { class: "muted", "data-role": "provenance-no-chart" }, "The recent series could not be read, so no chart is drawn.");
  if (!p.series.some((pt) => pt.value !== null)) {
    return h("p", { class: "muted", "data-role": "provenance-no-chart" }, p.series.length ? "No value was reported in the recent periods." : "The alert carries no recent series.");
  }
  const trend = renderTrend({
    series: p.series,
    levels: p.levels ?? [],
    current: levelNamed(p),
    recovery: p.recoveryLevel,
    confirmed: (p.confirmedBy ?? []).map((pt) => pt.period),
    indicator: p.indicator ?? "the indicator",
    unit: p.unit ?? "",
  });
  if (!trend) return h("p", { class: "muted", "data-role": "provenance-no-chart" }, "The values span more than a chart can show.");
  return h(
    "figure",
    { class: "trend-figure" },
    trend,
    h(
      "figcaption",
      {},
      "The reported values, the line broken where a period was not reported (×). Solid lines: the rule’s levels; dashed: its recovery level; shaded: the periods that confirmed the alert.",
    ),
  );
}

/** The provenance block of an info: the figures beside the words, then the chart. */
export function renderProvenance(p) {
  const levelsText = p.levels ? p.levels.map((level) => `${level.severity} ${level.text}`).join("; ") : "could not be read";
  const facts = [
    ["Rule", h("span", { "data-role": "rule" }, p.rule, p.ruleVersion ? `, version ${p.ruleVersion}` : ", version unreadable")],
    ["State", p.state ? (STATES[p.state] ?? p.state) : null],
    ["Indicator", p.indicator ? [p.indicator, p.direction ? ` (alerting ${side(p.direction)} a level)` : ""] : null],
    ["Levels", [levelsText, p.recoveryLevel ? `; recovery level ${p.recoveryLevel.text}` : ""]],
    ["Confirmed by", p.confirmedBy === null ? "could not be read" : p.confirmedBy.length ? h("span", { "data-role": "confirmed-by" }, pointsText(p.confirmedBy)) : null],
  ].filter(([, value]) => value !== null);
  return h(
    "section",
    { class: "provenance", lang: "en", "data-role": "provenance", "aria-label": "Raised by a threshold rule" },
    h("h4", {}, "Raised by a threshold rule"),
    reasonLine(p),
    observedLine(p),
    h("dl", { class: "facts" }, facts.map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)])),
    p.unreadable.length
      ? h("p", { class: "provenance-problem", "data-role": "provenance-problem" }, `Could not be read: ${p.unreadable.map((name) => PREFIX + name).join(", ")}. The parameters are shown below as sent.`)
      : null,
    chart(p),
    seriesTable(p.series),
  );
}
