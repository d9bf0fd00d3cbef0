// The list cards and the detail view, built from a chain view and the page's context.
//
// `ctx` carries what the views need besides the alert: the officer (`me`), the language to show
// each chain in (`languageOf`), acknowledgements in flight, delivery reports, note drafts, and
// the actions (open, close, acknowledge, setLanguage, loadReport).

import {
  CATEGORY_NAMES, exerciseLabel, exerciseRunOf, infosIn, languagesOf, parseCircle, regionCodes, severityRank,
  shapesOf, worstInfo,
} from "./cap.js";
import { h } from "./dom.js";
import {
  byteSize, englishLanguageName, fullTime, nativeLanguageName, plural, relativeTime, shortTime,
} from "./format.js";
import { regionsFor, renderMap } from "./map.js";
import { isProvenanceParameter, readProvenance, renderProvenance } from "./provenance.js";
import { GROUPS, REGIONS } from "./regions.js";

const STATE_WORDS = {
  active: "Active",
  replaced: "Replaced by an update",
  cancelled: "Cancelled",
  expired: "Expired",
};
const DELIVERY_WORDS = {
  pending: "Pending",
  sent: "Sent",
  delivered: "Delivered",
  failed: "Failed",
  acknowledged: "Acknowledged",
  escalated: "Escalated",
};

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

/** A severity badge: colour and the word, never colour alone. */
export function severityBadge(severity) {
  return h(
    "span",
    { class: ["badge", "sev", `sev-${lower(severity)}`], "data-severity": severity ?? "Unknown" },
    h("span", { class: "visually-hidden" }, "Severity: "),
    severity === "Unknown" || !severity ? "Unknown severity" : severity,
  );
}

/** An urgency badge. */
export function urgencyBadge(urgency) {
  return h(
    "span",
    { class: ["badge", "urg", `urg-${lower(urgency)}`], "data-urgency": urgency ?? "Unknown" },
    h("span", { class: "badge-label" }, "Urgency "),
    urgency ?? "Unknown",
  );
}

function marks(view, info, ctx) {
  const alert = view.head.alert;
  const items = [severityBadge(info.severity), urgencyBadge(info.urgency)];
  if (info.certainty) items.push(h("span", { class: "badge cert" }, h("span", { class: "badge-label" }, "Certainty "), info.certainty));
  if (alert.msgType === "Update") items.push(h("span", { class: "badge mark mark-update", "data-mark": "update" }, "UPDATE"));
  if (alert.msgType === "Cancel") items.push(h("span", { class: "badge mark mark-cancel", "data-mark": "cancel" }, "CANCEL"));
  if (alert.msgType === "Error") items.push(h("span", { class: "badge mark" }, "ERROR NOTICE"));
  if (view.state !== "active") items.push(h("span", { class: ["badge", "state", `state-${view.state}`], "data-state": view.state }, STATE_WORDS[view.state].toUpperCase()));
  if (view.exercise) items.push(h("span", { class: "badge exercise-badge" }, exerciseLabel(alert.status)));
  if ((view.head.escalations ?? []).length || view.head.kind === "escalation") {
    items.push(h("span", { class: "badge escalated", title: "A recipient missed its acknowledgement deadline" }, "ESCALATED"));
  }
  if (ctx.unseen.has(view.chain)) items.push(h("span", { class: "badge new" }, "NEW"));
  return h("div", { class: "marks" }, items);
}

function exerciseBand(view) {
  if (!view.exercise) return null;
  return h(
    "div",
    { class: "exercise-band", "data-role": "exercise-band" },
    `${exerciseLabel(view.head.alert.status)} — not a real alert${runText(view.head.alert)}`,
  );
}

function runText(alert) {
  const exercise = exerciseRunOf(alert);
  return exercise ? ` · ${exercise.name} (run ${exercise.run})` : "";
}

function languageSwitch(view, ctx, language) {
  const languages = languagesOf(view.head.alert);
  if (languages.length < 2) return null;
  return h(
    "div",
    { class: "lang-switch", role: "group", "aria-label": "Language of this alert" },
    h("span", { class: "lang-switch-label" }, "Language:"),
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
          title: englishLanguageName(tag),
          onclick: () => ctx.actions.setLanguage(view.chain, tag),
        },
        nativeLanguageName(tag),
      ),
    ),
  );
}

