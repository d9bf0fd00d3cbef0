// What the console holds: the latest feed item per alert message, grouped by incident chain.
//
// A feed item carries the whole current view of one message, so applying one replaces what is
// held under its key; items older than the one held are ignored. That makes a replayed or
// repeated item harmless: nothing is ever shown twice.

import { isExpired, keyText } from "./cap.js";

const SUPERSEDED = new Set(["replaced"]);

export class AlertStore {
  constructor() {
    this.clear();
  }

  /** Forget everything (a Reset, or another officer signed in). */
  clear() {
    this.items = new Map();
    this.chains = new Map();
    this.closedBy = new Map();
    this.cursor = 0;
    this.synced = false;
  }

  /** The highest seq seen, to resume after; null before the first Synced. */
  resumeAfter() {
    return this.synced ? this.cursor : null;
  }

  /** Record a Synced: everything up to `cursor` has been sent. */
  markSynced(cursor) {
    this.cursor = Math.max(this.cursor, cursor);
    this.synced = true;
  }

  /**
   * Apply one feed item. Returns {changed, isNew, previous}: `isNew` when the message was not
   * held before, `changed` when the view changed at all.
   */
  apply(item) {
    const key = keyText(item.key);
    const previous = this.items.get(key) ?? null;
    this.cursor = Math.max(this.cursor, item.seq);
    if (previous && previous.seq >= item.seq) return { changed: false, isNew: false, previous };
    this.items.set(key, item);
    const chain = keyText(item.chain);
    if (!this.chains.has(chain)) this.chains.set(chain, new Set());
    this.chains.get(chain).add(key);
    for (const replaced of item.replaces ?? []) this.closedBy.set(keyText(replaced), "replaced");
    for (const closed of item.closes ?? []) this.closedBy.set(keyText(closed), "cancelled");
    return { changed: true, isNew: previous === null, previous };
  }

  /** Merge an acknowledgement this console made, before the feed item confirming it arrives. */
  acknowledge(key, acknowledgement) {
    const item = this.items.get(key);
    if (!item) return;
    const others = (item.acknowledgements ?? []).filter(
      (ack) => ack.contact_point !== acknowledgement.contact_point,
    );
    this.items.set(key, { ...item, acknowledgements: [...others, acknowledgement] });
  }

  /** The state of one message, counting Updates and Cancels that arrived for it. */
  stateOf(key) {
    const item = this.items.get(key);
    if (!item) return null;
    if (item.state === "active" && this.closedBy.has(key)) return this.closedBy.get(key);
    return item.state;
  }

  /** One view per incident chain: its current message (head), every message, its state. */
  views(now = new Date()) {
    const views = [];
    for (const [chain, keys] of this.chains) {
      const messages = [...keys].map((key) => this.items.get(key)).sort(bySent);
      const superseding = new Set(
        messages.flatMap((m) => [...(m.replaces ?? []), ...(m.closes ?? [])].map(keyText)),
      );
      const current = messages.filter(
        (m) => !superseding.has(keyText(m.key)) && !SUPERSEDED.has(this.stateOf(keyText(m.key))),
      );
      const head = (current.length ? current : messages).at(-1);
      const headKey = keyText(head.key);
      let state = this.stateOf(headKey);
      if (state === "active" && isExpired(head.alert, now)) state = "expired";
      views.push({ chain, key: headKey, head, messages, state, exercise: head.exercise });
    }
    return views.sort((a, b) => bySent(b.head, a.head));
  }

  /** The view of one chain, or null. */
  view(chain, now = new Date()) {
    return this.views(now).find((v) => v.chain === chain) ?? null;
  }

  /** The chain a message belongs to. */
  chainOf(key) {
    const item = this.items.get(key);
    return item ? keyText(item.chain) : null;
  }
}

function bySent(a, b) {
  return Date.parse(a.alert.sent) - Date.parse(b.alert.sent) || a.seq - b.seq;
}
