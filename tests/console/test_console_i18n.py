"""The console's interface in English, Dutch, French and German.

The catalogue (console_static/messages.json) is checked as data: every key in every language,
the same placeholders everywhere, each key the page or its scripts use present, none left
unused, no English left in the page outside it. Then in real Chromium: an officer switches the
interface language on a live console, and the choice outlives a reload.
"""

from __future__ import annotations

import json
import re
import typing
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from gateway_support import flood_alert
from playwright.async_api import Browser, expect

from console.console_support import SLOW, Network, OfficerPage, officer
from schemas.cap import Category, Certainty, MsgType, ResponseType, Scope, Severity, Status, Urgency
from schemas.console import AlertState
from schemas.envelopes import Channel, DeliveryStatus
from schemas.exercise import ExpectationResult, RunState

ROOT = Path(__file__).parents[2]
STATIC = ROOT / "services" / "notifier" / "console_static"
SCRIPTS = sorted((STATIC / "js").glob("*.js"))
LANGUAGES = ["en", "nl", "fr", "de"]
PLURAL_FORMS = {"one", "other"}
PLACEHOLDER = re.compile(r"\{(\w+)\}")

# t("key", …) and tn("key", …) name a key; translate(language, "key") too.
KEY_CALL = re.compile(r"\b(?:t|tn)\(\s*\"([^\"]+)\"|\btranslate\([^,()]+,\s*\"([^\"]+)\"")
ANY_CALL = re.compile(r"\b(?:t|tn)\((?!\s*\")")
TERM_CALL = re.compile(r"\bterm\(\s*\"([^\"]+)\"")
HTML_KEY = re.compile(r"\bdata-i18n(?:-[a-z-]+)?=\"([^\"]+)\"")
WORDS = re.compile(r"[A-Za-z]{2,}")
STRING = re.compile(r"\"((?:[^\"\\\n]|\\.)*)\"|`((?:[^`\\]|\\.)*)`")
INTERPOLATION = re.compile(r"\$\{(?:[^{}]|\{[^{}]*\})*\}")


def enum_values(enum: type[Any]) -> set[str]:
    return {member.value for member in enum}


def region_codes() -> set[str]:
    """The codes regions.js draws or offers: its regions' and GROUPS."""
    source = (STATIC / "js" / "regions.js").read_text()
    groups = re.search(r"export const GROUPS = \[(.*?)\];", source, re.S)
    assert groups, "regions.js declares GROUPS = [...]"
    return set(re.findall(r'code: "([^"]+)"', source)) | set(re.findall(r'"([^"]+)"', groups[1]))


# The sets whose words term("family", value) shows; each value must have `family.value`.
FAMILIES: dict[str, set[str]] = {
    "severity": enum_values(Severity),
    "urgency": enum_values(Urgency),
    "certainty": enum_values(Certainty),
    "category": enum_values(Category),
    "responseType": enum_values(ResponseType),
    "status": enum_values(Status),
    "msgType": enum_values(MsgType),
    "scope": enum_values(Scope),
    "alertState": enum_values(AlertState),
    "delivery": enum_values(DeliveryStatus),
    "channel": enum_values(Channel),
    "runState": enum_values(RunState),
    "composer.state": {"draft", "submitted", "published", "withdrawn"},
    "composer.done": {"draft", "submitted", "published", "withdrawn"},
    "composer.heading": {"Alert", "Update", "Cancel"},
    "composer.language": {"en", "nl", "fr", "de"},
    "composer.text": {"event", "headline", "description", "instruction"},
    "composer.draw": {"regions", "polygon", "circle"},
    "composer.help.urgency": {"Immediate", "Expected", "Future", "Past"},
    "composer.help.severity": {"Extreme", "Severe", "Moderate", "Minor"},
    "composer.help.certainty": {"Observed", "Likely", "Possible", "Unlikely"},
    "expectation": set(typing.get_args(ExpectationResult.model_fields["expected"].annotation)),
    "place": region_codes(),
}
# Words a script may write as they are: CAP's own values (compared, never shown untranslated),
# key names and the HTTP scheme.
NOT_WORDS = set().union(*FAMILIES.values()) | {"Escape", "ArrowDown", "ArrowUp", "Bearer", "Enter"}
BRAND = "crossalert"


