// The tenant's overview: the counts of GET /v1/stats (one request), read again when the feed
// says a session's status changed or a message went out.

import { badge, h, replace } from "../dom.js";
import { quotaCard } from "./quotas.js";

// Events that change a count here; a burst of them is one refetch a second at most.
const COUNTED_EVENTS = new Set(["session.status", "message.sent", "message.failed"]);
const REFRESH_DELAY_MS = 1000;

function tileOf(label, value, href, name) {
  const content = [h("span", { class: "tile-value" }, String(value)), h("span", { class: "tile-label" }, label)];
  return h("li", { class: "tile", dataset: { tile: name } }, href ? h("a", { href }, content) : content);
}

export function ageText(seconds) {
  if (!seconds) return "none";
  if (seconds < 1) return "under 1 s";
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} days`;
}

// The counts of one GET /v1/stats; `linked`: each tile opens the tenant's screen it counts.
export function statsView(stats, { linked = true } = {}) {
  const counts = Object.entries(stats.sessions);
  const total = counts.reduce((sum, [, count]) => sum + count, 0);
  const { webhooks } = stats;
  const tile = (label, value, href, name) => tileOf(label, value, linked ? href : null, name);
  return [
    h(
      "ul",
      { class: "tiles" },
      tile("sessions", total, "#/sessions", "sessions"),
      tile("connected", stats.sessions.connected ?? 0, "#/sessions", "connected"),
      tile("messages sent today (UTC)", stats.messages_sent_today, null, "messages_sent_today"),
      tile("webhook endpoints", webhooks.endpoints, "#/webhooks", "endpoints"),
      tile("deliveries pending", webhooks.deliveries_pending, "#/webhooks", "deliveries_pending"),
      tile("oldest pending delivery", ageText(webhooks.oldest_pending_seconds), "#/webhooks", "oldest_pending"),
    ),
    h("h2", {}, "Sessions by status"),
    total
      ? h(
          "ul",
          { class: "status-counts" },
          counts.map(([status, count]) => h("li", { dataset: { status } }, badge(status), ` ${count}`)),
        )
      : h("p", { class: "empty" }, "No sessions yet."),
  ];
}

export async function render(context) {
  const { api } = context;
  const counts = h("div", {}, statsView(await api.get("/v1/stats")));
  let timer = null;
  const refresh = () => {
    timer = null;
    context.act(null, async () => replace(counts, statsView(await api.get("/v1/stats"))));
  };
  context.onLeave(() => window.clearTimeout(timer));
  context.onLeave(
    context.feed.listen((event) => {
      if (COUNTED_EVENTS.has(event.type) && timer === null) timer = window.setTimeout(refresh, REFRESH_DELAY_MS);
    }),
  );

  return h("section", {}, h("h1", {}, "Overview"), counts, quotaCard(context).element);
}
