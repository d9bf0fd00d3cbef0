// The composer: duty officers of an organisation without a CAP system of its own write an
// alert here, a colleague approves it, and the gateway publishes it (/v1/compositions…,
// passed through the notifier). The form builds the CAP JSON; the gateway decides: every
// change is checked there (its problems name the field), with the recipients it would reach.

import { replaceChildren, h } from "./dom.js";
import { t, term, uiLanguage, UI_LANGUAGES } from "./i18n.js";
import { circleTouches, kmBetween, ringsTouch } from "./geometry.js";
import { renderMap, unproject } from "./map.js";
import { placeName, REGIONS, ringsOf } from "./regions.js";
import { fullTime } from "./format.js";

const URGENCIES = ["Immediate", "Expected", "Future", "Past"];
const SEVERITIES = ["Extreme", "Severe", "Moderate", "Minor"];
const CERTAINTIES = ["Observed", "Likely", "Possible", "Unlikely"];
const CATEGORIES = ["Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env", "Transport", "Infra", "CBRNE", "Other"];
const TEXTS = ["event", "headline", "description", "instruction"];
const CHECK_DELAY_MS = 400;
const SEEN_KEY = "crossalert.console.compositionsSeen";
const PLACEHOLDER = /\{(\w+)\}/g;

/** A fresh form: nothing chosen yet but the desk's habits. */
function emptyForm() {
  return {
    template: "", fills: {}, status: "Actual", msgType: "Alert", references: [], note: "",
    category: "Geo", eventCode: "", urgency: "Expected", severity: "Severe", certainty: "Likely",
    onset: "", expires: "", languages: [uiLanguage()], texts: {}, regions: [], polygon: "", circle: "",
    web: "", contact: "",
  };
}

const DECIMALS = 4; // ~10 m: finer than a click on the map can mean

/** A CAP polygon's text as [lat, lon] points; null unless every pair is two numbers. */
function polygonPoints(text) {
  const pairs = String(text ?? "").trim().split(/\s+/).filter(Boolean).map((pair) => pair.split(",").map(Number));
  return pairs.length && pairs.every((p) => p.length === 2 && p.every(Number.isFinite)) ? pairs : null;
}

/** A CAP circle's text as {lat, lon, radiusKm}; null unless it reads "lat,lon radius". */
function circleOf(text) {
  const match = /^\s*(-?[\d.]+),(-?[\d.]+)\s+([\d.]+)\s*$/.exec(String(text ?? ""));
  if (!match) return null;
  const [lat, lon, radiusKm] = match.slice(1).map(Number);
  return [lat, lon, radiusKm].every(Number.isFinite) ? { lat, lon, radiusKm } : null;
}

function pairText([lat, lon]) {
  return `${lat.toFixed(DECIMALS)},${lon.toFixed(DECIMALS)}`;
}

/** The network's regions (codes) a drawn polygon or circle touches, on the map's outlines. */
function regionsTouched(form) {
  const ring = polygonPoints(form.polygon)?.map(([lat, lon]) => [lon, lat]);
  const circle = circleOf(form.circle);
  return REGIONS.filter((region) => !region.context && ringsOf(region).some((outline) =>
    (ring && ring.length >= 3 && ringsTouch(ring, outline))
    || (circle && circleTouches([circle.lon, circle.lat], circle.radiusKm, outline))
  )).map((region) => region.code);
}

