// The list cards and the detail view, built from a chain view and the page's context.
//
// `ctx` carries what the views need besides the alert: the officer (`me`), the language to show
// each chain in (`languageOf`), acknowledgements in flight, delivery reports, note drafts, and
// the actions (open, close, acknowledge, setLanguage, loadReport). Every word of the console's
// own is the catalogue's (i18n.js); what the alert says is shown as sent, tagged with its language.

import {
  exerciseLabel, exerciseRunOf, infosIn, languagesOf, parseCircle, regionCodes, severityRank, shapesOf,
  worstInfo,
} from "./cap.js";
import { h } from "./dom.js";
import { byteSize, fullTime, languageName, nativeLanguageName, relativeTime, shortTime } from "./format.js";
import { t, term, tn, upper } from "./i18n.js";
import { regionsFor, renderMap } from "./map.js";
import { isProvenanceParameter, readProvenance, renderProvenance } from "./provenance.js";
import { GROUPS, REGIONS, placeName } from "./regions.js";

function lower(word) {
  return String(word ?? "unknown").toLowerCase();
}

function time(value, now, { relative = false } = {}) {
  if (!value) return null;
  return h(
    "time",
    { datetime: value, title: fullTime(value) },
    shortTime(value, now),
    relative ? ` (${relativeTime(value, now)})` : "",
  );
}

/** A note quoted after what it belongs to: " — “note”" (with the language's quotation marks). */
function quoted(note) {
  return note ? ` ${t("ack.quotedNote", { note })}` : "";
}

/** A severity badge: colour and the word, never colour alone. */
export function severityBadge(severity) {
  return h(
    "span",
    { class: ["badge", "sev", `sev-${lower(severity)}`], "data-severity": severity ?? "Unknown" },
    h("span", { class: "visually-hidden" }, t("badge.severity")),
    " ",
    severity === "Unknown" || !severity ? t("badge.unknownSeverity") : term("severity", severity),
  );
}

/** An urgency badge. */
export function urgencyBadge(urgency) {
  return h(
    "span",
    { class: ["badge", "urg", `urg-${lower(urgency)}`], "data-urgency": urgency ?? "Unknown" },
    h("span", { class: "badge-label" }, t("badge.urgency")),
    " ",
    term("urgency", urgency ?? "Unknown"),
  );
}

function marks(view, info, ctx) {
  const alert = view.head.alert;
  const items = [severityBadge(info.severity), urgencyBadge(info.urgency)];
  if (info.certainty) {
    items.push(h("span", { class: "badge cert" }, h("span", { class: "badge-label" }, t("badge.certainty")), " ", term("certainty", info.certainty)));
  }
  if (alert.msgType === "Update") items.push(h("span", { class: "badge mark mark-update", "data-mark": "update" }, upper(term("msgType", "Update"))));
  if (alert.msgType === "Cancel") items.push(h("span", { class: "badge mark mark-cancel", "data-mark": "cancel" }, upper(term("msgType", "Cancel"))));
  if (alert.msgType === "Error") items.push(h("span", { class: "badge mark" }, t("mark.errorNotice")));
  if (view.state !== "active") items.push(h("span", { class: ["badge", "state", `state-${view.state}`], "data-state": view.state }, upper(term("alertState", view.state))));
  if (view.exercise) items.push(h("span", { class: "badge exercise-badge" }, exerciseLabel(alert.status)));
  if ((view.head.escalations ?? []).length || view.head.kind === "escalation") {
    items.push(h("span", { class: "badge escalated", title: t("mark.escalatedTitle") }, t("mark.escalated")));
  }
  if (ctx.unseen.has(view.chain)) items.push(h("span", { class: "badge new" }, t("mark.new")));
  return h("div", { class: "marks" }, items);
}

function exerciseBand(view) {
  if (!view.exercise) return null;
  return h(
    "div",
    { class: "exercise-band", "data-role": "exercise-band" },
    t("exercise.band", { label: exerciseLabel(view.head.alert.status) }),
    runText(view.head.alert),
  );
}