def catalogue() -> dict[str, dict[str, Any]]:
    messages: dict[str, dict[str, Any]] = json.loads((STATIC / "messages.json").read_text())
    return messages


def forms(text: Any) -> list[str]:
    """The texts of one language of a key: one, or its plural forms."""
    return list(text.values()) if isinstance(text, dict) else [text]


def without_comments(source: str) -> str:
    source = re.sub(r"/\*.*?\*/", "", source, flags=re.S)
    return re.sub(r"(^|\s)//.*$", "", source, flags=re.M)


def script_sources() -> dict[str, str]:
    return {path.name: without_comments(path.read_text()) for path in SCRIPTS}


def keys_in_scripts() -> dict[str, str]:
    """Each key the scripts name, with the file that names it first."""
    found: dict[str, str] = {}
    for name, source in script_sources().items():
        for match in KEY_CALL.finditer(source):
            found.setdefault(match[1] or match[2], name)
    return found


def families_in_scripts() -> set[str]:
    return {m[1] for source in script_sources().values() for m in TERM_CALL.finditer(source)}


def keys_in_page() -> set[str]:
    return set(HTML_KEY.findall((STATIC / "index.html").read_text()))


# ------------------------------------------------------------------ the catalogue as data


def test_every_key_has_a_text_in_each_of_the_four_languages() -> None:
    messages = catalogue()
    declared = re.search(
        r"export const UI_LANGUAGES = \[(.*?)\];", (STATIC / "js" / "i18n.js").read_text()
    )

    assert declared and re.findall(r'"(\w+)"', declared[1]) == LANGUAGES
    assert len(messages) > 300
    problems = []
    for key, texts in messages.items():
        if sorted(texts) != sorted(LANGUAGES):
            problems.append(f"{key}: languages {sorted(texts)}")
            continue
        for language, text in texts.items():
            if isinstance(text, dict) and set(text) != PLURAL_FORMS:
                problems.append(f"{key} [{language}]: plural forms {sorted(text)}")
            elif not all(isinstance(form, str) and form.strip() for form in forms(text)):
                problems.append(f"{key} [{language}]: empty")
            elif any(form != form.strip() for form in forms(text)):
                problems.append(f"{key} [{language}]: spaces at an end")
    assert problems == []


def test_each_key_has_the_same_placeholders_in_every_language_and_form() -> None:
    problems = []
    for key, texts in catalogue().items():
        english = set(PLACEHOLDER.findall(forms(texts["en"])[0]))
        for language, text in texts.items():
            for form in forms(text):
                if set(PLACEHOLDER.findall(form)) != english:
                    problems.append(f"{key} [{language}]: {form!r} has not {sorted(english)}")
            if isinstance(text, dict) and "count" not in english:
                problems.append(f"{key} [{language}]: plural forms without {{count}}")
    assert problems == []


def test_the_translations_are_translated() -> None:
    # A text copied from English into another language by mistake: tolerated only for words
    # that are the same there (names, units, "Live", "Test"…), so at most a short text.
    messages = catalogue()
    copied = [
        f"{key} [{language}]"
        for key, texts in messages.items()
        for language in LANGUAGES[1:]
        if texts[language] == texts["en"]
        and len(WORDS.findall(PLACEHOLDER.sub("", str(texts["en"])))) > 3
        and not key.startswith("place.")
    ]
    assert copied == []


# ------------------------------------------------------------------ the catalogue and its users


def test_every_key_the_page_and_scripts_use_is_in_the_catalogue() -> None:
    messages = catalogue()
    from_scripts = keys_in_scripts()

    assert len(from_scripts) > 200 and len(keys_in_page()) > 30
    assert {key: f for key, f in from_scripts.items() if key not in messages} == {}
    assert sorted(keys_in_page() - set(messages)) == []


