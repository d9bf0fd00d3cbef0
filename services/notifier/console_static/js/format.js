// Words and times for people: dates in the officer's time zone, languages by their own names.

const TIME = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit" });
const DAY_TIME = new Intl.DateTimeFormat("en-GB", {
  day: "numeric", month: "short", hour: "2-digit", minute: "2-digit",
});
const FULL = new Intl.DateTimeFormat("en-GB", {
  weekday: "short", day: "numeric", month: "short", year: "numeric",
  hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short",
});

/** "14:05" today, "28 Nov, 14:05" on another day; "" for nothing. */
export function shortTime(value, now = new Date()) {
  if (!value) return "";
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toDateString() === now.toDateString() ? TIME.format(date) : DAY_TIME.format(date);
}

/** The full date and time with the zone, for titles and the detail view. */
export function fullTime(value) {
  if (!value) return "";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : FULL.format(date);
}

/** "in 3 h", "12 min ago". */
export function relativeTime(value, now = new Date()) {
  const seconds = (new Date(value).getTime() - now.getTime()) / 1000;
  const size = Math.abs(seconds);
  let text;
  if (size < 60) text = `${Math.round(size)} s`;
  else if (size < 3600) text = `${Math.round(size / 60)} min`;
  else if (size < 2 * 86400) text = `${Math.round(size / 3600)} h`;
  else text = `${Math.round(size / 86400)} days`;
  return seconds >= 0 ? `in ${text}` : `${text} ago`;
}

const englishNames = safeNames("en");

function safeNames(locale) {
  try {
    return new Intl.DisplayNames([locale], { type: "language" });
  } catch {
    return null;
  }
}

/** "Deutsch (Deutschland)" for de-DE: a language in its own words. */
export function nativeLanguageName(tag) {
  if (!tag) return "unknown language";
  try {
    return new Intl.DisplayNames([tag], { type: "language" }).of(tag) ?? tag;
  } catch {
    return tag;
  }
}

/** "German (Germany)" for de-DE. */
export function englishLanguageName(tag) {
  if (!tag) return "unknown language";
  try {
    return englishNames?.of(tag) ?? tag;
  } catch {
    return tag;
  }
}

/** "1 alert", "3 alerts". */
export function plural(count, word, words = `${word}s`) {
  return `${count} ${count === 1 ? word : words}`;
}

/** A size in bytes for people. */
export function byteSize(size) {
  if (size === undefined || size === null) return "";
  if (size < 1024) return `${size} B`;
  if (size < 1024 * 1024) return `${(size / 1024).toFixed(0)} KiB`;
  return `${(size / 1024 / 1024).toFixed(1)} MiB`;
}