function runText(alert) {
  const exercise = exerciseRunOf(alert);
  return exercise ? ` · ${t("exercise.runNamed", exercise)}` : "";
}

function languageSwitch(view, ctx, language) {
  const languages = languagesOf(view.head.alert);
  if (languages.length < 2) return null;
  return h(
    "div",
    { class: "lang-switch", role: "group", "aria-label": t("alertLanguage.group") },
    h("span", { class: "lang-switch-label" }, t("alertLanguage.label")),
    languages.map((tag) =>
      h(
        "button",
        {
          type: "button",
          class: "lang-button",
          lang: tag,
          "aria-pressed": String(tag === language),
          "data-role": "language",
          "data-language": tag,
          title: languageName(tag),
          onclick: () => ctx.actions.setLanguage(view.chain, tag),
        },
        nativeLanguageName(tag),
      ),
    ),
  );
}

function languageNote(ctx, choice) {
  if (!choice.missing) return null;
  const wanted = choice.wanted ? nativeLanguageName(choice.wanted) : t("alertLanguage.desks");
  return h(
    "p",
    { class: "lang-note", "data-role": "language-note" },
    t("alertLanguage.missing", { wanted, shown: nativeLanguageName(choice.language) }),
  );
}

function ackSummary(view, ctx, { withButton }) {
  const head = view.head;
  const acks = head.acknowledgements ?? [];
  const mine = acks.find((ack) => ack.contact_point === ctx.me?.contact_point);
  const others = acks.filter((ack) => ack !== mine);
  const now = ctx.now;
  const parts = [];
  if (mine) {
    const whoWhen = { name: mine.by_name ?? mine.by, time: time(mine.at, now) };
    parts.push(
      h(
        "p",
        { class: "ack-state acked", "data-role": "ack-state" },
        h("span", { "aria-hidden": "true" }, "✓ "),
        mine.by === ctx.me?.username ? tn("ack.byYou", whoWhen) : tn("ack.by", whoWhen),
        quoted(mine.note),
      ),
    );
  } else {
    const deadline = head.ack_deadline ? new Date(head.ack_deadline) : null;
    const overdue = deadline && deadline <= now;
    parts.push(
      h(
        "p",
        { class: ["ack-state", "not-acked", overdue && "overdue"], "data-role": "ack-state" },
        deadline ? deadlineText(head, overdue, now) : t("ack.notYet"),
      ),
    );
    if (withButton) {
      const busy = ctx.acking.has(view.key);
      parts.push(
        h(
          "button",
          {
            type: "button",
            class: "primary ack-button",
            "data-role": "ack",
            disabled: busy,
            "aria-label": t("ack.buttonLabel", { headline: headlineOf(view, ctx) }),
            onclick: () => ctx.actions.acknowledge(view.key, ctx.noteDrafts.get(view.key) ?? ""),
          },
          busy ? t("ack.busy") : t("ack.button"),
        ),
      );
    }
  }
  for (const ack of others) {
    parts.push(
      h(
        "p",
        { class: "ack-other" },
        tn("ack.alsoBy", { name: ack.by_name ?? ack.by, contactPoint: ack.contact_point, time: time(ack.at, now) }),
        quoted(ack.note),
      ),
    );
  }
  const error = ctx.ackErrors.get(view.key);
  if (error) parts.push(h("p", { class: "error", role: "alert" }, t("ack.failed", { reason: error.text ?? String(error) })));
  return h("div", { class: "ack" }, parts);
}

function deadlineText(head, overdue, now) {
  const when = { time: time(head.ack_deadline, now, { relative: true }) };
  return overdue ? tn("ack.notYetOverdue", when) : tn("ack.notYetDue", when);
}

function headlineOf(view, ctx) {
  const { language } = ctx.languageOf(view);
  const info = worstInfo(infosIn(view.head.alert, language)) ?? {};
  return info.headline ?? info.event ?? view.head.alert.identifier;
}

