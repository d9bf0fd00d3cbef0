// The console page: session, feed, store and views wired together.

import { Announcer } from "./announcer.js";
import { Composer } from "./composer.js";
import {
  CATEGORIES, SEVERITIES, chooseLanguage, exerciseLabel, exerciseRunOf, infosIn, isAnnounced, keyText, languagesOf,
  worstInfo,
} from "./cap.js";
import { h, replaceChildren } from "./dom.js";
import { renderExerciseReport } from "./exercise_report.js";
import { Feed, STALE_SILENCE_MS } from "./feed.js";
import { DEFAULTS, STATUSES, TRAFFIC, matches, narrowed, readFilters, writeFilters } from "./filters.js";
import { fullTime, nativeLanguageName } from "./format.js";
import {
  UI_LANGUAGES, onUiLanguageChange, setUiLanguage, t, term, translate, translatePage, uiLanguage,
} from "./i18n.js";
import { COUNTRIES, GROUPS, REGIONS, placeName } from "./regions.js";
import { Session } from "./session.js";
import { AlertStore } from "./store.js";
import { renderCard, renderDetail, renderOverview } from "./views.js";

// The alert-language setting (which of an alert's languages to show), not the interface's.
const LANGUAGE_KEY = "crossalert.console.language";
const ALERT_LANGUAGES = ["de", "fr", "nl", "lb", "en"];
const STALE_AFTER_MS = 5000;
const SESSION_WARNING_S = 60;
const SESSION_END_WARNING_S = 600;
const RENEW_RETRY_S = 5;

const $ = (id) => document.getElementById(id);

const session = new Session();
const store = new AlertStore();
const announcer = new Announcer({ polite: $("live-polite"), assertive: $("live-assertive") });

const state = {
  filters: readFilters(window.location.search),
  selected: readSelected(window.location.hash),
  me: null,
  owner: null,
  feed: null,
  connection: { state: "idle" },
  notLiveSince: Date.now(),
  snapshot: false,
  languageOverride: window.localStorage.getItem(LANGUAGE_KEY) ?? "",
  languageChoice: new Map(),
  reports: new Map(),
  exerciseReports: new Set(),
  reportTimers: new Map(),
  acking: new Set(),
  ackErrors: new Map(),
  noteDrafts: new Map(),
  unseen: new Set(),
  pendingAck: null,
  renderQueued: false,
  renewTimer: null,
  renewError: null,
  // What the sign-in dialog says, as a function: it is read again when the language changes.
  loginMessage: null,
  // The after-action report on screen: {run, data} once loaded, {run, error} if refused.
  openReport: null,
};

// ------------------------------------------------------------------ language

function languageOf(view) {
  const item = view.head;
  const override = state.languageOverride;
  // Without a choice of the officer's, the notifier's choice for the desk stands.
  const missing = override ? chooseLanguage(item.alert, [override]).missing : !item.language_available;
  const wanted = override || (item.language_available ? item.language : null);
  const automatic = chooseLanguage(item.alert, [override, item.language, navigator.language].filter(Boolean));
  const chosen = state.languageChoice.get(view.chain);
  const language = chosen && languagesOf(item.alert).includes(chosen) ? chosen : automatic.language;
  return { language, missing, wanted };
}

// ------------------------------------------------------------------ rendering

function context() {
  return {
    me: state.me,
    now: new Date(),
    selected: state.selected,
    unseen: state.unseen,
    acking: state.acking,
    ackErrors: state.ackErrors,
    reports: state.reports,
    noteDrafts: state.noteDrafts,
    languageOf,
    actions: { open, close, acknowledge, setLanguage, loadReport },
  };
}

function scheduleRender() {
  if (state.renderQueued) return;
  state.renderQueued = true;
  // A timer rather than requestAnimationFrame: a console in a background tab stays current.
  setTimeout(() => {
    state.renderQueued = false;
    render();
  }, 0);
}

function signature(view, ctx) {
  return JSON.stringify([
    view.head.seq, view.key, view.state, languageOf(view), ctx.acking.has(view.key),
    ctx.ackErrors.get(view.key)?.message ?? null, ctx.unseen.has(view.chain), ctx.selected === view.chain,
    Math.floor(ctx.now.getTime() / 30000), view.head.acknowledgements?.length ?? 0, state.me?.contact_point, uiLanguage(),
  ]);
}

