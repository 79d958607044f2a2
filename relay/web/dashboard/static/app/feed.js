// The live WebSocket feed (/v1/ws, docs/websocket-feed.md): one socket for the
// whole dashboard, subscribed to every session. After a drop it reconnects with
// `since` set to the last event it saw, so the views miss nothing.

const CLOSED_FOR_GOOD = new Map([
  [4401, "Your sign-in expired"],
  [4410, "Your API key was revoked"],
]);
const MAX_BACKOFF_SECONDS = 30;

export class Feed {
  constructor(token, { onState, onEnded }) {
    this.token = token;
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
      if (this.lastEventId) subscribe.since = this.lastEventId;
      socket.send(JSON.stringify(subscribe));
    } else if (frame.type === "subscribed") {
      this.failures = 0;
      this.onState("live");
    } else if (frame.type === "event") {
      this.lastEventId = frame.event.id;
      for (const listener of this.listeners) listener(frame.event);
    } else if (frame.type === "error") {
      this.onState("error", frame.error);
    }
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