function areaText(infos) {
  return [...new Set(infos.flatMap((info) => (info.area ?? []).map((area) => area.areaDesc)))].join("; ");
}

function expiry(view, info, now) {
  const when = { time: time(info.expires, now, { relative: true }) };
  return view.state === "expired" ? tn("card.expired", when) : tn("card.expires", when);
}

/** One card of the list. */
export function renderCard(view, ctx) {
  const alert = view.head.alert;
  const choice = ctx.languageOf(view);
  const infos = infosIn(alert, choice.language);
  const info = worstInfo(infos) ?? {};
  const now = ctx.now;
  const selected = ctx.selected === view.chain;
  return h(
    "li",
    {
      class: [
        "card", `sev-${lower(info.severity)}`, view.exercise && "exercise", `state-${view.state}`,
        ctx.unseen.has(view.chain) && "unseen", selected && "selected",
      ],
      "data-chain": view.chain,
      "data-key": view.key,
      "data-msg-type": alert.msgType,
      "data-state": view.state,
      "data-exercise": String(view.exercise),
    },
    exerciseBand(view),
    marks(view, info, ctx),
    h(
      "h3",
      { class: "card-title" },
      h(
        "button",
        {
          type: "button",
          class: "open",
          "data-role": "open",
          "aria-current": selected ? "true" : null,
          onclick: () => ctx.actions.open(view.chain),
        },
        h("span", { class: "event", lang: choice.language }, info.event ?? ""),
        h("span", { class: "headline", lang: choice.language, "data-role": "headline" }, info.headline ?? info.event ?? alert.identifier),
      ),
    ),
    h("p", { class: "area", lang: choice.language, "data-role": "area" }, areaText(infos)),
    h(
      "p",
      { class: "meta" },
      h("span", {}, tn("card.from", { sender: h("strong", { lang: choice.language }, info.senderName ?? alert.sender) })),
      h("span", {}, " · ", tn("card.sent", { time: time(alert.sent, now) })),
      info.expires ? h("span", {}, " · ", expiry(view, info, now)) : null,
    ),
    languageSwitch(view, ctx, choice.language),
    languageNote(ctx, choice),
    ackSummary(view, ctx, { withButton: true }),
  );
}

// ------------------------------------------------------------------ detail

// An external source's alert, brought in tolerantly: what of its issuer's document was
// repaired or left out, so that the officer knows what the alert shows is not all it said.
function warningsSection(warnings) {
  if (!warnings.length) return null;
  return section(
    t("detail.warnings"),
    h("p", { class: "muted" }, t("detail.warningsNote")),
    h(
      "ul",
      { class: "warnings", "data-role": "warnings" },
      warnings.map((w) =>
        h(
          "li",
          { "data-action": w.action },
          { repaired: t("warning.repaired"), dropped: t("warning.dropped") }[w.action] ?? t("warning.noted"),
          " ",
          h("code", {}, w.field),
          ": ",
          w.message,
        ),
      ),
    ),
  );
}

// Who signed the alert and whether the network could verify it with the keys its sender
// registered: an officer acting on a warning from outside must see how sure its origin is.
function signatureSection(verdict) {
  if (!verdict || !verdict.signatures?.length) return null;
  const line = (check) => {
    const who = check.signer ?? t("signature.unknownSigner");
    const text = {
      verified: t("signature.verified", { who }),
      untrusted: t("signature.untrusted", { who }),
      not_checked: t("signature.notChecked"),
    }[check.outcome] ?? t("signature.invalid", { reason: check.reason ?? "" });
    return h("li", { "data-outcome": check.outcome }, text);
  };
  return section(
    t("detail.signature"),
    h("ul", { class: "signatures", "data-role": "signature", "data-status": verdict.status }, verdict.signatures.map(line)),
  );
}

function section(title, ...content) {
  const items = content.flat(Infinity).filter(Boolean);
  if (!items.length) return null;
  return h("section", { class: "detail-section" }, h("h3", {}, title), items);
}

