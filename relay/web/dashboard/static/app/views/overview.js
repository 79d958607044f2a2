// The tenant's overview: counts read from the REST API, kept live by the feed.

import { badge, h, replace } from "../dom.js";
import { quotaCard } from "./quotas.js";

function countBy(items, key) {
  const counts = new Map();
  for (const item of items) counts.set(item[key], (counts.get(item[key]) || 0) + 1);
  return counts;
}

function tile(label, value, href) {
  const content = [h("span", { class: "tile-value" }, String(value)), h("span", { class: "tile-label" }, label)];
  return h("li", { class: "tile" }, href ? h("a", { href }, content) : content);
}

export async function render(context) {
  const { api } = context;
  const [sessionList, endpointList] = await Promise.all([api.all("/v1/sessions"), api.all("/v1/webhooks")]);
  const pending = await Promise.all(
    endpointList.map((endpoint) =>
      api.get(`/v1/webhooks/${endpoint.id}/deliveries`, { status: "pending", limit: 1000 }),
    ),
  );
  const pendingCount = pending.reduce((sum, page) => sum + page.data.length, 0);
  const byStatus = countBy(sessionList, "status");
  const statusList = h("ul", { class: "status-counts" });
  const drawStatuses = () =>
    replace(
      statusList,
      [...byStatus.entries()].map(([status, count]) => h("li", {}, badge(status), ` ${count}`)),
    );
  drawStatuses();

  const statusOf = new Map(sessionList.map((session) => [session.id, session.status]));
  context.onLeave(
    context.feed.listen((event) => {
      if (event.type !== "session.status" || !statusOf.has(event.session_id)) return;
      const before = statusOf.get(event.session_id);
      byStatus.set(before, (byStatus.get(before) || 1) - 1);
      if (!byStatus.get(before)) byStatus.delete(before);
      byStatus.set(event.data.status, (byStatus.get(event.data.status) || 0) + 1);
      statusOf.set(event.session_id, event.data.status);
      drawStatuses();
    }),
  );

  return h(
    "section",
    {},
    h("h1", {}, "Overview"),
    h(
      "ul",
      { class: "tiles" },
      tile("sessions", sessionList.length, "#/sessions"),
      tile("connected", sessionList.filter((session) => session.status === "connected").length, "#/sessions"),
      tile("webhook endpoints", endpointList.length, "#/webhooks"),
      tile("disabled endpoints", endpointList.filter((endpoint) => !endpoint.enabled).length, "#/webhooks"),
      tile("deliveries pending", pendingCount, "#/webhooks"),
    ),
    h("h2", {}, "Sessions by status"),
    sessionList.length ? statusList : h("p", { class: "empty" }, "No sessions yet."),
    quotaCard(context).element,
  );
}
