// The console's own words in the officer's interface language (en, nl, fr, de).
//
// Every word comes from one catalogue, ../messages.json: a key holds its text in each language,
// with {name} placeholders for what varies, or {"one": …, "other": …} where a {count} decides
// the form. The alert's own texts (headline, event, areas…) are never translated here: they
// come in the alert's languages, chosen by the separate alert-language setting.
//
//   JS:   t("key", { name: value })   the text, placeholders filled (numbers in the UI locale)
//         tn("key", { time: node })   the same as parts for h(), so a placeholder can be an element
//         term("family", value)       the label of a word of a known set (a CAP severity, a state…)
//   HTML: data-i18n="key" (the text), data-i18n-aria-label, -title, -placeholder, -label
//
// A change of language is announced by a CHANGE event on window; the page then re-renders.

import CATALOGUE from "../messages.json" with { type: "json" };

/** The interface languages, in the order the selector offers them. */
export const UI_LANGUAGES = ["en", "nl", "fr", "de"];
export const CHANGE = "crossalert:uilanguage";

const FALLBACK = "en";
const STORAGE_KEY = "crossalert.console.uiLanguage";
// en-GB rather than en-US: day before month and a 24-hour clock, as the centres write them.
const LOCALES = { en: "en-GB", nl: "nl-BE", fr: "fr-BE", de: "de-DE" };
const ATTRIBUTES = ["aria-label", "title", "placeholder", "label"];
const PLACEHOLDER = /\{(\w+)\}/g;

let current = initialLanguage();

function remembered() {
  try {
    return window.localStorage.getItem(STORAGE_KEY);
  } catch {
    return null; // storage refused (a locked-down browser): the choice lasts this page only
  }
}

/** The officer's remembered choice, else the first of the browser's languages we have, else English. */
function initialLanguage() {
  const chosen = remembered();
  if (UI_LANGUAGES.includes(chosen)) return chosen;
  for (const tag of navigator.languages?.length ? navigator.languages : [navigator.language]) {
    const primary = String(tag ?? "").toLowerCase().split("-")[0];
    if (UI_LANGUAGES.includes(primary)) return primary;
  }
  return FALLBACK;
}

/** The current interface language ("en", "nl", "fr" or "de"). */
export function uiLanguage() {
  return current;
}

/** The locale dates and numbers are formatted in. */
export function uiLocale() {
  return LOCALES[current];
}

/** Whether the catalogue has `key`. */
export function hasKey(key) {
  return Object.hasOwn(CATALOGUE, key);
}

const plurals = new Map();

// "one" or "other" for a count, as the language counts (French: 0 is "one").
function pluralRules(language) {
  if (!plurals.has(language)) plurals.set(language, new Intl.PluralRules(LOCALES[language]));
  return plurals.get(language);
}

function template(language, key, count) {
  const entry = CATALOGUE[key];
  if (!entry) {
    // A programming error (the tests check every key): show the key rather than nothing.
    console.error(`crossalert console: no message "${key}"`);
    return key;
  }
  const text = entry[language] ?? entry[FALLBACK];
  if (typeof text === "string") return text;
  return text[pluralRules(language).select(Number(count ?? 0))] ?? text.other;
}

function shown(value, language) {
  if (typeof value === "number") return new Intl.NumberFormat(LOCALES[language]).format(value);
  return value ?? "";
}

function fill(language, key, params) {
  const text = template(language, key, params.count);
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(PLACEHOLDER)) {
    parts.push(text.slice(last, match.index));
    parts.push(Object.hasOwn(params, match[1]) ? shown(params[match[1]], language) : match[0]);
    last = match.index + match[0].length;
  }
  parts.push(text.slice(last));
  return parts.filter((part) => part !== "");
}

/** The text of `key` in `language`, placeholders filled from `params`. */
export function translate(language, key, params = {}) {
  return fill(UI_LANGUAGES.includes(language) ? language : FALLBACK, key, params).join("");
}

/** The text of `key` in the interface language, placeholders filled from `params`. */
export function t(key, params = {}) {
  return translate(current, key, params);
}

/** Like t(), as a list of parts for h(): a placeholder's value may be an element (a <time>, a <strong>). */
export function tn(key, params = {}) {
  return fill(current, key, params);
}

/**
 * The label of `value` from a known set named by `family` (the catalogue's `family.value`),
 * e.g. term("severity", "Extreme"); a value the catalogue does not know is shown as it is.
 */
export function term(family, value) {
  const key = `${family}.${value}`;
  return hasKey(key) ? t(key) : String(value ?? "");
}

/** `text` in capitals as the interface language writes them (marks such as UPDATE, CANCELLED). */
export function upper(text) {
  return String(text).toLocaleUpperCase(current);
}

/** Put the catalogue's words into the static page: data-i18n and data-i18n-<attribute>. */
export function translatePage(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const attribute of ATTRIBUTES) {
    for (const el of root.querySelectorAll(`[data-i18n-${attribute}]`)) {
      el.setAttribute(attribute, t(el.getAttribute(`data-i18n-${attribute}`)));
    }
  }
  document.documentElement.lang = current;
}

/** Switch the interface language, remember it on this browser, and tell the page. */
export function setUiLanguage(language) {
  if (!UI_LANGUAGES.includes(language) || language === current) return;
  current = language;
  try {
    window.localStorage.setItem(STORAGE_KEY, language);
  } catch {
    // not remembered; still switched
  }
  translatePage();
  window.dispatchEvent(new CustomEvent(CHANGE, { detail: { language } }));
}

/** Call `listener(language)` after each change of interface language. */
export function onUiLanguageChange(listener) {
  window.addEventListener(CHANGE, (event) => listener(event.detail.language));
}