function render() {
  const ctx = context();
  const views = store.views(ctx.now);
  const visible = views.filter((view) => matches(view, state.filters));
  renderList(visible, ctx);
  renderDetailPane(views, visible, ctx);
  renderExerciseBanner(views);
  renderRuns(views);
  renderSummary(views, visible);
  document.title = `${state.unseen.size ? `(${state.unseen.size}) ⚠ ` : ""}${t("page.title")}${state.me ? ` — ${state.me.contact_point}` : ""}`;
}

function focusMemo() {
  const active = document.activeElement;
  const holder = active?.closest?.("[data-chain]");
  if (!holder || !active.dataset.role) return null;
  return { chain: holder.dataset.chain, role: active.dataset.role, language: active.dataset.language, inDetail: Boolean(active.closest("#detail")) };
}

function restoreFocus(memo) {
  if (!memo || (document.activeElement && document.activeElement !== document.body)) return;
  const scope = memo.inDetail ? $("detail") : $("alert-list");
  const holder = [...scope.querySelectorAll("[data-chain]")].find((el) => el.dataset.chain === memo.chain);
  const selector = memo.language ? `[data-role="${memo.role}"][data-language="${memo.language}"]` : `[data-role="${memo.role}"]`;
  holder?.querySelector(selector)?.focus();
}

function renderList(visible, ctx) {
  const list = $("alert-list");
  const memo = focusMemo();
  const existing = new Map([...list.children].map((el) => [el.dataset.chain, el]));
  const wanted = visible.map((view) => {
    const sig = signature(view, ctx);
    const old = existing.get(view.chain);
    if (old && old.dataset.signature === sig) return old;
    const card = renderCard(view, ctx);
    card.dataset.signature = sig;
    if (old) old.replaceWith(card);
    return card;
  });
  for (const [chain, el] of existing) if (!visible.some((v) => v.chain === chain)) el.remove();
  wanted.forEach((card, index) => {
    if (list.children[index] !== card) list.insertBefore(card, list.children[index] ?? null);
  });
  $("list-count").textContent = `(${visible.length})`;
  const empty = $("empty-list");
  empty.hidden = visible.length > 0;
  empty.textContent = store.items.size ? t("list.noMatch") : state.connection.state === "live" ? t("list.noAlerts") : t("list.waiting");
  restoreFocus(memo);
}

function renderDetailPane(views, visible, ctx) {
  const pane = $("detail");
  const memo = focusMemo();
  const view = state.selected ? views.find((v) => v.chain === state.selected) : null;
  document.body.classList.toggle("detail-open", Boolean(view));
  if (view) {
    if (!state.reports.has(view.key)) loadReport(view.key);
    const sig = JSON.stringify([signature(view, ctx), state.reports.get(view.key)?.version ?? 0]);
    if (pane.dataset.signature === sig) return;
    pane.dataset.signature = sig;
    replaceChildren(pane, renderDetail(view, ctx));
  } else {
    const sig = JSON.stringify(["overview", uiLanguage(), visible.map((v) => [v.chain, v.head.seq, v.state])]);
    if (pane.dataset.signature === sig) return;
    pane.dataset.signature = sig;
    replaceChildren(pane, renderOverview(visible, ctx));
  }
  restoreFocus(memo);
}

function renderExerciseBanner(views) {
  const banner = $("exercise-banner");
  const statusOnly = { ...state.filters, traffic: "all" };
  const exercises = views.filter((view) => view.exercise && matches(view, statusOnly));
  const traffic = state.filters.traffic;
  banner.hidden = exercises.length === 0 && traffic !== "exercise";
  if (traffic === "real") {
    $("exercise-banner-text").textContent = t("exercise.hiddenCount", { count: exercises.length });
    $("exercise-toggle").textContent = t("exercise.show");
  } else if (traffic === "exercise") {
    $("exercise-banner-text").textContent = t("exercise.onlyShown");
    $("exercise-toggle").textContent = t("exercise.showReal");
  } else {
    $("exercise-banner-text").textContent = t("exercise.inList", { count: exercises.length, mark: t("exercise.mark") });
    $("exercise-toggle").textContent = t("exercise.hide");
  }
}

function renderSummary(views, visible) {
  const hidden = views.length - visible.length;
  $("filter-summary").textContent = narrowed(state.filters) || hidden
    ? t("filters.summary", { shown: visible.length, count: views.length })
    : "";
}