function languageNote(ctx, choice) {
  if (!choice.missing) return null;
  const wanted = choice.wanted ? nativeLanguageName(choice.wanted) : "your desk’s languages";
  return h(
    "p",
    { class: "lang-note", "data-role": "language-note" },
    `Not available in ${wanted} — shown in ${nativeLanguageName(choice.language)}.`,
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
    parts.push(
      h(
        "p",
        { class: "ack-state acked", "data-role": "ack-state" },
        h("span", { "aria-hidden": "true" }, "✓ "),
        `Acknowledged by ${mine.by_name ?? mine.by}`,
        mine.by === ctx.me?.username ? " (you)" : "",
        " at ",
        time(mine.at, now),
        mine.note ? ` — “${mine.note}”` : "",
      ),
    );
  } else {
    const deadline = head.ack_deadline ? new Date(head.ack_deadline) : null;
    const overdue = deadline && deadline <= now;
    parts.push(
      h(
        "p",
        { class: ["ack-state", "not-acked", overdue && "overdue"], "data-role": "ack-state" },
        "Not acknowledged by your desk",
        deadline ? [overdue ? " — deadline passed at " : " — acknowledge by ", time(head.ack_deadline, now, { relative: true })] : "",
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
            "aria-label": `Acknowledge: ${headlineOf(view, ctx)}`,
            onclick: () => ctx.actions.acknowledge(view.key, ctx.noteDrafts.get(view.key) ?? ""),
          },
          busy ? "Acknowledging…" : "Acknowledge",
        ),
      );
    }
  }
  for (const ack of others) {
    parts.push(
      h(
        "p",
        { class: "ack-other" },
        `Also acknowledged by ${ack.by_name ?? ack.by} (${ack.contact_point}) at `,
        time(ack.at, now),
        ack.note ? ` — “${ack.note}”` : "",
      ),
    );
  }
  const error = ctx.ackErrors.get(view.key);
  if (error) parts.push(h("p", { class: "error", role: "alert" }, `Not acknowledged: ${error}`));
  return h("div", { class: "ack" }, parts);
}

function headlineOf(view, ctx) {
  const { language } = ctx.languageOf(view);
  const info = worstInfo(infosIn(view.head.alert, language)) ?? {};
  return info.headline ?? info.event ?? view.head.alert.identifier;
}

function areaText(infos) {
  return [...new Set(infos.flatMap((info) => (info.area ?? []).map((area) => area.areaDesc)))].join("; ");
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
      h("span", {}, "From ", h("strong", { lang: choice.language }, info.senderName ?? alert.sender)),
      h("span", {}, " · Sent ", time(alert.sent, now)),
      info.expires ? h("span", {}, view.state === "expired" ? " · Expired " : " · Expires ", time(info.expires, now, { relative: true })) : null,
    ),
    languageSwitch(view, ctx, choice.language),
    languageNote(ctx, choice),
    ackSummary(view, ctx, { withButton: true }),
  );
}

// ------------------------------------------------------------------ detail

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
  const region = REGIONS.find((r) => r.code === code);
  if (region) return region.name;
  if (GROUPS[code]) return GROUPS[code];
  const within = regionsFor(code);
  return within.length === 1 ? `(in ${within[0].name})` : null;
}

function codeWithName(code) {
  const name = regionName(code);
  return name ? `${code} ${name}` : code;
}