function definitionList(rows) {
  const present = rows.filter(([, value]) => value !== null && value !== undefined && value !== "" && !(Array.isArray(value) && !value.length));
  if (!present.length) return null;
  return h("dl", { class: "facts" }, present.map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]));
}

function regionName(code) {
  if (REGIONS.some((r) => r.code === code) || GROUPS.includes(code)) return placeName(code);
  const within = regionsFor(code);
  return within.length === 1 ? t("area.within", { name: placeName(within[0].code) }) : null;
}

function codeWithName(code) {
  const name = regionName(code);
  return name ? `${code} ${name}` : code;
}

function reasonText(reason) {
  const region = reason.region ? codeWithName(reason.region) : null;
  let subject;
  if (reason.kind === "agreement") subject = reason.agreement ? t("reason.agreementNamed", { agreement: reason.agreement }) : t("reason.agreement");
  else if (reason.kind === "escalation") subject = t("reason.escalation");
  else if (reason.kind === "address") subject = t("reason.check");
  else subject = t("reason.area");
  // The detail is the notifier's own sentence, shown as it sent it.
  return h(
    "li",
    { "data-reason": reason.kind },
    region
      ? tn("reason.lineInRegion", { subject: h("strong", {}, subject), region, detail: reason.detail })
      : tn("reason.line", { subject: h("strong", {}, subject), detail: reason.detail }),
  );
}

// Checked here as well as by the contract: a javascript: or data: link must never run in the console.
/** A link to `url` labelled `label` if `url` is an absolute http or https URL, else null. */
function webLink(url, label) {
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return null;
  return h("a", { href: parsed.href, target: "_blank", rel: "noopener noreferrer" }, label);
}

function parameterTable(parameters, role, lang) {
  return h(
    "table",
    { class: "table", "data-role": role },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("table.name")), h("th", { scope: "col" }, t("table.value")))),
    h("tbody", { lang }, parameters.map((p) => h("tr", {}, h("td", {}, p.valueName), h("td", {}, p.value)))),
  );
}

// The provenance's own parameters are shown by its block; as sent, they stay one click away
// (open at once when part of them could not be read).
function parametersBlock(parameters, provenance, lang) {
  const carried = provenance ? parameters.filter(isProvenanceParameter) : [];
  const others = parameters.filter((p) => !carried.includes(p));
  if (!parameters.length) return null;
  return h(
    "div",
    {},
    h("h4", {}, t("info.parameters")),
    others.length ? parameterTable(others, "parameters", lang) : null,
    carried.length
      ? h(
          "details",
          { class: "raw-parameters", "data-role": "provenance-parameters", open: provenance.unreadable.length > 0 },
          h("summary", {}, t("provenance.parametersAsSent", { count: carried.length })),
          parameterTable(carried, "provenance-parameter-table", lang),
        )
      : null,
  );
}

function infoSection(info, now) {
  const lang = info.language;
  const text = (value) => (value ? h("span", { lang }, value) : null);
  const provenance = readProvenance(info.parameter ?? []);
  return h(
    "div",
    // The console's words are in the interface language; each text of the alert carries its own.
    { class: "info-block" },
    info.description ? h("div", { class: "prose" }, h("h4", {}, t("info.description")), h("p", { lang, "data-role": "description" }, info.description)) : null,
    info.instruction ? h("div", { class: "prose instruction" }, h("h4", {}, t("info.instruction")), h("p", { lang }, info.instruction)) : null,
    provenance ? renderProvenance(provenance) : null,
    definitionList([
      [t("fact.event"), text(info.event)],
      [t("fact.categories"), (info.category ?? []).map((c) => term("category", c)).join(", ")],
      [t("fact.response"), (info.responseType ?? []).map((r) => term("responseType", r)).join(", ")],
      [t("fact.certainty"), info.certainty ? term("certainty", info.certainty) : null],
      [t("fact.audience"), text(info.audience)],
      [t("fact.effective"), info.effective ? time(info.effective, now) : null],
      [t("fact.onset"), info.onset ? time(info.onset, now, { relative: true }) : null],
      [t("fact.expires"), info.expires ? time(info.expires, now, { relative: true }) : null],
      [t("fact.sender"), text(info.senderName)],
      [t("fact.contact"), text(info.contact)],
      [t("fact.web"), info.web ? webLink(info.web, info.web) ?? info.web : null],
      [t("fact.eventCodes"), (info.eventCode ?? []).map((c) => `${c.valueName}: ${c.value}`).join("; ")],
    ]),
    parametersBlock(info.parameter ?? [], provenance, lang),
    (info.resource ?? []).length
      ? h(
          "div",
          {},
          h("h4", {}, t("info.resources")),
          h(
            "ul",
            { class: "resources", "data-role": "resources" },
            info.resource.map((r) => {
              const link = webLink(r.uri, h("span", { lang }, r.resourceDesc));
              return h(
                "li",
                {},
                link ?? h("span", { lang }, r.resourceDesc),
                ` — ${r.mimeType}`,
                r.size ? `, ${byteSize(r.size)}` : "",
                r.derefUri ? ` ${t("resource.embedded")}` : "",
                r.uri && !link ? ` — ${r.uri}` : "",
              );
            }),
          ),
        )
      : null,
  );
}