def test_keys_are_named_literally_so_that_they_can_be_checked() -> None:
    # t(variable) would hide a key from these tests: choose between literals instead, and use
    # term("family", value) for a word of a known set.
    computed = {
        name: [source[m.start() : m.start() + 40] for m in ANY_CALL.finditer(source)]
        for name, source in script_sources().items()
        if name != "i18n.js"
    }

    assert {name: calls for name, calls in computed.items() if calls} == {}


def test_every_family_of_words_is_complete_and_known() -> None:
    messages = catalogue()
    used = families_in_scripts()

    assert used == set(FAMILIES), "declare each term() family in FAMILIES, with its values"
    for family, values in FAMILIES.items():
        held = {key.removeprefix(f"{family}.") for key in messages if key.startswith(f"{family}.")}
        assert sorted(values - held) == [], f"{family}: values without a label"
        assert sorted(held - values) == [], f"{family}: labels of no value"


def test_no_key_of_the_catalogue_is_unused() -> None:
    used = set(keys_in_scripts()) | keys_in_page()
    used |= {f"{family}.{value}" for family, values in FAMILIES.items() for value in values}

    assert sorted(set(catalogue()) - used) == []


class PageText(HTMLParser):
    """The page's text and attributes, each with whether an element above it has data-i18n."""

    VOID = frozenset({"meta", "link", "input", "br", "img", "hr", "source", "path"})
    SHOWN_ATTRIBUTES = ("aria-label", "title", "placeholder", "alt", "label")

    def __init__(self) -> None:
        super().__init__()
        self.open: list[tuple[str, dict[str, str | None]]] = []
        self.loose: list[str] = []
        self.marked: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        for name in self.SHOWN_ATTRIBUTES:
            value = attributes.get(name)
            if value and WORDS.search(value) and f"data-i18n-{name}" not in attributes:
                self.loose.append(f'<{tag} {name}="{value}">')
        if tag not in self.VOID:
            self.open.append((tag, attributes))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in self.VOID:
            self.open.pop()

    def handle_endtag(self, tag: str) -> None:
        while self.open and self.open.pop()[0] != tag:
            pass

    def handle_data(self, data: str) -> None:
        text = " ".join(data.split())
        if not WORDS.search(text.replace(BRAND, "")):
            return
        tag, attributes = self.open[-1] if self.open else ("", {})
        key = attributes.get("data-i18n")
        if key:
            self.marked[key] = text
        elif tag not in {"script", "style"}:
            self.loose.append(text)


def test_no_word_of_the_page_is_outside_the_catalogue() -> None:
    page = PageText()
    page.feed((STATIC / "index.html").read_text())
    english = {key: forms(texts["en"])[0] for key, texts in catalogue().items()}

    assert page.loose == []
    # The page's own text is the English of its key: the page reads right before the scripts run.
    assert {key: text for key, text in page.marked.items() if english.get(key) != text} == {}
    assert len(page.marked) > 25


def test_no_sentence_of_the_scripts_is_outside_the_catalogue() -> None:
    # A heuristic: a string of several words with a capital or a full stop, or one capitalised
    # word, is a sentence for the officer; it belongs in the catalogue.
    found = []
    for name, source in script_sources().items():
        for match in STRING.finditer(source):
            for part in INTERPOLATION.split(match[1] if match[1] is not None else match[2]):
                several = re.search(r"[A-Za-z]{2,} [A-Za-z]{2,}", part) and (
                    re.search(r"\b[A-Z][a-z]+ [a-z]", part) or re.search(r"[a-z][.…!?:]\s*$", part)
                )
                single = re.fullmatch(r"\s*[A-Z][a-z]{3,}[.…:]?\s*", part)
                if several or (single and part.strip(" .…:") not in NOT_WORDS):
                    found.append(f"{name}: {part!r}")
    assert found == []


# ------------------------------------------------------------------ in the browser