// ------------------------------------------------------------------ connection and session

const CONNECTION_WORDS = {
  idle: () => t("connection.idle"),
  connecting: () => t("connection.connecting"),
  syncing: () => t("connection.syncing"),
  live: () => t("connection.live"),
  refused: () => t("connection.refused"),
};

function onStatus(status) {
  const wasLive = state.connection.state === "live";
  state.connection = status;
  if (status.state === "live") state.notLiveSince = null;
  else if (wasLive || state.notLiveSince === null) state.notLiveSince = Date.now();
  renderConnection();
}

function renderConnection() {
  const status = state.connection;
  const box = $("connection");
  const offline = !navigator.onLine;
  box.dataset.state = offline && status.state !== "live" ? "offline" : status.state;
  let text = CONNECTION_WORDS[status.state]?.() ?? status.state;
  if (status.state === "waiting") {
    const seconds = Math.max(0, Math.ceil((status.retryAt - Date.now()) / 1000));
    text = t("connection.waiting", { seconds, attempt: status.attempt });
  }
  if (offline && status.state !== "live") text = t("connection.offline", { state: text });
  $("connection-text").textContent = text;
  $("reconnect-now").hidden = status.state !== "waiting";
  renderStale();
}

function renderStale() {
  const banner = $("stale-banner");
  const silence = state.feed?.silence() ?? 0;
  const silent = state.connection.state === "live" && silence > STALE_SILENCE_MS;
  const since = silent ? Date.now() - silence : state.notLiveSince;
  const stale = session.present && store.synced && since !== null && (silent || Date.now() - since > STALE_AFTER_MS);
  banner.hidden = !stale;
  $("connection").classList.toggle("stale", stale);
  if (stale) {
    const seconds = Math.round((Date.now() - since) / 1000);
    banner.textContent = `${t("stale.banner", { time: fullTime(new Date(since).toISOString()), seconds })} ${
      state.connection.state === "refused" ? t("stale.signIn") : t("stale.reconnecting")
    }`;
  }
}

function renderSession() {
  const banner = $("session-banner");
  if (!session.present || $("login-dialog").open) {
    banner.hidden = true;
    return;
  }
  const now = Date.now();
  let text = null;
  if (state.renewError) {
    text = t("session.renewFailed", { reason: why(state.renewError) });
  } else if (session.renewable && session.endsAt !== null && session.endsAt - now < SESSION_END_WARNING_S * 1000) {
    const ends = new Date(session.endsAt).toISOString();
    text = t("session.endsAt", { time: fullTime(ends), left: clock((session.endsAt - now) / 1000) });
  } else if (!session.renewable) {
    const left = session.secondsLeft();
    if (left <= 0) text = t("session.expiredBanner");
    else if (left <= SESSION_WARNING_S) text = t("session.endsIn", { left: clock(left) });
  }
  banner.hidden = text === null;
  if (text !== null) $("session-banner-text").textContent = text;
}

function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

// Renewed ahead of expiry (a quarter of the lifetime, at most a minute), so the feed never
// meets an expired token.
function scheduleRenewal() {
  clearTimeout(state.renewTimer);
  if (!session.renewable || !session.present) return;
  const left = session.secondsLeft();
  const delay = Math.max(1, left - Math.min(SESSION_WARNING_S, left / 4));
  state.renewTimer = setTimeout(renewNow, delay * 1000);
}

async function renewNow() {
  clearTimeout(state.renewTimer);
  try {
    await session.renew();
  } catch (error) {
    if (error.status === 401) {
      sessionEnded(() => why(error));
    } else {
      state.renewError = error;
      renderSession();
      state.renewTimer = setTimeout(renewNow, RENEW_RETRY_S * 1000);
    }
  }
}

// However a renewal came about (the timer, a refused call, a refused feed), the feed moves to
// the new token at once: the notifier closes a connection when its token expires.
function renewed() {
  state.renewError = null;
  scheduleRenewal();
  renderSession();
  if (state.feed && !state.feed.stopped) state.feed.renewed();
  else startFeed();
}