function localInput(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function isoOf(local) {
  return local ? new Date(local).toISOString().replace(/\.\d{3}Z$/, "+00:00") : undefined;
}

function filled(text, fills) {
  return String(text ?? "").replace(PLACEHOLDER, (whole, name) => fills[name] || whole);
}

/** The CAP JSON the form stands for (sender, identifier and sent are the gateway's). */
export function documentOf(form) {
  const geocode = form.regions.map((code) => ({ valueName: `NUTS${code.length - 2}`, value: code }));
  const areaDesc = form.regions.map(placeName).join(", ");
  const document = {
    status: form.status, msgType: form.msgType, scope: "Public",
    info: form.languages.map((language) => {
      const texts = form.texts[language] ?? {};
      const info = {
        language, category: [form.category], event: filled(texts.event, form.fills),
        urgency: form.urgency, severity: form.severity, certainty: form.certainty,
        onset: isoOf(form.onset), expires: isoOf(form.expires),
        headline: filled(texts.headline, form.fills) || undefined,
        description: filled(texts.description, form.fills) || undefined,
        instruction: filled(texts.instruction, form.fills) || undefined,
        web: form.web || undefined, contact: form.contact || undefined,
        area: [{
          areaDesc, geocode,
          polygon: form.polygon.trim() ? [form.polygon.trim()] : undefined,
          circle: form.circle.trim() ? [form.circle.trim()] : undefined,
        }],
      };
      if (form.eventCode) info.eventCode = [{ valueName: "crossalert", value: form.eventCode }];
      return info;
    }),
  };
  if (form.references.length) document.references = form.references;
  if (form.note) document.note = form.note;
  return document;
}

/** The form a saved document stands for (to go on editing it). */
function formOf(document) {
  const infos = document.info ?? [];
  const first = infos[0] ?? {};
  const codes = (first.area ?? []).flatMap((area) => (area.geocode ?? []).map((g) => g.value));
  return {
    ...emptyForm(),
    status: document.status ?? "Actual", msgType: document.msgType ?? "Alert",
    references: document.references ?? [], note: document.note ?? "",
    category: first.category?.[0] ?? "Geo", eventCode: first.eventCode?.[0]?.value ?? "",
    urgency: first.urgency ?? "Expected", severity: first.severity ?? "Severe", certainty: first.certainty ?? "Likely",
    onset: localInput(first.onset), expires: localInput(first.expires),
    languages: infos.map((info) => info.language),
    texts: Object.fromEntries(infos.map((info) => [info.language, Object.fromEntries(TEXTS.map((k) => [k, info[k] ?? ""]))])),
    regions: [...new Set(codes)], web: first.web ?? "", contact: first.contact ?? "",
    polygon: first.area?.[0]?.polygon?.[0] ?? "", circle: first.area?.[0]?.circle?.[0] ?? "",
  };
}

/** A selector finding `element` again once `root` is drawn anew; null if it is not in root. */
function focusSelector(element, root) {
  if (!element || element === root || !root.contains(element)) return null;
  if (element.dataset?.code) return `path.region[data-code="${element.dataset.code}"]`;
  if (element.dataset?.role) return `[data-role="${element.dataset.role}"]`;
  if (!element.name) return null;
  const value = element.type === "radio" ? `[value="${CSS.escape(element.value)}"]` : "";
  return `[name="${CSS.escape(element.name)}"]${value}`;
}

/** The CAP reference (sender,identifier,sent) of a published alert. */
function referenceTo(document) {
  return `${document.sender},${document.identifier},${document.sent}`;
}

export class Composer {
  constructor({ session, root, announce, exerciseMode = () => false }) {
    this.session = session;
    this.root = root;
    this.announce = announce;
    this.exerciseMode = exerciseMode;
    this.templates = [];
    this.compositions = null; // null: being read
    this.editing = null; // the composition being edited (null: a new one)
    this.form = emptyForm();
    this.check = null;
    this.error = null;
    this.busy = false;
    this.changes = new Map(); // composition id -> fields changed since this officer last looked
    this.view = "list";
    this.timer = null;
    this.drawing = "regions"; // what a click on the map does: regions, polygon, circle
    this.sketch = []; // [lat, lon] points clicked for the shape being drawn
  }

  get scopes() {
    return new Set(String(this.session.claims?.scope ?? "").split(" "));
  }

  /** Whether this officer may compose (an approver alone reads and approves). */
  get allowed() {
    return this.scopes.has("alerts:compose") || this.scopes.has("alerts:compose-exercise");
  }

  /** Exercise mode: an exercise-only officer (the gateway holds them to it), or a console
   * showing exercise traffic only. Only Exercise alerts are composed, updated or cancelled. */
  get exerciseOnly() {
    const onlyExercises = this.scopes.has("alerts:compose-exercise") && !this.scopes.has("alerts:compose");
    return onlyExercises || this.exerciseMode();
  }

  async open() {
    this.view = "list";
    // Never offer the buttons of a list read before: what was submitted may be published now.
    this.compositions = null;
    this.render();
    await this.reload();
  }

  async reload() {
    try {
      const [templates, compositions] = await Promise.all([
        this.session.request("/v1/compositions/templates"),
        this.session.request("/v1/compositions"),
      ]);
      this.templates = templates.data;
      this.compositions = compositions.data;
      await this.lookForChanges();
      this.error = null;
    } catch (error) {
      this.error = error;
    }
    this.render();
  }

  /** For each submitted composition a colleague changed since this officer last looked at it,
   * the fields they changed. */
  async lookForChanges() {
    const seen = this.seen();
    for (const c of this.compositions) {
      const last = seen[c.id];
      if (c.state === "submitted" && last && last < c.version) {
        const { data } = await this.session.request(`/v1/compositions/${c.id}?since=${last}`);
        this.changes.set(c.id, data.changed_since ?? []);
      }
    }
  }

  seen() {
    try {
      return JSON.parse(window.localStorage.getItem(SEEN_KEY) ?? "{}") ?? {};
    } catch {
      return {};
    }
  }

  markSeen(composition) {
    const seen = this.seen();
    seen[composition.id] = composition.version;
    try {
      window.localStorage.setItem(SEEN_KEY, JSON.stringify(seen));
    } catch {
      // storage refused: changes are shown against nothing
    }
  }

  startNew(form = emptyForm()) {
    this.editing = null;
    this.openForm(form);
  }

  edit(composition) {
    this.editing = composition;
    this.markSeen(composition);
    this.openForm(formOf(composition.document));
  }

  openForm(form) {
    this.form = form;
    this.drawing = "regions";
    this.sketch = [];
    this.check = null;
    this.view = "form";
    this.render();
    // Keyboard and screen-reader users start at the form's heading, not back at the page's top.
    this.root.querySelector("h2")?.focus();
    this.scheduleCheck();
  }

  followUp(composition, msgType) {
    const form = formOf(composition.document);
    form.msgType = msgType;
    form.references = [referenceTo(composition.document)];
    form.note = "";
    this.startNew(form);
  }

  useTemplate(id) {
    const template = this.templates.find((tpl) => tpl.id === id);
    this.form.template = id;
    if (template) {
      Object.assign(this.form, {
        category: template.category, eventCode: template.event_code ?? "", urgency: template.urgency,
        severity: template.severity, certainty: template.certainty, web: template.web ?? "", contact: template.contact ?? "",
        languages: Object.keys(template.texts), texts: structuredClone(template.texts), fills: {},
      });
    }
    this.render();
    this.scheduleCheck();
  }

  update(change) {
    Object.assign(this.form, change);
    this.scheduleCheck();
  }

  scheduleCheck() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.runCheck(), CHECK_DELAY_MS);
  }

  async runCheck() {
    try {
      const { data } = await this.session.request("/v1/compositions/check", { method: "POST", body: documentOf(this.form) });
      this.check = data;
      this.error = null;
    } catch (error) {
      this.error = error;
    }
    this.renderCheck();
  }

  async save() {
    const body = { document: documentOf(this.form) };
    const { data } = this.editing
      ? await this.session.request(`/v1/compositions/${this.editing.id}`, { method: "PUT", body: { ...body, version: this.editing.version } })
      : await this.session.request("/v1/compositions", { method: "POST", body });
    this.editing = data;
    this.markSeen(data);
    return data;
  }

  async act(action, composition = null) {
    if (this.busy) return;
    this.busy = true;
    this.error = null;
    this.render();
    try {
      let target = composition ?? (await this.save());
      if (action !== "save") {
        const { data } = await this.session.request(`/v1/compositions/${target.id}/${action}`, { method: "POST", body: { version: target.version } });
        target = data;
      }
      this.announce(term("composer.done", target.state));
      this.view = "list";
      this.editing = null;
      await this.reload();
    } catch (error) {
      this.error = error;
    } finally {
      this.busy = false;
      this.render();
    }
  }

  // ---------------------------------------------------------------------------- rendering

  render() {
    // The form is drawn anew on every choice: the control in focus keeps it (keyboard users).
    const focused = focusSelector(document.activeElement, this.root);
    if (this.view === "form") replaceChildren(this.root, this.renderForm());
    else replaceChildren(this.root, this.renderList());
    if (focused) this.root.querySelector(focused)?.focus();
  }

  renderError() {
    return this.error ? h("p", { class: "composer-error", role: "alert" }, this.error.text ?? String(this.error)) : null;
  }

  renderList() {
    const mayApprove = this.scopes.has("alerts:approve");
    const me = this.session.claims?.sub;
    const rows = (this.compositions ?? []).map((c) => {
      const head = c.document.info?.[0] ?? {};
      const actions = [];
      if (c.state === "draft" || c.state === "submitted") {
        actions.push(h("button", { type: "button", class: "tool-button", onclick: () => this.edit(c) }, t("composer.open")));
      }
      const wrote = c.history.some((e) => e.action === "saved" && e.by === me);
      if (c.state === "submitted" && mayApprove && !wrote) {
        actions.push(h("button", { type: "button", class: "tool-button primary", dataset: { role: "approve" }, onclick: () => this.act("approve", c) }, t("composer.approve")));
      }
      if (c.state === "published" && (c.document.status === "Exercise" || !this.exerciseOnly)) {
        actions.push(
          h("button", { type: "button", class: "tool-button", dataset: { role: "update" }, onclick: () => this.followUp(c, "Update") }, t("composer.update")),
          h("button", { type: "button", class: "tool-button", dataset: { role: "cancel" }, onclick: () => this.followUp(c, "Cancel") }, t("composer.cancel")),
        );
      }
      const changed = this.changes.get(c.id);
      return h(
        "li",
        { class: "composition", dataset: { id: c.id, state: c.state } },
        h("strong", {}, head.headline || head.event || t("composer.untitled")),
        " ",
        h("span", { class: "composition-state" }, term("composer.state", c.state)),
        h("span", { class: "composition-meta" }, t("composer.by", { name: c.updated_by, time: fullTime(c.updated_at) })),
        changed?.length ? h("p", { class: "composition-changes" }, t("composer.changedSince", { fields: changed.join(", ") })) : null,
        h("span", { class: "composition-actions" }, actions),
      );
    });
    return h(
      "div",
      { class: "composer-list" },
      h("h2", {}, t("composer.title")),
      this.renderError(),
      this.allowed ? h("button", { type: "button", class: "tool-button primary", dataset: { role: "new" }, onclick: () => this.startNew() }, t("composer.new")) : null,
      this.compositions === null ? h("p", {}, t("composer.loading"))
        : rows.length ? h("ul", { class: "compositions" }, rows) : h("p", {}, t("composer.none")),
    );
  }

  field(label, control, help) {
    return h("label", { class: "composer-field" }, h("span", {}, label), control, help ? h("small", {}, help) : null);
  }

  select(name, values, family) {
    return h(
      "select",
      { name, dataset: { field: name }, onchange: (e) => { this.update({ [name]: e.target.value }); this.renderHelp(); } },
      values.map((v) => h("option", { value: v, selected: this.form[name] === v }, term(family, v))),
    );
  }

  input(name, attrs = {}) {
    return h("input", { name, value: this.form[name], dataset: { field: name }, oninput: (e) => this.update({ [name]: e.target.value }), ...attrs });
  }

  renderForm() {
    const form = this.form;
    if (this.exerciseOnly && form.status !== "Exercise") {
      form.status = "Exercise";
      this.scheduleCheck();
    }
    const cancelling = form.msgType === "Cancel";
    const placeholders = [...new Set(form.languages.flatMap((l) => TEXTS.flatMap((k) => [...String(form.texts[l]?.[k] ?? "").matchAll(PLACEHOLDER)].map((m) => m[1]))))];
    const body = [
      h("h2", { tabindex: "-1" }, term("composer.heading", form.msgType)),
      form.status === "Exercise"
        ? h("div", { class: "banner banner-exercise", role: "note" }, h("strong", {}, this.exerciseOnly ? t("composer.exerciseMode") : t("composer.exerciseBanner")))
        : null,
      this.renderError(),
    ];
    if (cancelling) {
      body.push(this.field(t("composer.reason"), h("textarea", { name: "note", dataset: { field: "note" }, oninput: (e) => this.update({ note: e.target.value }) }, form.note)));
    } else {
      body.push(
        this.field(t("composer.template"), h("select", { name: "template", onchange: (e) => this.useTemplate(e.target.value) },
          h("option", { value: "" }, t("composer.noTemplate")),
          this.templates.map((tpl) => h("option", { value: tpl.id, selected: form.template === tpl.id }, tpl.texts[uiLanguage()]?.event ?? Object.values(tpl.texts)[0].event)))),
        placeholders.map((name) => this.field(t("composer.fill", { name }), h("input", { name: `fill-${name}`, value: form.fills[name] ?? "", oninput: (e) => { form.fills[name] = e.target.value; this.scheduleCheck(); } }))),
        h("fieldset", { class: "composer-row" }, h("legend", {}, t("composer.traffic")),
          ["Actual", "Exercise"].map((status) => h("label", {}, h("input", { type: "radio", name: "status", value: status, checked: form.status === status, disabled: status === "Actual" && this.exerciseOnly, onchange: () => { this.update({ status }); this.render(); } }), " ", term("status", status)))),
        h("div", { class: "composer-row" },
          this.field(t("composer.category"), this.select("category", CATEGORIES, "category")),
          this.field(t("composer.urgency"), this.select("urgency", URGENCIES, "urgency"), h("span", { dataset: { help: "urgency" } }, term("composer.help.urgency", form.urgency))),
          this.field(t("composer.severity"), this.select("severity", SEVERITIES, "severity"), h("span", { dataset: { help: "severity" } }, term("composer.help.severity", form.severity))),
          this.field(t("composer.certainty"), this.select("certainty", CERTAINTIES, "certainty"), h("span", { dataset: { help: "certainty" } }, term("composer.help.certainty", form.certainty)))),
        h("div", { class: "composer-row" },
          this.field(t("composer.onset"), this.input("onset", { type: "datetime-local" })),
          this.field(t("composer.expires"), this.input("expires", { type: "datetime-local" }))),
        h("fieldset", { class: "composer-row" }, h("legend", {}, t("composer.languages")),
          UI_LANGUAGES.map((language) => h("label", {}, h("input", { type: "checkbox", name: `language-${language}`, checked: form.languages.includes(language), onchange: (e) => this.toggleLanguage(language, e.target.checked) }), " ", term("composer.language", language)))),
        form.languages.map((language) => this.renderTexts(language)),
        this.renderArea(),
        h("div", { class: "composer-row" },
          this.field(t("composer.web"), this.input("web", { type: "url" })),
          this.field(t("composer.contact"), this.input("contact"))),
      );
    }
    body.push(
      h("section", { class: "composer-check", "aria-live": "polite", id: "composer-check" }),
      h("div", { class: "composer-actions" },
        h("button", { type: "button", class: "tool-button", dataset: { role: "save" }, disabled: this.busy, onclick: () => this.act("save") }, t("composer.save")),
        h("button", { type: "button", class: "tool-button primary", dataset: { role: "submit" }, disabled: this.busy, onclick: () => this.act("submit") }, t("composer.submit")),
        this.editing ? h("button", { type: "button", class: "tool-button", dataset: { role: "withdraw" }, onclick: () => this.act("withdraw", this.editing) }, t("composer.withdraw")) : null,
        h("button", { type: "button", class: "tool-button", dataset: { role: "back" }, onclick: () => { this.view = "list"; this.render(); } }, t("composer.back"))),
    );
    const root = h("form", { class: "composer-form", "aria-label": t("composer.title"), onsubmit: (e) => e.preventDefault() }, body);
    queueMicrotask(() => this.renderCheck());
    return root;
  }

  renderHelp() {
    const help = (name) => this.root.querySelector(`[data-help="${name}"]`) ?? {};
    help("urgency").textContent = term("composer.help.urgency", this.form.urgency);
    help("severity").textContent = term("composer.help.severity", this.form.severity);
    help("certainty").textContent = term("composer.help.certainty", this.form.certainty);
  }

  toggleLanguage(language, on) {
    const languages = this.form.languages.filter((l) => l !== language);
    if (on) languages.push(language);
    this.update({ languages });
    this.render();
  }

  renderTexts(language) {
    const texts = (this.form.texts[language] ??= {});
    return h("fieldset", { class: "composer-texts", dataset: { language } },
      h("legend", {}, term("composer.language", language)),
      TEXTS.map((key) => this.field(term("composer.text", key), h(key === "description" || key === "instruction" ? "textarea" : "input", {
        name: `${language}-${key}`, dataset: { field: `${language}.${key}` }, value: texts[key] ?? "",
        oninput: (e) => { texts[key] = e.target.value; this.scheduleCheck(); },
      }, key === "description" || key === "instruction" ? texts[key] ?? "" : null))));
  }

  renderArea() {
    const form = this.form;
    const drawn = polygonPoints(form.polygon);
    const circle = circleOf(form.circle);
    const sketching = this.drawing === "polygon" && this.sketch.length;
    const map = renderMap({
      highlights: form.regions.map((code) => ({ code, severity: form.severity })),
      polygons: sketching ? [{ points: this.sketch }] : drawn ? [{ points: drawn }] : [],
      circles: circle ? [circle] : this.drawing === "circle" && this.sketch.length ? [{ lat: this.sketch[0][0], lon: this.sketch[0][1], radiusKm: 0.5 }] : [],
      title: t("composer.area"),
    });
    map.classList.add("composer-map");
    map.dataset.drawing = this.drawing;
    // Picking: a click on a region adds it to the area or takes it out; each one is a button for
    // the keyboard. Drawing: a click is a corner of the polygon, or the circle's centre then edge.
    for (const shape of map.querySelectorAll("path.region:not(.context)")) {
      const code = shape.dataset.code;
      shape.setAttribute("tabindex", this.drawing === "regions" ? "0" : "-1");
      shape.setAttribute("role", "button");
      shape.setAttribute("aria-pressed", String(form.regions.includes(code)));
      shape.setAttribute("aria-label", placeName(code));
      shape.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); this.toggleRegion(code); } });
    }
    map.addEventListener("click", (e) => {
      if (this.drawing === "regions") {
        const code = e.target.closest?.("path.region:not(.context)")?.dataset.code;
        if (code) this.toggleRegion(code);
        return;
      }
      const point = new DOMPoint(e.clientX, e.clientY).matrixTransform(map.getScreenCTM().inverse());
      const [lon, lat] = unproject([point.x, point.y]);
      this.addPoint([Number(lat.toFixed(DECIMALS)), Number(lon.toFixed(DECIMALS))]);
    });
    const help = { regions: t("composer.areaHelp"), polygon: t("composer.drawHelp.polygon"), circle: t("composer.drawHelp.circle") };
    return h("fieldset", { class: "composer-area", dataset: { field: "area" } },
      h("legend", {}, t("composer.area")),
      h("fieldset", { class: "composer-row" }, h("legend", {}, t("composer.drawMode")),
        ["regions", "polygon", "circle"].map((mode) => h("label", {}, h("input", {
          type: "radio", name: "drawing", value: mode, checked: this.drawing === mode,
          onchange: () => { this.drawing = mode; this.sketch = []; this.render(); },
        }), " ", term("composer.draw", mode)))),
      h("p", {}, help[this.drawing]),
      map,
      this.drawing === "polygon"
        ? h("button", { type: "button", class: "tool-button", dataset: { role: "close-polygon" }, disabled: this.sketch.length < 3, onclick: () => this.closePolygon() }, t("composer.closePolygon"))
        : null,
      h("div", { class: "composer-row" },
        this.field(t("composer.polygon"), this.input("polygon", { onchange: () => this.shapeDrawn() })),
        this.field(t("composer.circle"), this.input("circle", { onchange: () => this.shapeDrawn() }))),
      drawn || circle ? h("p", {}, h("small", {}, t("composer.touched"))) : null,
      h("ul", { class: "composer-regions" }, this.form.regions.map((code) => h("li", { dataset: { code } }, `${placeName(code)} (${code}) `,
        h("button", { type: "button", class: "link-button", onclick: () => this.toggleRegion(code) }, t("composer.remove"))))));
  }

  addPoint(point) {
    if (this.drawing === "polygon") {
      this.sketch = [...this.sketch, point];
      this.render();
    } else if (this.sketch.length === 0) {
      this.sketch = [point]; // the circle's centre; the next click gives its radius
      this.render();
    } else {
      const [lat, lon] = this.sketch[0];
      const radius = kmBetween([lon, lat], [point[1], point[0]]);
      this.form.circle = `${pairText([lat, lon])} ${Math.max(radius, 0.1).toFixed(1)}`;
      this.sketch = [];
      this.shapeDrawn();
    }
  }

  closePolygon() {
    const ring = [...this.sketch, this.sketch[0]];
    this.form.polygon = ring.map(pairText).join(" ");
    this.sketch = [];
    this.shapeDrawn();
  }

  /** A polygon or circle was drawn or typed: add the regions it touches, check again. */
  shapeDrawn() {
    const regions = [...new Set([...this.form.regions, ...regionsTouched(this.form)])];
    this.update({ regions });
    this.render();
  }

  toggleRegion(code) {
    const known = REGIONS.some((r) => r.code === code);
    if (!known) return;
    const regions = this.form.regions.includes(code) ? this.form.regions.filter((c) => c !== code) : [...this.form.regions, code];
    this.update({ regions });
    this.render();
  }

  renderCheck() {
    const panel = this.root.querySelector("#composer-check");
    if (!panel) return;
    for (const el of this.root.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
    const check = this.check;
    if (!check) {
      replaceChildren(panel, this.error ? this.renderError() : h("p", {}, t("composer.checking")));
      return;
    }
    // Say beforehand whether submitting publishes at once (the organisation's single approval).
    const submit = this.root.querySelector('[data-role="submit"]');
    if (submit) submit.textContent = check.valid && check.publishes_alone ? t("composer.publishAlone") : t("composer.submit");
    if (!check.valid) {
      for (const problem of check.problems) this.markInvalid(problem.field);
      replaceChildren(panel, h("h3", {}, t("composer.problems")),
        h("ul", { class: "composer-problems" }, check.problems.map((p) => h("li", { dataset: { field: p.field } }, h("code", {}, p.field), " ", p.message))));
      return;
    }
    const missing = check.missing_languages;
    replaceChildren(panel,
      h("h3", {}, t("composer.recipients", { count: check.recipients.length })),
      h("ul", { class: "composer-recipients" }, check.recipients.map((r) => h("li", { dataset: { contactPoint: r.contact_point } },
        h("strong", {}, r.name), ` — ${r.organisation_name}: `, r.reasons.join("; "),
        r.language_available ? null : h("em", {}, ` ${t("composer.readsNone", { languages: r.reads.join(", ") })}`)))),
      missing.length ? h("p", { class: "composer-missing" }, t("composer.missing", { languages: missing.map((l) => term("composer.language", l)).join(", ") })) : null,
      h("details", {}, h("summary", {}, t("composer.xml")), h("pre", { class: "composer-xml" }, check.cap_xml)));
  }

  markInvalid(field) {
    // info[1].headline -> the second language's headline; other fields by their own name.
    const match = /^info\[(\d+)\]\.(\w+)/.exec(field);
    const language = match ? this.form.languages[Number(match[1])] : null;
    const shape = /\.area\[\d+\]\.(polygon|circle)\b/.exec(field)?.[1];
    const name = shape ?? (match ? match[2] : field.split(/[.[]/)[0]);
    const target = (language && this.root.querySelector(`[data-field="${language}.${name}"]`))
      ?? (name === "area" ? this.root.querySelector('[data-field="area"]') : null)
      ?? this.root.querySelector(`[data-field="${name}"]`);
    target?.setAttribute("aria-invalid", "true");
  }
}