SWITCHES = [
    # <html lang>, the sign-out button, a filter's label, the filters' aria-label, Acknowledge
    ("fr", "Se déconnecter", "Catégorie", "Filtres", "Accuser réception"),
    ("de", "Abmelden", "Kategorie", "Filter", "Bestätigen"),
    ("nl", "Afmelden", "Categorie", "Filters", "Bevestigen"),
]


async def test_an_officer_switches_the_interface_language_and_keeps_the_feed(
    browser: Browser, network: Network, officers: list[OfficerPage]
) -> None:
    eupen = await officer(browser, network, officers, "officer.eupen")
    page = eupen.page
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.locator("#logout")).to_have_text("Sign out")
    alert = flood_alert()
    alert["info"][0]["area"][0]["geocode"] = [{"valueName": "NUTS2", "value": "BE33"}]
    await network.post(alert)
    card = eupen.card(alert["sender"], alert["identifier"])
    await expect(card).to_be_visible(timeout=SLOW)
    await eupen.evaluate("() => { window.notReloaded = true; }")
    ack = card.locator('[data-role="ack"]')
    category = page.locator('label:has(#filter-category) [data-i18n="filters.category"]')

    for language, sign_out, category_label, filters_label, acknowledge in SWITCHES:
        await page.select_option("#ui-language", language)

        await expect(page.locator("html")).to_have_attribute("lang", language)
        await expect(page.locator("#logout")).to_have_text(sign_out)
        await expect(category).to_have_text(category_label)
        await expect(page.locator("#filters")).to_have_attribute("aria-label", filters_label)
        await expect(ack).to_have_text(acknowledge)
        await expect(ack).to_have_attribute(
            "aria-label", re.compile(rf"^{acknowledge} ?: La Meuse dépassera")
        )
        await expect(page.locator("#ui-language")).to_have_value(language)
    # Dutch now everywhere the console speaks, the alert's own words as it sent them.
    await expect(card.locator(".sev")).to_have_text("Ernst: Ernstig")
    await expect(card.locator(".urg")).to_have_text("Urgentie Verwacht")
    await expect(card.locator('[data-role="headline"]')).to_have_text(alert["info"][0]["headline"])
    await expect(page.locator("#connection-text")).to_have_text("Live")
    await expect(page.locator("#filter-status option:checked")).to_have_text("Actief")
    await expect(page.locator('#filter-region optgroup[label="België"]')).to_have_count(1)
    await expect(page.locator("#language-preference option").first).to_have_text(
        "Automatisch (die van uw post)"
    )
    await expect(page.locator("#sound-toggle")).to_have_text("Geluid uit")
    await expect(page.locator("#detail h2")).to_have_text("Netwerk")
    assert await eupen.evaluate("() => window.notReloaded") is True
    assert await page.evaluate("() => localStorage.getItem('crossalert.console.uiLanguage')") == (
        "nl"
    )
    await card.locator('[data-role="open"]').click()
    detail = page.locator("#detail article")
    await expect(detail.locator('[data-role="back"]')).to_have_text("← Terug naar de lijst")
    await expect(detail.locator("dt", has_text=re.compile("^Kenmerk$"))).to_have_count(1)
    await eupen.shot("15-interface-in-dutch")
    assert await eupen.poor_contrast() == []

    await page.reload()

    await eupen.wait_live()
    await expect(page.locator("html")).to_have_attribute("lang", "nl")
    await expect(page.locator("#ui-language")).to_have_value("nl")
    await expect(page.locator("#logout")).to_have_text("Afmelden")
    await expect(page.locator("#filters")).to_have_attribute("aria-label", "Filters")
    await expect(category).to_have_text("Categorie")
    await expect(card).to_be_visible(timeout=SLOW)
    await expect(ack).to_have_text("Bevestigen")
    await expect(page.locator('#detail [data-role="back"]')).to_have_text("← Terug naar de lijst")