function circleText(text) {
  const circle = parseCircle(text);
  // The centre as CAP writes it: a decimal comma would read as the separator.
  return circle
    ? t("area.circle", { radius: circle.radiusKm, lat: String(circle.lat), lon: String(circle.lon) })
    : t("area.circleAsSent", { text });
}

function areasSection(view, infos) {
  const areas = infos.flatMap((info) => (info.area ?? []).map((area) => ({ ...area, language: info.language })));
  const codes = regionCodes({ info: infos });
  const worst = worstInfo(infos) ?? {};
  const { polygons, circles } = shapesOf(infos);
  const map = renderMap({
    highlights: codes.map((code) => ({ code, severity: worst.severity })),
    polygons,
    circles,
    zoom: true,
    title: t("map.alertTitle"),
    description: [
      codes.length ? t("map.regions", { regions: codes.map(codeWithName).join(", ") }) : t("map.noRegions"),
      `${t("count.polygons", { count: polygons.length })}, ${t("count.circles", { count: circles.length })}`,
    ].join("; "),
  });
  return section(
    t("detail.area"),
    h(
      "ul",
      { class: "areas" },
      areas.map((area) =>
        h(
          "li",
          {},
          h("span", { lang: area.language }, area.areaDesc),
          (area.geocode ?? []).length ? h("span", { class: "muted" }, ` — ${area.geocode.map((g) => `${g.valueName} ${codeWithName(g.value)}`).join(", ")}`) : "",
          (area.polygon ?? []).length ? h("span", { class: "muted" }, ` — ${t("count.polygons", { count: area.polygon.length })}`) : "",
          (area.circle ?? []).length ? h("span", { class: "muted" }, ` — ${area.circle.map(circleText).join(", ")}`) : "",
        ),
      ),
    ),
    h("figure", { class: "map-figure", "data-role": "map" }, map, h("figcaption", {}, t("map.caption"))),
  );
}

function historySection(view, report, now) {
  const history = report?.data?.history;
  const rows = history
    ? history.map((entry) => ({ key: `${entry.key.sender},${entry.key.identifier}`, msgType: entry.msg_type, sent: entry.sent, headline: entry.headline, state: entry.state }))
    : view.messages.map((m) => ({
        key: `${m.key.sender},${m.key.identifier}`,
        msgType: m.alert.msgType,
        sent: m.alert.sent,
        headline: (worstInfo(m.alert.info ?? []) ?? {}).headline,
        state: m.state,
      }));
  return section(
    t("detail.history"),
    h(
      "ol",
      { class: "history", "data-role": "history" },
      rows.map((row) =>
        h(
          "li",
          { class: row.key === view.key ? "current" : null },
          h("span", { class: ["badge", "mark", `mark-${lower(row.msgType)}`] }, upper(term("msgType", row.msgType))),
          " ",
          time(row.sent, now),
          " — ",
          row.headline ?? t("history.noHeadline"),
          ` — ${term("alertState", row.state)}`,
          row.key === view.key ? ` ${t("history.shown")}` : "",
        ),
      ),
    ),
    history ? null : h("p", { class: "muted" }, t("history.fromConsole")),
  );
}

