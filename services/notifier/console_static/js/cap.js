// Reading CAP 1.2 alerts as the notifier sends them (JSON twin, camelCase element names).
// The words shown for CAP's values (a category's name, "Extreme") are the catalogue's
// `category.*`, `severity.*`… keys: see term() in i18n.js.

import { t, term, upper } from "./i18n.js";

export const SEVERITIES = ["Extreme", "Severe", "Moderate", "Minor", "Unknown"];
export const CATEGORIES = [
  "Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env", "Transport", "Infra",
  "CBRNE", "Other",
];

const SEVERITY_RANK = { Extreme: 4, Severe: 3, Moderate: 2, Minor: 1, Unknown: 0 };

/** Extreme=4 ... Minor=1, Unknown=0 (as schemas.cap.Severity.rank). */
export function severityRank(severity) {
  return SEVERITY_RANK[severity] ?? 0;
}

/** True for the severities a duty officer must not miss. */
export function isAnnounced(severity) {
  return severityRank(severity) >= SEVERITY_RANK.Severe;
}

/** "sender,identifier": the key under which the network knows a message. */
export function keyText(key) {
  return `${key.sender},${key.identifier}`;
}

/** The languages of an alert's info blocks, in the order the sender gave them. */
export function languagesOf(alert) {
  return [...new Set((alert.info ?? []).map((info) => info.language ?? "en-US"))];
}

function primary(tag) {
  return String(tag ?? "").toLowerCase().split("-")[0];
}

/** Whether a CAP language tag (fr-BE) is in a wanted language (fr, fr-BE). */
export function sameLanguage(tag, wanted) {
  if (!tag || !wanted) return false;
  return tag.toLowerCase() === wanted.toLowerCase() || primary(tag) === primary(wanted);
}

/**
 * The language to show an alert in: the first of `preferred` the alert carries, else its first.
 * `missing` tells that none of the preferred languages is there.
 */
export function chooseLanguage(alert, preferred) {
  const available = languagesOf(alert);
  for (const wanted of preferred.filter(Boolean)) {
    const exact = available.find((tag) => tag.toLowerCase() === wanted.toLowerCase());
    if (exact) return { language: exact, missing: false };
    const close = available.find((tag) => sameLanguage(tag, wanted));
    if (close) return { language: close, missing: false };
  }
  return { language: available[0] ?? null, missing: preferred.filter(Boolean).length > 0 };
}

/** The info blocks in one language (all of them when the alert has no info in it). */
export function infosIn(alert, language) {
  const infos = alert.info ?? [];
  const matching = infos.filter((info) => (info.language ?? "en-US") === language);
  return matching.length ? matching : infos;
}

/** The most severe of an alert's info blocks: what the list shows first. */
export function worstInfo(infos) {
  return [...infos].sort((a, b) => severityRank(b.severity) - severityRank(a.severity))[0] ?? null;
}

/** Every value of `field` across all info blocks (e.g. all categories). */
export function allOf(alert, field) {
  return [...new Set((alert.info ?? []).flatMap((info) => [].concat(info[field] ?? [])))];
}

/** The highest severity rank among the alert's info blocks. */
export function maxSeverityRank(alert) {
  return Math.max(0, ...(alert.info ?? []).map((info) => severityRank(info.severity)));
}

const NUTS_LIKE = /^[A-Z]{2}[0-9A-Z]{0,3}$/;

/** The region codes an alert covers: its NUTS geocodes, in every info and area. */
export function regionCodes(alert) {
  const codes = [];
  for (const info of alert.info ?? []) {
    for (const area of info.area ?? []) {
      for (const geocode of area.geocode ?? []) {
        const value = String(geocode.value ?? "").trim().toUpperCase();
        if (/nuts/i.test(geocode.valueName ?? "") || NUTS_LIKE.test(value)) codes.push(value);
      }
    }
  }
  return [...new Set(codes)];
}

/** Whether a region code (BE332) lies in or contains another (BE33, BE3). */
export function regionsOverlap(code, other) {
  return code.startsWith(other) || other.startsWith(code);
}

/** A CAP polygon "lat,lon lat,lon ..." as [[lat, lon], ...]; null if unreadable. */
export function parsePolygon(text) {
  const points = String(text).trim().split(/\s+/).map((pair) => pair.split(",").map(Number));
  if (points.length < 3 || points.some((p) => p.length !== 2 || p.some((n) => !Number.isFinite(n)))) {
    return null;
  }
  return points;
}

/** A CAP circle "lat,lon radius_km" as {lat, lon, radiusKm}; null if unreadable. */
export function parseCircle(text) {
  const [centre, radius] = String(text).trim().split(/\s+/);
  const [lat, lon] = String(centre ?? "").split(",").map(Number);
  const radiusKm = Number(radius);
  if (![lat, lon, radiusKm].every(Number.isFinite)) return null;
  return { lat, lon, radiusKm };
}

/** Every polygon and circle of the alert's areas (in one language's infos, or all). */
export function shapesOf(infos) {
  const polygons = [];
  const circles = [];
  for (const info of infos) {
    for (const area of info.area ?? []) {
      for (const text of area.polygon ?? []) {
        const polygon = parsePolygon(text);
        if (polygon) polygons.push({ points: polygon, areaDesc: area.areaDesc });
      }
      for (const text of area.circle ?? []) {
        const circle = parseCircle(text);
        if (circle) circles.push({ ...circle, areaDesc: area.areaDesc });
      }
    }
  }
  return { polygons, circles };
}

/** When the alert stops being current: the latest `expires` of its infos, or null. */
export function expiresOf(alert) {
  const times = (alert.info ?? []).map((info) => info.expires).filter(Boolean).map((t) => new Date(t));
  return times.length ? new Date(Math.max(...times.map(Number))) : null;
}

/** Whether every info of the alert has expired by `now`. */
export function isExpired(alert, now = new Date()) {
  const expires = expiresOf(alert);
  return expires !== null && expires <= now;
}

/**
 * The exercise run an alert belongs to, from the note crossalert's exercise tools write:
 * "Exercise NAME — run RUN" for a scenario's run, "Exercise replay RUN of real traffic …" for a
 * replay. Null for any other alert (an exercise posted by hand says what it likes).
 */
export function exerciseRunOf(alert) {
  const note = alert.note ?? "";
  const replay = /^Exercise replay (\S+) of real traffic/.exec(note);
  if (replay) return { run: replay[1], name: t("exercise.replayName") };
  // As schemas/names.py writes it; the threshold evaluator's alerts add a sentence after it.
  const run = /^Exercise (.+?) — run ([0-9A-Za-z-]{1,40})(?=$|\. )/.exec(note);
  return run ? { run: run[2], name: run[1] } : null;
}

/** "EXERCISE" with the CAP status when it is not plainly Exercise (e.g. "EXERCISE · TEST"). */
export function exerciseLabel(status) {
  const mark = t("exercise.mark");
  return status === "Exercise" ? mark : `${mark} · ${upper(term("status", status))}`;
}