@pytest.mark.parametrize(
    ("locale", "language", "title"),
    [
        ("de-DE", "de", "Anmeldung an der Konsole des Lagedienstes"),
        ("fr-BE", "fr", "Connexion à la console de l’officier de permanence"),
        ("nl-BE", "nl", "Aanmelden bij de console voor de dienstdoende officier"),
        ("pl-PL", "en", "Sign in to the duty-officer console"),
    ],
)
async def test_the_browser_language_is_the_default_and_the_sign_in_can_change_it(
    browser: Browser, base_url: str, locale: str, language: str, title: str
) -> None:
    tab = await OfficerPage.open(browser, base_url, "harness", locale=locale)
    try:
        page = tab.page
        await expect(page.locator("html")).to_have_attribute("lang", language)
        await expect(page.locator("#login-title")).to_have_text(title)
        await expect(page.locator("#login-ui-language")).to_have_value(language)

        # Before signing in, from the sign-in dialog itself (the top bar is behind it).
        await page.select_option("#login-ui-language", "fr")

        await expect(page.locator("html")).to_have_attribute("lang", "fr")
        await expect(page.locator("#login-submit")).to_have_text("Se connecter")
        await expect(page.locator('label[for="login-password"]')).to_have_text("Mot de passe")
        await expect(page.locator("#ui-language")).to_have_value("fr")
        await page.click("#login-submit")
        await expect(page.locator("#login-message")).to_have_text(
            "Saisissez votre nom d’utilisateur et votre mot de passe."
        )
        await page.select_option("#login-ui-language", "de")
        # Said again in the new language, not left in the old one.
        await expect(page.locator("#login-message")).to_have_text(
            "Geben Sie Benutzername und Passwort ein."
        )
        assert await page.title() == "crossalert-Konsole"
        assert await tab.poor_contrast() == []
    finally:
        await tab.close()
    assert tab.problems == []


async def test_words_and_figures_follow_the_interface_language(page: OfficerPage) -> None:
    said = await page.evaluate(
        """async () => {
            const i18n = await import("/console/static/js/i18n.js");
            const format = await import("/console/static/js/format.js");
            const { renderMap } = await import("/console/static/js/map.js");
            const now = new Date("2026-12-03T12:00:00Z");
            const said = {};
            for (const language of ["en", "nl", "fr", "de"]) {
                i18n.setUiLanguage(language);
                said[language] = {
                    one: i18n.t("overview.alertsInList", { count: 1 }),
                    many: i18n.t("overview.alertsInList", { count: 1500 }),
                    zero: i18n.t("exercise.hiddenCount", { count: 0 }),
                    ago: format.relativeTime("2026-12-01T12:00:00Z", now),
                    size: format.byteSize(1.5 * 1024 * 1024),
                    severity: i18n.term("severity", "Severe"),
                    unknownValue: i18n.term("severity", "Catastrophic"),
                    region: renderMap({ highlights: [{ code: "BE33", severity: "Severe" }] })
                        .querySelector('[data-code="BE33"] title').textContent,
                    lang: document.documentElement.lang,
                };
            }
            i18n.setUiLanguage("en");
            return said;
        }"""
    )

    assert said["en"] == {
        "one": "1 alert in the list",
        "many": "1,500 alerts in the list",
        "zero": "0 exercise alerts hidden.",
        "ago": "2 days ago",
        "size": "1.5 MiB",
        "severity": "Severe",
        "unknownValue": "Catastrophic",
        "region": "Liège (BE33, Belgium) — covered, Severe",
        "lang": "en",
    }
    assert said["fr"]["zero"] == "0 alerte d’exercice masquée."  # French counts 0 as one
    assert said["fr"]["ago"] == "il y a 2 jours"
    assert said["fr"]["size"] == "1,5 Mio"
    assert said["de"]["many"] == "1.500 Meldungen in der Liste"
    assert said["de"]["region"] == "Lüttich (BE33, Belgien) — betroffen, Schwer"
    assert said["nl"]["region"] == "Luik (BE33, België) — getroffen, Ernstig"
    assert [said[language]["lang"] for language in LANGUAGES] == LANGUAGES
