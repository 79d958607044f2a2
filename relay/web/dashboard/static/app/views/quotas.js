// The tenant's quotas and what it uses of them (GET /v1/tenant), set by the admin.

import { h, replace, table } from "../dom.js";

const QUOTAS = [
  ["Sessions", "sessions", "max_sessions"],
  ["Messages today (UTC)", "messages_today", "max_messages_per_day"],
  ["Webhook endpoints", "webhooks", "max_webhooks"],
];

export function quotaCard(context) {
  const body = h("div", {}, h("p", { class: "loading" }, "Loading…"));
  const refresh = () =>
    context.act(null, async () => {
      const tenant = await context.api.get("/v1/tenant");
      replace(
        body,
        table(
          "Quotas and usage",
          ["Quota", "Used", "Limit"],
          QUOTAS.map(([label, used, limit]) =>
            h(
              "tr",
              { dataset: { quota: limit } },
              h("th", { scope: "row" }, label),
              h("td", {}, String(tenant.usage[used])),
              h("td", {}, tenant[limit] === null ? "unlimited" : String(tenant[limit])),
            ),
          ),
        ),
      );
    });
  refresh();
  const element = h(
    "section",
    { class: "card", "aria-labelledby": "quotas-title" },
    h("h2", { id: "quotas-title" }, "Quotas"),
    body,
  );
  return { element, refresh };
}
