// The list filters and their place in the URL's query string, so a view can be bookmarked,
// shared with the next shift, and survives a reload.

import {
  allOf, exerciseRunOf, maxSeverityRank, regionCodes, regionsOverlap, severityRank,
} from "./cap.js";
import { t } from "./i18n.js";

export const DEFAULTS = Object.freeze({
  category: "",
  severity: "",
  region: "",
  status: "active",
  traffic: "all",
  run: "",
});

/** The status filter's values and their labels (read when shown: the language may change). */
export const STATUSES = {
  active: () => t("filters.status.active"),
  cancelled: () => t("filters.status.cancelled"),
  expired: () => t("filters.status.expired"),
  all: () => t("filters.status.all"),
};

export const TRAFFIC = {
  all: () => t("filters.traffic.all"),
  real: () => t("filters.traffic.real"),
  exercise: () => t("filters.traffic.exercise"),
};

/** The filters named in a query string; unknown or invalid values fall back to the defaults. */
export function readFilters(search) {
  const params = new URLSearchParams(search);
  const filters = { ...DEFAULTS };
  for (const name of Object.keys(DEFAULTS)) {
    const value = params.get(name);
    if (value !== null) filters[name] = value;
  }
  if (!(filters.status in STATUSES)) filters.status = DEFAULTS.status;
  if (!(filters.traffic in TRAFFIC)) filters.traffic = DEFAULTS.traffic;
  return filters;
}

/** The query string for `filters` ("" when all are defaults); other parameters are kept. */
export function writeFilters(filters, search = "") {
  const params = new URLSearchParams(search);
  for (const name of Object.keys(DEFAULTS)) {
    const value = filters[name] ?? DEFAULTS[name];
    if (value === DEFAULTS[name]) params.delete(name);
    else params.set(name, value);
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

/** Whether a chain view passes the filters. */
export function matches(view, filters) {
  const alert = view.head.alert;
  if (filters.traffic === "real" && view.exercise) return false;
  if (filters.traffic === "exercise" && !view.exercise) return false;
  if (filters.run && exerciseRunOf(alert)?.run !== filters.run) return false;
  if (filters.status !== "all" && view.state !== filters.status) return false;
  if (filters.category && !allOf(alert, "category").includes(filters.category)) return false;
  if (filters.severity && maxSeverityRank(alert) < severityRank(filters.severity)) return false;
  if (filters.region && !regionCodes(alert).some((code) => regionsOverlap(code, filters.region))) {
    return false;
  }
  return true;
}

/** Whether any filter other than the exercise toggle narrows the list. */
export function narrowed(filters) {
  return ["category", "severity", "region", "status", "run"].some((name) => filters[name] !== DEFAULTS[name]);
}
