// A small chart of a threshold rule's recent series: the values as a line with points, broken
// where a period was not reported, the rule's levels and recovery level as horizontal lines, and
// the confirming periods shaded. Built with DOM APIs and styled by classes (the page's policy
// allows no inline style).

import { s } from "./dom.js";
import { t, term } from "./i18n.js";

const WIDTH = 560;
const HEIGHT = 240;
const PLOT = { left: 56, right: 440, top: 14, bottom: 200 };
const LABEL_GAP = 12;
const PERIOD_LABEL_CHARS = 18;

let charts = 0;

/** A number for the axis: at most six significant digits, no grouping (1,500 is 1.5 in nl/fr/de),
 * written as the rule writes its figures beside it (312.5), whatever the interface language. */
function numberText(value) {
  return String(Number(value.toPrecision(6)));
}

function niceStep(span) {
  const raw = span / 4;
  const power = 10 ** Math.floor(Math.log10(raw));
  const m = raw / power;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * power;
}

/** [low, high] of the value axis: every value and line in view, on round numbers; null if none. */
function range(values) {
  let low = Math.min(...values);
  let high = Math.max(...values);
  if (low === high) {
    const pad = Math.abs(low) / 10 || 1;
    low -= pad;
    high += pad;
  }
  const step = niceStep(high - low);
  const niceLow = Math.floor(low / step) * step;
  const niceHigh = Math.ceil(high / step) * step;
  if (Number.isFinite(niceLow) && Number.isFinite(niceHigh) && niceHigh > niceLow) return [niceLow, niceHigh];
  return Number.isFinite(high - low) && high > low ? [low, high] : null;
}

function shortPeriod(period) {
  return period.length > PERIOD_LABEL_CHARS ? `${period.slice(0, PERIOD_LABEL_CHARS - 1)}…` : period;
}

/** Label heights moved apart so that none overlaps the one above it. */
function spread(labels) {
  const sorted = [...labels].sort((a, b) => a.y - b.y);
  for (let i = 1; i < sorted.length; i += 1) {
    sorted[i].y = Math.max(sorted[i].y, sorted[i - 1].y + LABEL_GAP);
  }
  return labels;
}

function describe({ series, levels, recovery, confirmed, indicator, unit }) {
  const reported = series.filter((pt) => pt.value !== null);
  const lowest = reported.reduce((a, b) => (b.value < a.value ? b : a));
  const highest = reported.reduce((a, b) => (b.value > a.value ? b : a));
  const missing = series.filter((pt) => pt.value === null).map((pt) => pt.period);
  const withUnit = (text) => (unit ? `${text} ${unit}` : text);
  return [
    t("trend.over", { indicator, count: series.length, first: series[0].period, last: series.at(-1).period }),
    t("trend.range", { lowest: withUnit(lowest.text), lowestPeriod: lowest.period, highest: withUnit(highest.text), highestPeriod: highest.period }),
    missing.length ? t("trend.missing", { periods: missing.join(", ") }) : t("trend.complete"),
    levels.length ? t("trend.levels", { levels: levels.map((level) => `${term("severity", level.severity)} ${level.text}`).join(", ") }) : t("trend.noLevels"),
    recovery ? t("provenance.recoveryLevel", { level: recovery.text }) : null,
    confirmed.length ? t("trend.confirmed", { periods: confirmed.join(", ") }) : null,
  ].filter(Boolean).join("; ") + ".";
}

function pointTitle(pt, unit, confirms) {
  const params = { period: pt.period, value: unit ? `${pt.text} ${unit}` : pt.text };
  return confirms ? t("trend.pointConfirming", params) : t("trend.point", params);
}

/**
 * The chart as an SVG element with an accessible name and description.
 * `series`: [{period, value|null, text}], oldest first; `levels`: [{severity, value, text}];
 * `current`: the severity of the level the alert is at; `recovery`: {value, text} or null;
 * `confirmed`: the periods that confirmed the alert.
 * Null when the values span more than a chart can show (at least one must be reported).
 */