// The feed and an acknowledgement may both find the session ended, in either order: whichever
// speaks last still mentions the acknowledgement waiting to be sent.
function sessionEnded(words) {
  clearTimeout(state.renewTimer);
  state.feed?.stop();
  session.forget();
  renderWho();
  const pending = Boolean(state.pendingAck);
  showLogin(() => [words(), pending ? t("session.pendingAck") : null, t("session.continue")].filter(Boolean).join(" "));
}

function ended() {
  return t("session.ended");
}

/** Why `error` happened, in the interface language where the console wrote it. */
function why(error) {
  return error.text ?? error.message;
}

function renderWho() {
  const me = state.me;
  const claims = session.claims;
  $("whoami").textContent = me
    ? `${me.display_name ?? me.username} · ${me.contact_point} (${me.organisation})`
    : claims
      ? `${claims.name ?? claims.sub} · ${claims.contact_point ?? ""}`
      : "";
  $("logout").hidden = !session.present && !me;
  const scopes = String(claims?.scope ?? "").split(" ");
  const composes = ["alerts:compose", "alerts:compose-exercise", "alerts:approve"];
  $("open-composer").hidden = !composes.some((scope) => scopes.includes(scope));
}

// ------------------------------------------------------------------ composer

const composer = new Composer({
  session, root: $("composer"), announce: (text) => announcer.say(text),
  // The console showing exercise traffic only is in exercise mode: it composes exercises only.
  exerciseMode: () => state.filters.traffic === "exercise",
});

function showComposer(shown) {
  $("composer").hidden = !shown;
  $("panes").hidden = shown;
  $("filters").hidden = shown;
  $("open-composer").setAttribute("aria-pressed", String(shown));
  if (shown) composer.open();
}

function startFeed() {
  state.feed?.stop();
  $("app").hidden = false;
  renderWho();
  state.feed = new Feed({
    token: () => session.token,
    resumeAfter: () => store.resumeAfter(),
    handlers: { onMessage, onStatus, onRefused },
  });
  state.feed.start();
  loadExerciseReports();
}

function onRefused({ code }) {
  if (code === 4403) {
    clearTimeout(state.renewTimer);
    session.forget();
    renderWho();
    showLogin(() => t("session.forbidden"));
  } else if (session.renewable) {
    renewNow();
  } else {
    sessionEnded(ended);
  }
}

/** Show `words()` in the sign-in dialog (again after a change of language); null: nothing. */
function renderLoginMessage(words = state.loginMessage) {
  state.loginMessage = words;
  const text = $("login-message");
  text.hidden = !words;
  text.textContent = words ? words() : "";
}

function showLogin(words = null) {
  const dialog = $("login-dialog");
  renderLoginMessage(words);
  const username = $("login-username");
  if (!username.value && session.lastUser) username.value = session.lastUser;
  $("login-password").value = "";
  $("login-submit").disabled = false;
  if (!dialog.open) dialog.showModal();
  (username.value ? $("login-password") : username).focus();
  renderSession();
}

async function submitLogin(event) {
  event.preventDefault();
  const username = $("login-username").value.trim();
  const password = $("login-password").value;
  if (!username || !password) {
    renderLoginMessage(() => t("login.missing"));
    return;
  }
  $("login-submit").disabled = true;
  $("login-submit").textContent = t("login.busy");
  try {
    const claims = await session.login(username, password);
    const owner = `${claims.org}/${claims.contact_point}`;
    if (state.owner !== null && state.owner !== owner) resetView();
    state.owner = owner;
    $("login-dialog").close();
    announcer.unlock();
    state.renewError = null;
    startFeed();
    scheduleRenewal();
    renderSession();
    const pending = state.pendingAck;
    state.pendingAck = null;
    if (pending && state.owner === pending.owner) acknowledge(pending.key, pending.note);
  } catch (error) {
    renderLoginMessage(() => why(error));
    $("login-password").select();
  } finally {
    $("login-submit").disabled = false;
    $("login-submit").textContent = t("login.submit");
  }
}

function resetView() {
  store.clear();
  state.me = null;
  state.unseen.clear();
  state.reports.clear();
  state.acking.clear();
  state.ackErrors.clear();
  state.noteDrafts.clear();
  state.languageChoice.clear();
  state.pendingAck = null;
  delete $("detail").dataset.signature;
  showComposer(false);
  scheduleRender();
}

async function logout() {
  clearTimeout(state.renewTimer);
  state.feed?.stop();
  state.feed = null;
  await session.logout();
  resetView();
  state.owner = null;
  renderWho();
  $("app").hidden = true;
  state.notLiveSince = null;
  showLogin(() => t("login.signedOut"));
}