function recipientsSection(view, report, ctx) {
  const now = ctx.now;
  let body;
  if (!report || (report.loading && !report.data)) body = h("p", { class: "muted" }, t("recipients.loading"));
  else if (report.error && !report.data) body = h("p", { class: "muted", "data-role": "recipients-error" }, report.error());
  else {
    const deliveries = report.data.deliveries;
    body = [
      h(
        "table",
        { class: "table recipients", "data-role": "recipients" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            [
              t("recipients.organisation"), t("recipients.contactPoint"), t("recipients.channel"), t("recipients.state"),
              t("recipients.language"), t("recipients.acknowledged"),
            ].map((title) => h("th", { scope: "col" }, title)),
          ),
        ),
        h(
          "tbody",
          {},
          deliveries.map((d) =>
            h(
              "tr",
              { class: d.contact_point === ctx.me?.contact_point ? "own" : null, "data-contact-point": d.contact_point, "data-channel": d.channel },
              h("td", {}, d.organisation_name),
              h("td", {}, d.contact_point_name, d.escalation ? h("span", { class: "badge escalated" }, t("recipients.escalation")) : ""),
              h("td", {}, term("channel", d.channel)),
              h("td", { "data-status": d.status }, term("delivery", d.status), d.detail ? h("span", { class: "muted" }, ` (${d.detail})`) : ""),
              h("td", {}, d.language ? languageName(d.language) : "—", d.language_available ? "" : ` ${t("recipients.languageMissing")}`),
              h(
                "td",
                {},
                d.acknowledged_at
                  ? [
                      d.acknowledged_by ? tn("recipients.acknowledgedBy", { time: time(d.acknowledged_at, now), name: d.acknowledged_by }) : time(d.acknowledged_at, now),
                      quoted(d.acknowledgement_note),
                    ]
                  : d.ack_deadline ? tn("recipients.due", { time: time(d.ack_deadline, now, { relative: true }) }) : "—",
              ),
            ),
          ),
        ),
      ),
      report.data.escalations.length
        ? h(
            "ul",
            { class: "escalations" },
            report.data.escalations.map((e) =>
              h(
                "li",
                {},
                tn("recipients.escalationLine", {
                  missedBy: e.missed_by, deadline: time(e.deadline, now), at: time(e.escalated_at, now), notified: e.notified.join(", "),
                }),
              ),
            ),
          )
        : null,
      report.error ? h("p", { class: "muted" }, t("recipients.refreshFailed", { reason: report.error() })) : null,
    ];
  }
  return section(
    t("detail.recipients"),
    body,
    h("button", { type: "button", class: "tool-button", "data-role": "refresh-recipients", onclick: () => ctx.actions.loadReport(view.key) }, t("recipients.refresh")),
  );
}

