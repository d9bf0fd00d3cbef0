// Words and times for people: dates in the officer's time zone and interface language,
// languages by their own names or in the interface language.

import { t, uiLocale } from "./i18n.js";

const DATE_FORMATS = {
  time: { hour: "2-digit", minute: "2-digit" },
  dayTime: { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" },
  full: {
    weekday: "short", day: "numeric", month: "short", year: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short",
  },
};
const formatters = new Map();

// Made once per locale and kind: a formatter is costly to build, and a list renders many times.
function dateFormat(kind) {
  const key = `${uiLocale()} ${kind}`;
  if (!formatters.has(key)) formatters.set(key, new Intl.DateTimeFormat(uiLocale(), DATE_FORMATS[kind]));
  return formatters.get(key);
}

/** "14:05" today, "28 Nov, 14:05" on another day; "" for nothing. */
export function shortTime(value, now = new Date()) {
  if (!value) return "";
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return dateFormat(date.toDateString() === now.toDateString() ? "time" : "dayTime").format(date);
}

/** The full date and time with the zone, for titles and the detail view. */
export function fullTime(value) {
  if (!value) return "";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : dateFormat("full").format(date);
}

/** "in 3 h", "12 min ago". */
export function relativeTime(value, now = new Date()) {
  const seconds = (new Date(value).getTime() - now.getTime()) / 1000;
  const size = Math.abs(seconds);
  let span;
  if (size < 60) span = t("time.seconds", { count: Math.round(size) });
  else if (size < 3600) span = t("time.minutes", { count: Math.round(size / 60) });
  else if (size < 2 * 86400) span = t("time.hours", { count: Math.round(size / 3600) });
  else span = t("time.days", { count: Math.round(size / 86400) });
  return seconds >= 0 ? t("time.in", { span }) : t("time.ago", { span });
}

function displayNames(locale) {
  try {
    return new Intl.DisplayNames([locale], { type: "language" });
  } catch {
    return null;
  }
}

/** "Deutsch (Deutschland)" for de-DE: a language in its own words. */
export function nativeLanguageName(tag) {
  if (!tag) return t("language.unknown");
  try {
    return displayNames(tag)?.of(tag) ?? tag;
  } catch {
    return tag;
  }
}

/** "German (Germany)" for de-DE in an English interface, "Duits (Duitsland)" in a Dutch one. */
export function languageName(tag) {
  if (!tag) return t("language.unknown");
  try {
    return displayNames(uiLocale())?.of(tag) ?? tag;
  } catch {
    return tag;
  }
}

/** A number in the interface language (1,5 in nl/fr/de), at most `digits` decimals. */
export function number(value, digits = 0) {
  return new Intl.NumberFormat(uiLocale(), { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(value);
}

/** A size in bytes for people. */
export function byteSize(size) {
  if (size === undefined || size === null) return "";
  if (size < 1024) return t("size.bytes", { size: number(size) });
  if (size < 1024 * 1024) return t("size.kib", { size: number(size / 1024) });
  return t("size.mib", { size: number(size / 1024 / 1024, 1) });
}