function reasonText(reason) {
  const region = reason.region ? codeWithName(reason.region) : null;
  let subject;
  if (reason.kind === "agreement") subject = `Agreement ${reason.agreement ?? ""}`.trim();
  else if (reason.kind === "escalation") subject = "Escalation";
  else if (reason.kind === "address") subject = "Communication check";
  else subject = "Your area";
  return h(
    "li",
    { "data-reason": reason.kind },
    h("strong", {}, subject),
    region ? ` — region ${region}` : "",
    `: ${reason.detail}`,
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

function parameterTable(parameters, role) {
  return h(
    "table",
    { class: "table", "data-role": role },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Value"))),
    h("tbody", {}, parameters.map((p) => h("tr", {}, h("td", {}, p.valueName), h("td", {}, p.value)))),
  );
}

// The provenance's own parameters are shown by its block; as sent, they stay one click away
// (open at once when part of them could not be read).
function parametersBlock(parameters, provenance) {
  const carried = provenance ? parameters.filter(isProvenanceParameter) : [];
  const others = parameters.filter((p) => !carried.includes(p));
  if (!parameters.length) return null;
  return h(
    "div",
    {},
    h("h4", {}, "Parameters"),
    others.length ? parameterTable(others, "parameters") : null,
    carried.length
      ? h(
          "details",
          { class: "raw-parameters", "data-role": "provenance-parameters", open: provenance.unreadable.length > 0 },
          h("summary", {}, `Provenance parameters as sent (${carried.length})`),
          parameterTable(carried, "provenance-parameter-table"),
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
    { class: "info-block", lang },
    info.description ? h("div", { class: "prose" }, h("h4", {}, "Description"), h("p", { "data-role": "description" }, info.description)) : null,
    info.instruction ? h("div", { class: "prose instruction" }, h("h4", {}, "Instruction"), h("p", {}, info.instruction)) : null,
    provenance ? renderProvenance(provenance) : null,
    definitionList([
      ["Event", text(info.event)],
      ["Categories", (info.category ?? []).map((c) => CATEGORY_NAMES[c] ?? c).join(", ")],
      ["Response", (info.responseType ?? []).join(", ")],
      ["Certainty", info.certainty],
      ["Audience", text(info.audience)],
      ["Effective", info.effective ? time(info.effective, now) : null],
      ["Onset", info.onset ? time(info.onset, now, { relative: true }) : null],
      ["Expires", info.expires ? time(info.expires, now, { relative: true }) : null],
      ["Sender", text(info.senderName)],
      ["Contact", text(info.contact)],
      ["Web", info.web ? webLink(info.web, info.web) ?? info.web : null],
      ["Event codes", (info.eventCode ?? []).map((c) => `${c.valueName}: ${c.value}`).join("; ")],
    ]),
    parametersBlock(info.parameter ?? [], provenance),
    (info.resource ?? []).length
      ? h(
          "div",
          {},
          h("h4", {}, "Resources"),
          h(
            "ul",
            { class: "resources", "data-role": "resources" },
            info.resource.map((r) => {
              const link = webLink(r.uri, r.resourceDesc);
              return h(
                "li",
                {},
                link ?? h("span", {}, r.resourceDesc),
                ` — ${r.mimeType}`,
                r.size ? `, ${byteSize(r.size)}` : "",
                r.derefUri ? " (embedded in the message)" : "",
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
  return circle ? `circle of ${circle.radiusKm} km around ${circle.lat}, ${circle.lon}` : `circle ${text}`;
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
    title: "Map of the alert's area",
    description: `${codes.length ? `Regions: ${codes.map(codeWithName).join(", ")}` : "No region codes"}; ${plural(polygons.length, "polygon")}, ${plural(circles.length, "circle")}`,
  });
  return section(
    "Area",
    h(
      "ul",
      { class: "areas" },
      areas.map((area) =>
        h(
          "li",
          {},
          h("span", { lang: area.language }, area.areaDesc),
          (area.geocode ?? []).length ? h("span", { class: "muted" }, ` — ${area.geocode.map((g) => `${g.valueName} ${codeWithName(g.value)}`).join(", ")}`) : "",
          (area.polygon ?? []).length ? h("span", { class: "muted" }, ` — ${plural(area.polygon.length, "polygon")}`) : "",
          (area.circle ?? []).length ? h("span", { class: "muted" }, ` — ${area.circle.map(circleText).join(", ")}`) : "",
        ),
      ),
    ),
    h("figure", { class: "map-figure", "data-role": "map" }, map, h("figcaption", {}, "Highlighted: the regions named by the alert’s geocodes; outlined in blue: its polygons and circles. Shapes are simplified.")),
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
    "History of this incident",
    h(
      "ol",
      { class: "history", "data-role": "history" },
      rows.map((row) =>
        h(
          "li",
          { class: row.key === view.key ? "current" : null },
          h("span", { class: ["badge", "mark", `mark-${lower(row.msgType)}`] }, row.msgType.toUpperCase()),
          " ",
          time(row.sent, now),
          " — ",
          row.headline ?? "(no headline)",
          ` — ${STATE_WORDS[row.state] ?? row.state}`,
          row.key === view.key ? " (shown)" : "",
        ),
      ),
    ),
    history ? null : h("p", { class: "muted" }, "From the messages this console received."),
  );
}

function recipientsSection(view, report, ctx) {
  const now = ctx.now;
  let body;
  if (!report || (report.loading && !report.data)) body = h("p", { class: "muted" }, "Loading recipients…");
  else if (report.error && !report.data) body = h("p", { class: "muted", "data-role": "recipients-error" }, report.error);
  else {
    const deliveries = report.data.deliveries;
    body = [
      h(
        "table",
        { class: "table recipients", "data-role": "recipients" },
        h(
          "thead",
          {},
          h("tr", {}, ["Organisation", "Contact point", "Channel", "State", "Language", "Acknowledged"].map((t) => h("th", { scope: "col" }, t))),
        ),
        h(
          "tbody",
          {},
          deliveries.map((d) =>
            h(
              "tr",
              { class: d.contact_point === ctx.me?.contact_point ? "own" : null, "data-contact-point": d.contact_point, "data-channel": d.channel },
              h("td", {}, d.organisation_name),
              h("td", {}, d.contact_point_name, d.escalation ? h("span", { class: "badge escalated" }, "ESCALATION") : ""),
              h("td", {}, d.channel),
              h("td", { "data-status": d.status }, DELIVERY_WORDS[d.status] ?? d.status, d.detail ? h("span", { class: "muted" }, ` (${d.detail})`) : ""),
              h("td", {}, d.language ? englishLanguageName(d.language) : "—", d.language_available ? "" : " (own language missing)"),
              h(
                "td",
                {},
                d.acknowledged_at ? [time(d.acknowledged_at, now), d.acknowledged_by ? ` by ${d.acknowledged_by}` : "", d.acknowledgement_note ? ` — “${d.acknowledgement_note}”` : ""] : d.ack_deadline ? ["due ", time(d.ack_deadline, now, { relative: true })] : "—",
              ),
            ),
          ),
        ),
      ),
      report.data.escalations.length
        ? h("ul", { class: "escalations" }, report.data.escalations.map((e) => h("li", {}, `${e.missed_by} missed the deadline of `, time(e.deadline, now), `; escalated at `, time(e.escalated_at, now), ` to ${e.notified.join(", ")}`)))
        : null,
      report.error ? h("p", { class: "muted" }, `Last refresh failed: ${report.error}`) : null,
    ];
  }
  return section(
    "Recipients and their state",
    body,
    h("button", { type: "button", class: "tool-button", "data-role": "refresh-recipients", onclick: () => ctx.actions.loadReport(view.key) }, "Refresh"),
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
    h("button", { type: "button", class: "back link-button", "data-role": "back", onclick: () => ctx.actions.close() }, "← Back to the list"),
    exerciseBand(view),
    marks(view, info, ctx),
    h("h2", { id: "detail-heading", tabindex: "-1", lang: choice.language, "data-role": "detail-headline" }, info.headline ?? info.event ?? alert.identifier),
    h("p", { class: "detail-sub" }, h("span", { lang: choice.language }, info.event), " · ", h("span", { lang: choice.language }, areaText(infos))),
    languageSwitch(view, ctx, choice.language),
    languageNote(ctx, choice),
    h(
      "section",
      { class: "detail-section ack-panel" },
      h("h3", {}, "Acknowledgement"),
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
            h("label", { for: noteId }, "Note (optional)"),
            h("textarea", {
              id: noteId,
              rows: 2,
              maxlength: 2000,
              "data-role": "ack-note",
              value: ctx.noteDrafts.get(view.key) ?? "",
              oninput: (event) => ctx.noteDrafts.set(view.key, event.target.value),
            }),
            h("button", { type: "submit", class: "primary ack-button", "data-role": "ack", disabled: ctx.acking.has(view.key) }, ctx.acking.has(view.key) ? "Acknowledging…" : "Acknowledge"),
          ),
    ),
    section(
      "Why you received it",
      (view.head.reasons ?? []).length
        ? h("ul", { class: "reasons", "data-role": "reasons" }, view.head.reasons.map(reasonText))
        : h("p", { class: "muted" }, "The notifier gave no reason."),
    ),
    infos.map((i) => infoSection(i, now)),
    areasSection(view, infos),
    historySection(view, report, now),
    recipientsSection(view, report, ctx),
    section(
      "Message",
      definitionList([
        ["Identifier", alert.identifier],
        ["Sender", alert.sender],
        ["Sent", time(alert.sent, now)],
        ["Status", alert.status],
        ["Type", alert.msgType],
        ["Scope", alert.scope],
        ["Restriction", alert.restriction],
        ["Note", alert.note],
        ["References", (alert.references ?? []).join(" ")],
        ["Incidents", (alert.incidents ?? []).join(", ")],
        ["Languages", languagesOf(alert).map(englishLanguageName).join(", ")],
        ["Delivered in", view.head.language ? englishLanguageName(view.head.language) : null],
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
    h("h2", { class: "pane-heading" }, "Network"),
    h("p", { class: "muted" }, views.length ? "Select an alert to see its details. Regions with active alerts in the list are coloured by their most severe alert." : "No alerts in the list."),
    h("figure", { class: "map-figure", "data-role": "overview-map" }, renderMap({ highlights, title: "Map of the network", description: `${plural(views.length, "alert")} in the list` })),
    h(
      "ul",
      { class: "legend", "aria-label": "Legend" },
      ["Extreme", "Severe", "Moderate", "Minor"].map((sev) => h("li", {}, h("span", { class: ["swatch", `sev-${lower(sev)}`] }), sev)),
    ),
  );
}

function worstSeverity(view) {
  const worst = [...(view.head.alert.info ?? [])].sort((a, b) => severityRank(b.severity) - severityRank(a.severity))[0];
  return worst?.severity ?? "Unknown";
}
