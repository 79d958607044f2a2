// The live WebSocket feed (/v1/ws, docs/websocket-feed.md): one socket for the
// whole dashboard, subscribed to every session. After a drop it reconnects with
// `since` set to the last event it saw, so the views miss nothing.

const CLOSED_FOR_GOOD = new Map([
  [4401, "Your sign-in expired"],
  [4410, "Your API key was revoked"],
]);
const MAX_BACKOFF_SECONDS = 30;
// Events that may have been sent live just before a drop are replayed again: remember this many ids.
const REMEMBERED_IDS = 2000;
// A first resume with no event seen yet starts this long before the feed went live (clock skew).
const RESUME_MARGIN_MS = 2000;
const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

// An event id for a moment (a ULID with zero randomness): the server resumes after every event
// of the tenant minted before it (SPEC "Events": an id that is not an event stands for its moment).
export function eventIdAt(milliseconds) {
  let time = Math.max(0, Math.floor(milliseconds));
  let encoded = "";
  for (let index = 0; index < 10; index += 1) {
    encoded = CROCKFORD[time % 32] + encoded;
    time = Math.floor(time / 32);
  }
  return `evt_${encoded}${"0".repeat(16)}`;
}

export class Feed {
  // serverOffset: the server's clock minus this browser's, in milliseconds (from a Date header).
  constructor(token, { onState, onEnded, serverOffset = 0 }) {
    this.token = token;
    this.serverOffset = serverOffset;
    this.liveSince = null;
    this.seen = new Set();
    this.onState = onState;
    this.onEnded = onEnded;
    this.listeners = new Set();
    this.lastEventId = null;
    this.failures = 0;
    this.stopped = false;
    this.socket = null;
    this.retryTimer = null;
  }

  // fn(event) for every event envelope; returns the function that stops listening.
  listen(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  start() {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    const url = `${scheme}//${window.location.host}/v1/ws?token=${encodeURIComponent(this.token)}`;
    this.onState("connecting");
    const socket = new WebSocket(url);
    this.socket = socket;
    socket.addEventListener("message", (message) => this.receive(socket, message));
    socket.addEventListener("close", (close) => this.closed(close));
  }

  receive(socket, message) {
    let frame;
    try {
      frame = JSON.parse(message.data);
    } catch {
      return;
    }
    if (frame.type === "ready") {
      const subscribe = { type: "subscribe", session_id: "*" };
      // The first subscription goes live from now; every later one resumes where the page was.
      if (this.lastEventId) subscribe.since = this.lastEventId;
      else if (this.liveSince !== null) subscribe.since = eventIdAt(this.liveSince - RESUME_MARGIN_MS);
      socket.send(JSON.stringify(subscribe));
    } else if (frame.type === "subscribed") {
      this.failures = 0;
      if (this.liveSince === null) this.liveSince = Date.now() + this.serverOffset;
      this.onState("live");
    } else if (frame.type === "event") {
      const event = frame.event;
      if (this.seen.has(event.id)) return;
      this.remember(event.id);
      this.lastEventId = event.id;
      for (const listener of this.listeners) listener(event);
    } else if (frame.type === "error") {
      this.onState("error", frame.error);
    }
  }

  remember(id) {
    this.seen.add(id);
    if (this.seen.size > REMEMBERED_IDS) this.seen.delete(this.seen.values().next().value);
  }

  closed(close) {
    if (this.stopped) return;
    const final = CLOSED_FOR_GOOD.get(close.code);
    if (final) {
      this.onState("closed", final);
      this.onEnded(final);
      return;
    }
    this.failures += 1;
    const seconds = Math.min(MAX_BACKOFF_SECONDS, 2 ** Math.min(this.failures, 5));
    this.onState("reconnecting", `${close.reason || "connection lost"}; retrying in ${seconds} s`);
    this.retryTimer = window.setTimeout(() => this.start(), seconds * 1000);
  }

  stop() {
    this.stopped = true;
    window.clearTimeout(this.retryTimer);
    this.listeners.clear();
    if (this.socket) this.socket.close(1000, "signed out");
  }
}