// ------------------------------------------------------------------ the feed

function onMessage(message, { resumed }) {
  switch (message.type) {
    case "welcome":
      state.me = message;
      state.owner = `${message.organisation}/${message.contact_point}`;
      state.snapshot = !resumed;
      renderWho();
      break;
    case "reset":
      store.clear();
      state.snapshot = true;
      break;
    case "item":
      onItem(message);
      break;
    case "heartbeat":
      if (store.synced) store.markSynced(message.cursor);
      return;
    case "synced":
      store.markSynced(message.cursor);
      if (state.snapshot) {
        const active = store.views().filter((v) => v.state === "active");
        const severe = active.filter((v) => isAnnounced(worstInfo(v.head.alert.info ?? [])?.severity));
        announcer.say(
          severe.length
            ? t("announce.connectedSevere", { count: active.length, severe: t("announce.severeCount", { count: severe.length }) })
            : t("announce.connected", { count: active.length }),
        );
      }
      state.snapshot = false;
      break;
    default:
      break;
  }
  scheduleRender();
}

function onItem(item) {
  const result = store.apply(item);
  if (!result.changed) return;
  const key = keyText(item.key);
  const chain = keyText(item.chain);
  const view = store.view(chain);
  if (state.reports.has(key) || state.selected === chain) refreshReportSoon(key);
  if (state.snapshot || !view) return;
  const { language } = languageOf(view);
  const info = worstInfo(infosIn(item.alert, language)) ?? {};
  const headline = info.headline ?? info.event ?? item.alert.identifier;
  // Exercise traffic is announced as such before anything else is said.
  const marked = (text) => (item.exercise ? t("announce.exercise", { label: exerciseLabel(item.alert.status), text }) : text);
  if (item.kind === "acknowledgement") {
    const before = new Set((result.previous?.acknowledgements ?? []).map((a) => a.contact_point + a.at));
    for (const ack of item.acknowledgements ?? []) {
      if (!before.has(ack.contact_point + ack.at) && ack.by !== state.me?.username) {
        announcer.say(t("announce.acknowledgedBy", { name: ack.by_name ?? ack.by, headline }));
      }
    }
    if ((item.acknowledgements ?? []).some((a) => a.contact_point === state.me?.contact_point)) state.unseen.delete(chain);
    return;
  }
  if (!result.isNew) return;
  const alert = item.alert;
  if (alert.msgType === "Cancel") {
    announcer.say(marked(t("announce.cancelled", { headline })));
    state.unseen.delete(chain);
    return;
  }
  const hiddenExercise = item.exercise && state.filters.traffic === "real";
  const what = alert.msgType === "Update" ? t("announce.update") : item.kind === "escalation" ? t("announce.escalated") : t("announce.new");
  const severity = term("severity", info.severity);
  if (isAnnounced(info.severity) && item.state === "active" && !hiddenExercise) {
    state.unseen.add(chain);
    const areas = (info.area ?? []).map((a) => a.areaDesc).join("; ");
    announcer.say(
      marked(t("announce.urgent", { what, severity, urgency: term("urgency", info.urgency), event: info.event, headline, areas })),
      { urgent: true },
    );
    announcer.chime();
  } else if (!hiddenExercise) {
    announcer.say(marked(t("announce.plain", { what, severity, headline })));
  }
}

// ------------------------------------------------------------------ actions

function open(chain) {
  state.selected = chain;
  state.unseen.delete(chain);
  const url = new URL(window.location.href);
  url.hash = `alert=${encodeURIComponent(chain)}`;
  window.history.pushState(null, "", url);
  render();
  $("detail-heading")?.focus();
}