/** The detail view of one chain. */
export function renderDetail(view, ctx) {
  const alert = view.head.alert;
  const choice = ctx.languageOf(view);
  const infos = infosIn(alert, choice.language);
  const info = worstInfo(infos) ?? {};
  const now = ctx.now;
  const report = ctx.reports.get(view.key);
  const acks = view.head.acknowledgements ?? [];
  const mine = acks.find((ack) => ack.contact_point === ctx.me?.contact_point);
  const noteId = `note-${view.key.replace(/[^a-zA-Z0-9]/g, "-")}`;
  return h(
    "article",
    {
      class: ["detail", `sev-${lower(info.severity)}`, view.exercise && "exercise"],
      "data-chain": view.chain,
      "data-key": view.key,
    },
    h("button", { type: "button", class: "back link-button", "data-role": "back", onclick: () => ctx.actions.close() }, t("detail.back")),
    exerciseBand(view),
    marks(view, info, ctx),
    h("h2", { id: "detail-heading", tabindex: "-1", lang: choice.language, "data-role": "detail-headline" }, info.headline ?? info.event ?? alert.identifier),
    h("p", { class: "detail-sub" }, h("span", { lang: choice.language }, info.event), " · ", h("span", { lang: choice.language }, areaText(infos))),
    languageSwitch(view, ctx, choice.language),
    languageNote(ctx, choice),
    h(
      "section",
      { class: "detail-section ack-panel" },
      h("h3", {}, t("detail.acknowledgement")),
      ackSummary(view, ctx, { withButton: false }),
      mine
        ? null
        : h(
            "form",
            {
              class: "ack-form",
              onsubmit: (event) => {
                event.preventDefault();
                ctx.actions.acknowledge(view.key, ctx.noteDrafts.get(view.key) ?? "");
              },
            },
            h("label", { for: noteId }, t("ack.noteLabel")),
            h("textarea", {
              id: noteId,
              rows: 2,
              maxlength: 2000,
              "data-role": "ack-note",
              value: ctx.noteDrafts.get(view.key) ?? "",
              oninput: (event) => ctx.noteDrafts.set(view.key, event.target.value),
            }),
            h("button", { type: "submit", class: "primary ack-button", "data-role": "ack", disabled: ctx.acking.has(view.key) }, ctx.acking.has(view.key) ? t("ack.busy") : t("ack.button")),
          ),
    ),
    section(
      t("detail.why"),
      (view.head.reasons ?? []).length
        ? h("ul", { class: "reasons", "data-role": "reasons" }, view.head.reasons.map(reasonText))
        : h("p", { class: "muted" }, t("detail.noReason")),
    ),
    signatureSection(view.head.signature),
    warningsSection(view.head.warnings ?? []),
    infos.map((i) => infoSection(i, now)),
    areasSection(view, infos),
    historySection(view, report, now),
    recipientsSection(view, report, ctx),
    section(
      t("detail.message"),
      definitionList([
        [t("fact.identifier"), alert.identifier],
        [t("fact.sender"), alert.sender],
        [t("fact.sent"), time(alert.sent, now)],
        [t("fact.status"), term("status", alert.status)],
        [t("fact.type"), term("msgType", alert.msgType)],
        [t("fact.scope"), term("scope", alert.scope)],
        [t("fact.restriction"), alert.restriction],
        [t("fact.note"), alert.note],
        [t("fact.references"), (alert.references ?? []).join(" ")],
        [t("fact.incidents"), (alert.incidents ?? []).join(", ")],
        [t("fact.languages"), languagesOf(alert).map(languageName).join(", ")],
        [t("fact.deliveredIn"), view.head.language ? languageName(view.head.language) : null],
      ]),
    ),
  );
}

/** What the detail pane shows when no alert is open: the network map of what is active. */
export function renderOverview(views, ctx) {
  const highlights = views
    .filter((view) => view.state === "active")
    .flatMap((view) => {
      const severity = worstSeverity(view);
      return regionCodes(view.head.alert).map((code) => ({ code, severity }));
    });
  return h(
    "div",
    { class: "overview" },
    h("h2", { class: "pane-heading" }, t("overview.heading")),
    h("p", { class: "muted" }, views.length ? t("overview.help") : t("overview.empty")),
    h(
      "figure",
      { class: "map-figure", "data-role": "overview-map" },
      renderMap({ highlights, title: t("map.networkTitle"), description: t("overview.alertsInList", { count: views.length }) }),
    ),
    h(
      "ul",
      { class: "legend", "aria-label": t("overview.legend") },
      ["Extreme", "Severe", "Moderate", "Minor"].map((sev) => h("li", {}, h("span", { class: ["swatch", `sev-${lower(sev)}`] }), term("severity", sev))),
    ),
  );
}

function worstSeverity(view) {
  const worst = [...(view.head.alert.info ?? [])].sort((a, b) => severityRank(b.severity) - severityRank(a.severity))[0];
  return worst?.severity ?? "Unknown";
}
