// The officer's session, kept in this tab's sessionStorage only: a short access token and the
// shift's refresh token, which buys the next access token once (POST /v1/refresh) until the
// session ends (after the shift, at sign-out, or when the officer is disabled).
// The registry's device token for each officer who signed in on this browser is kept in
// localStorage: sent with the next sign-in, it keeps that officer's sign-in open while someone
// else's wrong guesses slow the account down elsewhere.

import { t } from "./i18n.js";

const KEYS = {
  token: "crossalert.console.token",
  refresh: "crossalert.console.refresh",
  endsAt: "crossalert.console.sessionEndsAt",
  lastUser: "crossalert.console.lastUser",
  devices: "crossalert.console.devices",
};

function devices(store) {
  try {
    return JSON.parse(store.getItem(KEYS.devices) ?? "{}") ?? {};
  } catch {
    return {};
  }
}

/** The claims of a JWT (its payload, base64url JSON); null if it is not one. */
export function decodeClaims(token) {
  try {
    const payload = token.split(".")[1];
    const base64 = payload.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(payload.length / 4) * 4, "=");
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return null;
  }
}

/**
 * Raised when the notifier or the registry refuses; `status` is the HTTP status (0: no answer).
 * `words` says why: a function giving the console's own sentence (read again in the interface
 * language each time it is shown), or the server's sentence as it was sent.
 */
export class ApiError extends Error {
  constructor(status, words, body = null) {
    super(typeof words === "function" ? words() : words);
    this.status = status;
    this.body = body;
    this.words = typeof words === "function" ? words : null;
  }

  /** Why, in the current interface language where the console wrote it. */
  get text() {
    return this.words ? this.words() : this.message;
  }
}

async function post(path, body) {
  let response;
  try {
    response = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, () => t("error.unreachableRetry"));
  }
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  return { response, data };
}

export class Session {
  constructor(storage = window.sessionStorage, lasting = window.localStorage) {
    this.storage = storage;
    this.lasting = lasting;
    this.token = storage.getItem(KEYS.token);
    this.claims = this.token ? decodeClaims(this.token) : null;
    this.refreshToken = storage.getItem(KEYS.refresh);
    this.endsAt = Number(storage.getItem(KEYS.endsAt)) || null;
    this.renewing = null;
    this.onRenewed = () => {};
  }

  /** Whether a token is held (it may have expired). */
  get present() {
    return Boolean(this.token && this.claims);
  }

  /** Seconds until the access token expires (negative once it has). */
  secondsLeft(now = Date.now()) {
    return this.claims?.exp ? this.claims.exp - now / 1000 : -Infinity;
  }

  /** Whether the access token is still valid for at least `margin` seconds. */
  valid(margin = 0) {
    return this.present && this.secondsLeft() > margin;
  }

  /** Whether the session can still buy access tokens. */
  get renewable() {
    return Boolean(this.refreshToken) && (this.endsAt === null || this.endsAt > Date.now());
  }

  /** The user name of the last officer who signed in in this tab. */
  get lastUser() {
    return this.storage.getItem(KEYS.lastUser);
  }

  keep(body) {
    const claims = decodeClaims(body.access_token ?? "");
    if (!claims) throw new ApiError(502, () => t("error.badToken"));
    this.token = body.access_token;
    this.claims = claims;
    this.storage.setItem(KEYS.token, this.token);
    this.storage.setItem(KEYS.lastUser, claims.sub);
    if (body.refresh_token) {
      this.refreshToken = body.refresh_token;
      this.storage.setItem(KEYS.refresh, this.refreshToken);
    }
    if (body.refresh_expires_in) {
      this.endsAt = Date.now() + body.refresh_expires_in * 1000;
      this.storage.setItem(KEYS.endsAt, String(this.endsAt));
    }
    return claims;
  }

  /** Sign in through the notifier (which asks the registry); start the shift's session. */
  async login(username, password) {
    const previous = this.refreshToken;
    const device = devices(this.lasting)[username];
    const { response, data } = await post("/v1/login", device ? { username, password, device_token: device } : { username, password });
    if (response.status === 401 || response.status === 400) {
      throw new ApiError(response.status, () => t("login.wrong"), data);
    }
    if (!response.ok || !data?.access_token) {
      throw new ApiError(response.status, data?.detail ?? (() => t("login.failed", { status: String(response.status) })), data);
    }
    this.refreshToken = null;
    this.endsAt = null;
    this.storage.removeItem(KEYS.refresh);
    this.storage.removeItem(KEYS.endsAt);
    const claims = this.keep(data);
    if (data.device_token) this.lasting.setItem(KEYS.devices, JSON.stringify({ ...devices(this.lasting), [username]: data.device_token }));
    if (previous && previous !== this.refreshToken) post("/v1/logout", { refresh_token: previous }).catch(() => {});
    return claims;
  }

  /**
   * Trade the refresh token for the next access token. One renewal at a time: each refresh
   * token works once, so a second concurrent use would end the session.
   */
  renew() {
    this.renewing ??= this.renewOnce().finally(() => {
      this.renewing = null;
    });
    return this.renewing;
  }

  async renewOnce() {
    if (!this.renewable) throw new ApiError(401, () => t("session.endedShort"));
    const { response, data } = await post("/v1/refresh", { refresh_token: this.refreshToken });
    if (response.status === 401 || response.status === 400) {
      this.refreshToken = null;
      this.storage.removeItem(KEYS.refresh);
      throw new ApiError(401, () => t("session.endedRefresh"), data);
    }
    if (!response.ok || !data?.access_token) {
      throw new ApiError(response.status, data?.detail ?? (() => t("session.renewHttp", { status: String(response.status) })), data);
    }
    const claims = this.keep(data);
    this.onRenewed();
    return claims;
  }

  /** Forget the tokens (the notifier refused them, or sign-out). */
  forget() {
    this.token = null;
    this.claims = null;
    this.refreshToken = null;
    this.endsAt = null;
    for (const key of [KEYS.token, KEYS.refresh, KEYS.endsAt]) this.storage.removeItem(key);
  }

  /** Sign out: end the session at the registry (best effort) and forget the tokens. */
  async logout() {
    const refreshToken = this.refreshToken;
    this.forget();
    if (refreshToken) await post("/v1/logout", { refresh_token: refreshToken }).catch(() => {});
  }

  /** JSON (or, with `accept`, the text) from the notifier's API with the bearer token,
   * renewing it once on 401. */
  async request(path, { method = "GET", body, accept = "application/json" } = {}) {
    const call = async () => {
      try {
        return await fetch(path, {
          method,
          headers: {
            Accept: accept,
            Authorization: `Bearer ${this.token ?? ""}`,
            ...(body === undefined ? {} : { "Content-Type": "application/json" }),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
          credentials: "same-origin",
          cache: "no-store",
        });
      } catch {
        throw new ApiError(0, () => t("error.unreachable"));
      }
    };
    let response = await call();
    if (response.status === 401 && this.renewable) {
      await this.renew();
      response = await call();
    }
    const text = await response.text().catch(() => "");
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!response.ok) throw new ApiError(response.status, data?.detail ?? (() => t("error.http", { status: String(response.status) })), data);
    return { status: response.status, data: accept === "application/json" ? data : text };
  }
}
