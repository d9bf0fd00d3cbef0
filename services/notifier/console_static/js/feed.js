// The live feed (schemas/console.py): Hello with the token and the last seq seen, then
// Welcome, items, Synced, live items; Renew with each new token. Reconnects by itself with
// exponential back-off and resumes where it stopped, so an outage of the notifier costs nothing
// but time.

// The notifier's close codes (schemas.console.CloseCode; a test keeps the two the same).
export const CLOSE = Object.freeze({
  BAD_MESSAGE: 4400,
  UNAUTHORIZED: 4401,
  FORBIDDEN: 4403,
  TOO_SLOW: 4408,
  TOO_MANY: 4429,
  TOO_BIG: 1009,
  GOING_AWAY: 1001,
});

const FIRST_DELAY_MS = 1000;
const MAX_DELAY_MS = 30000;
const HANDSHAKE_TIMEOUT_MS = 10000;
/** The notifier sends a heartbeat after 10 s of quiet (schemas.console.HEARTBEAT_SECONDS). */
export const HEARTBEAT_MS = 10000;
/** Silence after which a connection counts as stale, and after which it is given up. */
export const STALE_SILENCE_MS = 2 * HEARTBEAT_MS;
const DEAD_SILENCE_MS = 3 * HEARTBEAT_MS;

/** The wait before reconnect attempt `attempt` (0-based): doubling, capped, with jitter. */
export function backoffDelay(attempt, random = Math.random) {
  const base = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** attempt);
  return Math.round(base * (0.8 + 0.4 * random()));
}

export function feedUrl(location = window.location) {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/feed`;
}

/**
 * One officer's connection to the feed.
 * `handlers`: onMessage(message, {resumed}), onStatus({state, attempt, retryAt, code, reason}),
 * and onRefused({code, reason}) when the notifier will not take this token (4401/4403).
 */
export class Feed {
  constructor({ url = feedUrl(), token, resumeAfter, handlers }) {
    this.url = url;
    this.token = token;
    this.resumeAfter = resumeAfter;
    this.handlers = handlers;
    this.attempt = 0;
    this.socket = null;
    this.timer = null;
    this.stopped = true;
    this.state = "idle";
    this.lastMessageAt = null;
    this.watchdog = null;
  }

  start() {
    this.stopped = false;
    // A connection that died without a close (a cut cable, a sleeping laptop) shows only as
    // silence: no heartbeat for three periods means it is gone.
    this.watchdog = setInterval(() => {
      if (this.socket && this.silence() > DEAD_SILENCE_MS) this.abandon();
    }, 1000);
    this.connect();
  }

  /** Milliseconds since the notifier last sent anything on a welcomed connection (0 if none). */
  silence(now = Date.now()) {
    if (!this.socket || this.lastMessageAt === null) return 0;
    return now - this.lastMessageAt;
  }

  /** Close for good (sign-out, or refused). */
  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.watchdog);
    if (this.socket) {
      const socket = this.socket;
      this.socket = null;
      socket.close(1000, "console closed");
    }
    this.setState("idle");
  }

  /** Drop any wait and connect at once (the officer asked, or the network came back). */
  reconnectNow() {
    if (this.stopped) return;
    if (this.socket && (this.state === "syncing" || this.state === "live")) return;
    clearTimeout(this.timer);
    if (this.socket) this.abandon();
    this.connect();
  }

  /**
   * The token was just renewed: hand it to the open feed, which then lasts as long as the new
   * token; without an open feed, reconnect at once with it, resuming where the feed is.
   */
  renewed() {
    if (this.stopped) return;
    const open = this.socket?.readyState === WebSocket.OPEN;
    if (open && (this.state === "syncing" || this.state === "live")) {
      this.socket.send(JSON.stringify({ type: "renew", token: this.token() }));
      return;
    }
    clearTimeout(this.timer);
    const old = this.socket;
    this.socket = null;
    old?.close(1000, "token renewed");
    this.attempt = 0;
    this.connect();
  }

  setState(state, extra = {}) {
    this.state = state;
    this.handlers.onStatus?.({ state, attempt: this.attempt, ...extra });
  }

  connect() {
    clearTimeout(this.timer);
    const resumeAfter = this.resumeAfter();
    const socket = new WebSocket(this.url);
    this.socket = socket;
    this.lastMessageAt = null;
    this.setState("connecting");
    let welcomed = false;
    this.timer = setTimeout(() => {
      if (this.socket === socket && !welcomed) this.abandon();
    }, HANDSHAKE_TIMEOUT_MS);

    socket.addEventListener("open", () => {
      if (this.socket !== socket) return;
      const hello = { type: "hello", token: this.token() };
      if (resumeAfter !== null) hello.resume_after = resumeAfter;
      socket.send(JSON.stringify(hello));
    });
    socket.addEventListener("message", (event) => {
      if (this.socket !== socket) return;
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      this.lastMessageAt = Date.now();
      if (message.type === "welcome") {
        welcomed = true;
        clearTimeout(this.timer);
        this.setState("syncing", { welcome: message });
      }
      this.handlers.onMessage(message, { resumed: resumeAfter !== null });
      if (message.type === "synced") {
        this.attempt = 0;
        this.setState("live");
      }
    });
    socket.addEventListener("close", (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      clearTimeout(this.timer);
      this.closed(event.code, event.reason);
    });
  }

  abandon() {
    // A socket that never answered: forget it and treat it as closed abnormally.
    const socket = this.socket;
    this.socket = null;
    this.lastMessageAt = null;
    try {
      socket?.close(4000, "no answer");
    } catch {
      // already closing
    }
    this.closed(1006, "no answer");
  }

  closed(code, reason) {
    if (this.stopped) return;
    if (code === CLOSE.UNAUTHORIZED || code === CLOSE.FORBIDDEN) {
      this.stopped = true;
      clearInterval(this.watchdog);
      this.setState("refused", { code, reason });
      this.handlers.onRefused?.({ code, reason });
      return;
    }
    // Going away and too-slow are orderly: the first retry comes quickly.
    const quick = code === CLOSE.GOING_AWAY || code === CLOSE.TOO_SLOW;
    const delay = quick && this.attempt === 0 ? 250 : backoffDelay(this.attempt);
    this.attempt += 1;
    const retryAt = Date.now() + delay;
    this.setState("waiting", { code, reason, retryAt });
    this.timer = setTimeout(() => this.connect(), delay);
  }
}