function close() {
  const chain = state.selected;
  state.selected = null;
  const url = new URL(window.location.href);
  url.hash = "";
  window.history.pushState(null, "", url.href.replace(/#$/, ""));
  render();
  const card = [...$("alert-list").children].find((el) => el.dataset.chain === chain);
  (card?.querySelector('[data-role="open"]') ?? $("alert-list")).focus();
}

function setLanguage(chain, language) {
  state.languageChoice.set(chain, language);
  delete $("detail").dataset.signature;
  render();
}

async function acknowledge(key, note) {
  const item = store.items.get(key);
  if (!item || state.acking.has(key)) return;
  if (!session.present) {
    state.pendingAck = { key, note, owner: state.owner };
    showLogin(() => `${t("session.signInAgainShort")} ${t("session.pendingAck")}`);
    return;
  }
  state.acking.add(key);
  state.ackErrors.delete(key);
  scheduleRender();
  const { sender, identifier } = item.key;
  try {
    const { data } = await session.request(
      `/v1/alerts/${encodeURIComponent(sender)}/${encodeURIComponent(identifier)}/acknowledgements`,
      { method: "POST", body: { note: note.trim() || null } },
    );
    store.acknowledge(key, data);
    state.noteDrafts.delete(key);
    state.unseen.delete(keyText(item.chain));
    announcer.say(t("announce.acknowledged", { headline: (worstInfo(item.alert.info ?? []) ?? {}).headline ?? identifier }));
    refreshReportSoon(key);
  } catch (error) {
    if (error.status === 401) {
      state.pendingAck = { key, note, owner: state.owner };
      sessionEnded(ended);
    } else {
      state.ackErrors.set(key, error);
    }
  } finally {
    state.acking.delete(key);
    scheduleRender();
  }
}

async function loadReport(key) {
  const item = store.items.get(key);
  if (!item) return;
  const held = state.reports.get(key) ?? { version: 0 };
  state.reports.set(key, { ...held, loading: true });
  const { sender, identifier } = item.key;
  let next;
  try {
    const { data } = await session.request(`/v1/alerts/${encodeURIComponent(sender)}/${encodeURIComponent(identifier)}/deliveries`);
    next = { data, error: null };
  } catch (error) {
    const words = {
      401: () => t("recipients.expired"),
      403: () => t("recipients.forbidden"),
      404: () => t("recipients.none"),
    };
    next = { data: held.data ?? null, error: words[error.status] ?? (() => t("recipients.loadFailed", { reason: why(error) })) };
    if (error.status === 401) sessionEnded(ended);
  }
  state.reports.set(key, { ...next, loading: false, version: (held.version ?? 0) + 1 });
  scheduleRender();
}

function refreshReportSoon(key) {
  clearTimeout(state.reportTimers.get(key));
  state.reportTimers.set(key, setTimeout(() => loadReport(key), 300));
}

// ------------------------------------------------------------------ filters and the URL

function readSelected(hash) {
  const match = /^#alert=(.+)$/.exec(hash);
  return match ? decodeURIComponent(match[1]) : null;
}

function option(value, label, selected) {
  return h("option", { value, selected: value === selected }, label);
}

function populateFilters() {
  const f = state.filters;
  const named = (code) => option(code, `${placeName(code)} (${code})`, f.region);
  replaceChildren($("filter-category"), option("", t("filters.allCategories"), f.category), CATEGORIES.map((c) => option(c, term("category", c), f.category)));
  replaceChildren(
    $("filter-severity"),
    option("", t("filters.allSeverities"), f.severity),
    SEVERITIES.filter((s) => s !== "Unknown").map((s) =>
      option(s, s === "Extreme" ? t("filters.extremeOnly") : t("filters.orWorse", { severity: term("severity", s) }), f.severity),
    ),
  );
  const regionGroups = COUNTRIES.map((country) =>
    h(
      "optgroup",
      { label: placeName(country) },
      option(country, t("filters.wholeCountry", { country: placeName(country) }), f.region),
      GROUPS.filter((code) => code.startsWith(country) && code !== country).map(named),
      REGIONS.filter((r) => r.country === country && !r.context).map((r) => named(r.code)),
    ),
  );
  replaceChildren($("filter-region"), option("", t("filters.allRegions"), f.region), regionGroups);
  replaceChildren($("filter-status"), Object.entries(STATUSES).map(([v, label]) => option(v, label(), f.status)));
  replaceChildren($("filter-traffic"), Object.entries(TRAFFIC).map(([v, label]) => option(v, label(), f.traffic)));
}

/** The exercise runs of the alerts held, to filter by; rebuilt only when they change. */
function renderRuns(views) {
  const runs = new Map();
  for (const view of views) {
    const exercise = view.exercise ? exerciseRunOf(view.head.alert) : null;
    if (exercise) runs.set(exercise.run, t("exercise.runNamed", exercise));
  }
  const chosen = state.filters.run;
  if (chosen && !runs.has(chosen)) runs.set(chosen, t("exercise.runOnly", { run: chosen }));
  renderReportButton();
  const select = $("filter-run");
  const signature = JSON.stringify([...runs, chosen, uiLanguage()]);
  if (select.dataset.signature === signature) return;
  select.dataset.signature = signature;
  replaceChildren(select, option("", t("filters.anyRun"), chosen), [...runs].map(([run, label]) => option(run, label, chosen)));
}

// ------------------------------------------------------------------ after-action reports

/** The runs whose after-action report was published for this officer's organisation. */
async function loadExerciseReports() {
  try {
    const { data } = await session.request("/v1/exercise-reports");
    state.exerciseReports = new Set((data ?? []).map((report) => report.run_id));
  } catch {
    state.exerciseReports = new Set();
  }
  renderReportButton();
}

function renderReportButton() {
  const run = state.filters.run;
  $("open-exercise-report").hidden = !(run && state.exerciseReports.has(run));
}

async function openExerciseReport() {
  const run = state.filters.run;
  state.openReport = { run };
  renderExerciseReportDialog();
  $("exercise-report-dialog").showModal();
  try {
    const { data } = await session.request(`/v1/exercise-reports/${encodeURIComponent(run)}`);
    state.openReport = { run, data };
  } catch (error) {
    state.openReport = { run, error };
  }
  renderExerciseReportDialog();
}

/** The report dialog from state.openReport: its title, the report, or why there is none. */
function renderExerciseReportDialog() {
  const report = state.openReport;
  if (!report) return;
  $("exercise-report-title").textContent = t("report.titleRun", { run: report.run });
  replaceChildren($("exercise-report-body"), report.data ? renderExerciseReport(report.data) : null);
  const message = $("exercise-report-message");
  message.hidden = !report.error;
  if (report.error) message.textContent = reportErrorText(report.error);
}

function reportErrorText(error) {
  const words = {
    401: () => t("report.expired"),
    403: () => t("report.forbidden"),
    404: () => t("report.none"),
  };
  return (words[error.status] ?? (() => t("report.loadFailed", { reason: why(error) })))();
}

/** The report's own page (inline charts, no script), saved as a file: it is opened outside
 * the console, whose security policy would not let its inline styles apply. */
async function downloadExerciseReport() {
  const run = state.filters.run;
  try {
    const { data } = await session.request(`/v1/exercise-reports/${encodeURIComponent(run)}?format=html`, { accept: "text/html" });
    const url = URL.createObjectURL(new Blob([data], { type: "text/html" }));
    const link = h("a", { href: url, download: t("report.fileName", { run }) });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (error) {
    state.openReport = { ...state.openReport, error };
    renderExerciseReportDialog();
  }
}

function setFilters(filters) {
  state.filters = filters;
  const url = new URL(window.location.href);
  url.search = writeFilters(filters, url.search);
  window.history.replaceState(null, "", url);
  populateFilters();
  render();
}

function populateLanguages() {
  replaceChildren(
    $("language-preference"),
    option("", t("tools.alertLanguageAutomatic"), state.languageOverride),
    ALERT_LANGUAGES.map((tag) => option(tag, nativeLanguageName(tag), state.languageOverride)),
  );
}

/** The interface-language selectors (top bar and sign-in), each language named in its own words. */
function populateUiLanguages() {
  for (const select of [$("ui-language"), $("login-ui-language")]) {
    replaceChildren(
      select,
      UI_LANGUAGES.map((tag) => h("option", { value: tag, lang: tag, selected: tag === uiLanguage() }, translate(tag, "language.ownName"))),
    );
    select.value = uiLanguage();
  }
}

// Everything on screen is said again in the new language; the feed, the store and what the
// officer was doing (the open alert, filters, drafts, focus) stay as they were.
function uiLanguageChanged() {
  for (const select of [$("ui-language"), $("login-ui-language")]) select.value = uiLanguage();
  populateFilters();
  populateLanguages();
  renderSound();
  renderConnection();
  renderSession();
  renderLoginMessage();
  renderExerciseReportDialog();
  if (!$("composer").hidden) composer.render();
  render();
}

// ------------------------------------------------------------------ keyboard and events

function moveFocus(step) {
  const buttons = [...$("alert-list").querySelectorAll('[data-role="open"]')];
  if (!buttons.length) return;
  const index = buttons.indexOf(document.activeElement?.closest('.card')?.querySelector('[data-role="open"]'));
  const next = index < 0 ? 0 : Math.min(buttons.length - 1, Math.max(0, index + step));
  buttons[next].focus();
}

function wire() {
  $("login-form").addEventListener("submit", submitLogin);
  $("login-dialog").addEventListener("cancel", (event) => event.preventDefault());
  $("logout").addEventListener("click", logout);
  $("open-composer").addEventListener("click", () => showComposer($("composer").hidden));
  $("session-renew").addEventListener("click", () => showLogin(() => t("session.newSession")));
  $("reconnect-now").addEventListener("click", () => state.feed?.reconnectNow());
  $("sound-toggle").addEventListener("click", () => {
    announcer.setSound(!announcer.soundOn);
    renderSound();
  });
  for (const select of [$("ui-language"), $("login-ui-language")]) {
    select.addEventListener("change", (event) => setUiLanguage(event.target.value));
  }
  onUiLanguageChange(uiLanguageChanged);
  $("language-preference").addEventListener("change", (event) => {
    state.languageOverride = event.target.value;
    window.localStorage.setItem(LANGUAGE_KEY, state.languageOverride);
    state.languageChoice.clear();
    delete $("detail").dataset.signature;
    render();
  });
  $("filters").addEventListener("change", (event) => {
    const { name, value } = event.target;
    if (name in DEFAULTS) setFilters({ ...state.filters, [name]: value });
    if (name === "run") loadExerciseReports();
  });
  $("open-exercise-report").addEventListener("click", openExerciseReport);
  $("exercise-report-close").addEventListener("click", () => $("exercise-report-dialog").close());
  $("exercise-report-dialog").addEventListener("close", () => {
    state.openReport = null;
  });
  $("exercise-report-download").addEventListener("click", downloadExerciseReport);
  $("filters").addEventListener("reset", (event) => {
    event.preventDefault();
    setFilters({ ...DEFAULTS });
  });
  $("exercise-toggle").addEventListener("click", () => {
    setFilters({ ...state.filters, traffic: state.filters.traffic === "all" ? "real" : "all" });
  });
  $("alert-list").addEventListener("keydown", (event) => {
    if (event.target.matches("input, textarea, select")) return;
    if (event.key === "ArrowDown" || event.key === "j") {
      event.preventDefault();
      moveFocus(1);
    } else if (event.key === "ArrowUp" || event.key === "k") {
      event.preventDefault();
      moveFocus(-1);
    }
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && state.selected && !$("login-dialog").open) {
      event.preventDefault();
      close();
    }
  });
  // Any click may be the gesture a browser wants before it plays the tone.
  document.addEventListener("pointerdown", () => announcer.unlock(), { passive: true });
  document.addEventListener("keydown", () => announcer.unlock(), { passive: true });
  window.addEventListener("popstate", () => {
    state.filters = readFilters(window.location.search);
    state.selected = readSelected(window.location.hash);
    populateFilters();
    render();
  });
  window.addEventListener("online", () => {
    renderConnection();
    state.feed?.reconnectNow();
  });
  window.addEventListener("offline", renderConnection);
  setInterval(() => {
    renderConnection();
    renderSession();
  }, 1000);
  setInterval(scheduleRender, 15000);
}

function renderSound() {
  const button = $("sound-toggle");
  button.setAttribute("aria-pressed", String(announcer.soundOn));
  button.textContent = announcer.soundOn ? t("sound.on") : t("sound.off");
  button.title = announcer.soundOn ? t("sound.onTitle") : t("sound.offTitle");
}

function boot() {
  session.onRenewed = renewed;
  translatePage();
  populateUiLanguages();
  populateFilters();
  populateLanguages();
  renderSound();
  renderConnection();
  wire();
  render();
  if (session.present) state.owner = `${session.claims.org}/${session.claims.contact_point}`;
  if (session.valid(5)) {
    startFeed();
    scheduleRenewal();
  } else if (session.renewable) {
    renewNow();
  } else {
    const expired = session.present;
    session.forget();
    showLogin(expired ? () => t("session.expiredSignIn") : null);
  }
  // For diagnosis in the browser's developer tools (and the browser tests).
  window.crossalertConsole = { store, state, announcer, session, composer };
}

boot();