export function renderTrend({ series, levels, current, recovery, confirmed, indicator, unit }) {
  const reported = series.filter((pt) => pt.value !== null);
  const span = range([
    ...reported.map((pt) => pt.value),
    ...levels.map((level) => level.value),
    ...(recovery ? [recovery.value] : []),
  ]);
  if (!span) return null;
  const [low, high] = span;
  const plotWidth = PLOT.right - PLOT.left;
  const step = series.length > 1 ? plotWidth / (series.length - 1) : plotWidth;
  const x = (index) => (series.length > 1 ? PLOT.left + index * step : PLOT.left + plotWidth / 2);
  const y = (value) => PLOT.bottom - ((value - low) / (high - low)) * (PLOT.bottom - PLOT.top);
  const at = (number) => number.toFixed(1);
  const confirming = new Set(confirmed);

  const bands = series.flatMap((pt, index) => {
    if (!confirming.has(pt.period)) return [];
    const left = Math.max(PLOT.left, x(index) - step / 2);
    const right = Math.min(PLOT.right, x(index) + step / 2);
    return [s("rect", { class: "confirm-band", "data-period": pt.period, x: at(left), y: PLOT.top, width: at(right - left), height: PLOT.bottom - PLOT.top })];
  });

  const lines = [];
  const labels = [];
  for (const level of levels) {
    const height = y(level.value);
    const severity = level.severity.toLowerCase();
    lines.push(s("line", { class: ["level", `sev-${severity}`, level.severity === current && "current"], "data-role": "level", "data-severity": level.severity, x1: PLOT.left, x2: PLOT.right, y1: at(height), y2: at(height) }));
    labels.push({ y: height + 4, classes: ["level-label", `sev-${severity}`], text: `${term("severity", level.severity)} ${level.text}` });
  }
  if (recovery) {
    const height = y(recovery.value);
    lines.push(s("line", { class: "recovery", "data-role": "recovery", x1: PLOT.left, x2: PLOT.right, y1: at(height), y2: at(height) }));
    labels.push({ y: height + 4, classes: ["level-label", "recovery-label"], text: t("trend.recovery", { level: recovery.text }) });
  }
  const lineLabels = spread(labels).map((label) => s("text", { class: label.classes, x: PLOT.right + 6, y: at(Math.min(label.y, HEIGHT - 4)) }, label.text));

  // One polyline per run of reported periods: a period not reported breaks the line.
  const segments = [];
  let run = [];
  series.forEach((pt, index) => {
    if (pt.value === null) {
      if (run.length) segments.push(run);
      run = [];
    } else {
      run.push(`${at(x(index))},${at(y(pt.value))}`);
    }
  });
  if (run.length) segments.push(run);
  const polylines = segments.filter((points) => points.length > 1).map((points) => s("polyline", { class: "series-line", "data-role": "segment", points: points.join(" ") }));

  const marks = series.map((pt, index) => {
    if (pt.value === null) {
      const cx = x(index);
      const cy = PLOT.bottom;
      return s(
        "path",
        { class: "gap", "data-role": "gap", "data-period": pt.period, d: `M${at(cx - 4)} ${at(cy - 4)}L${at(cx + 4)} ${at(cy + 4)}M${at(cx - 4)} ${at(cy + 4)}L${at(cx + 4)} ${at(cy - 4)}` },
        s("title", {}, t("trend.gap", { period: pt.period })),
      );
    }
    const confirms = confirming.has(pt.period);
    return s(
      "circle",
      { class: ["point", confirms && "confirming"], "data-role": "point", "data-period": pt.period, cx: at(x(index)), cy: at(y(pt.value)), r: confirms ? 5 : 3.5 },
      s("title", {}, pointTitle(pt, unit, confirms)),
    );
  });

  const first = series[0].period;
  const last = series.at(-1).period;
  const axisLabels = [
    s("text", { class: ["axis-label", "value-label"], "data-role": "axis-high", x: PLOT.left - 6, y: at(PLOT.top + 4) }, numberText(high)),
    s("text", { class: ["axis-label", "value-label"], "data-role": "axis-low", x: PLOT.left - 6, y: at(PLOT.bottom + 4) }, numberText(low)),
    series.length > 1
      ? [
          s("text", { class: ["axis-label", "period-first"], "data-role": "axis-first", x: PLOT.left, y: PLOT.bottom + 22 }, shortPeriod(first)),
          s("text", { class: ["axis-label", "period-last"], "data-role": "axis-last", x: PLOT.right, y: PLOT.bottom + 22 }, shortPeriod(last)),
        ]
      : s("text", { class: ["axis-label", "period-only"], "data-role": "axis-first", x: at(x(0)), y: PLOT.bottom + 22 }, shortPeriod(first)),
  ];

  const id = `trend-${(charts += 1)}`;
  return s(
    "svg",
    {
      class: "trend",
      viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
      role: "img",
      "aria-labelledby": `${id}-title`,
      "aria-describedby": `${id}-desc`,
      "data-role": "provenance-chart",
      preserveAspectRatio: "xMidYMid meet",
    },
    s("title", { id: `${id}-title` }, t("trend.title", { indicator })),
    s("desc", { id: `${id}-desc` }, describe({ series, levels, recovery, confirmed, indicator, unit })),
    s("rect", { class: "plot", x: PLOT.left, y: PLOT.top, width: plotWidth, height: PLOT.bottom - PLOT.top }),
    s("g", { class: "bands" }, bands),
    s("g", { class: "lines" }, lines),
    s("line", { class: "axis", x1: PLOT.left, x2: PLOT.left, y1: PLOT.top, y2: PLOT.bottom }),
    s("line", { class: "axis", x1: PLOT.left, x2: PLOT.right, y1: PLOT.bottom, y2: PLOT.bottom }),
    s("g", { class: "series" }, polylines, marks),
    s("g", { class: "labels", "aria-hidden": "true" }, lineLabels, axisLabels),
  );
}
