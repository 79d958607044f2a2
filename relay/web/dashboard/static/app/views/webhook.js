// One webhook endpoint: enable or disable, rotate its secret (shown once), send a
// test, replay since a time, and its deliveries with their attempt logs.

import { backLink, badge, button, field, h, input, replace, select, shownOnce, table, time } from "../dom.js";
import { pager } from "../pager.js";

function attemptLog(delivery) {
  return table(
    `Attempts of ${delivery.id}`,
    ["At", "Trigger", "Status", "Latency", "Error", "Response"],
    delivery.attempt_log.map((attempt) =>
      h(
        "tr",
        {},
        h("td", {}, time(attempt.at)),
        h("td", {}, attempt.trigger),
        h("td", {}, attempt.status_code ?? "—"),
        h("td", {}, `${attempt.duration_ms} ms`),
        h("td", {}, attempt.error || ""),
        h("td", {}, h("code", {}, attempt.response_excerpt || "")),
      ),
    ),
    "No attempt yet.",
  );
}

// Deliveries whose attempt log is unfolded stay so when the list is drawn again.
function deliveryItem(context, delivery, unfolded, onChanged) {
  const retry = button(
    "Retry now",
    (click) =>
      context.act(click.currentTarget, async () => onChanged(await context.api.post(`/v1/deliveries/${delivery.id}/retry`))),
    { "aria-label": `Retry delivery ${delivery.id}` },
  );
  return h(
    "li",
    { class: "delivery", dataset: { deliveryId: delivery.id, status: delivery.status } },
    h(
      "details",
      {
        open: unfolded.has(delivery.id),
        ontoggle: (toggle) => {
          if (toggle.currentTarget.open) unfolded.add(delivery.id);
          else unfolded.delete(delivery.id);
        },
      },
      h(
        "summary",
        {},
        badge(delivery.status),
        ` ${delivery.attempts} attempt${delivery.attempts === 1 ? "" : "s"}`,
        delivery.last_status_code ? `, last HTTP ${delivery.last_status_code}` : "",
        " · event ",
        h("code", {}, delivery.event_id),
        " · ",
        time(delivery.created_at),
      ),
      delivery.next_attempt_at ? h("p", {}, "Next attempt: ", time(delivery.next_attempt_at)) : null,
      attemptLog(delivery),
      retry,
    ),
  );
}

export async function render(context, webhookId) {
  const { api } = context;
  let endpoint = await api.get(`/v1/webhooks/${webhookId}`);
  const info = h("div", {});
  const secret = h("div", {});
  const deliveries = h("ol", { class: "deliveries" });
  const status = select("status", [["", "any status"], ...context.deliveryStatuses.map((value) => [value, value])], "");
  let shown = [];
  const unfolded = new Set();
  const drawInfo = () =>
    replace(
      info,
      h(
        "dl",
        { class: "details" },
        h("dt", {}, "URL"),
        h("dd", {}, endpoint.url),
        h("dt", {}, "State"),
        h("dd", {}, badge(endpoint.enabled ? "enabled" : "disabled"), endpoint.disabled_reason ? ` ${endpoint.disabled_reason}` : ""),
        h("dt", {}, "Events"),
        h("dd", {}, endpoint.events.join(", ")),
        h("dt", {}, "Sessions"),
        h("dd", {}, endpoint.session_ids ? endpoint.session_ids.join(", ") : "all"),
        h("dt", {}, "Description"),
        h("dd", {}, endpoint.description || "—"),
      ),
    );
  const drawDeliveries = () => {
    if (!shown.length) {
      replace(deliveries, h("li", { class: "empty" }, "No deliveries yet."));
      return;
    }
    replace(
      deliveries,
      shown.map((delivery) =>
        deliveryItem(context, delivery, unfolded, (changed) => {
          shown = shown.map((item) => (item.id === changed.id ? changed : item));
          drawDeliveries();
        }),
      ),
    );
  };
  const deliveryPages = pager(
    context,
    (cursor, limit) =>
      api.get(`/v1/webhooks/${webhookId}/deliveries`, { status: status.value, limit, cursor }),
    (items) => {
      shown = items;
      drawDeliveries();
    },
  );
  const more = deliveryPages.more;
  const load = () => deliveryPages.reload();
  drawInfo();
  await load();
  status.addEventListener("change", () => context.act(status, load));

  const toggle = button(endpoint.enabled ? "Disable" : "Enable", (click) =>
    context.act(click.currentTarget, async () => {
      endpoint = await api.patch(`/v1/webhooks/${webhookId}`, { enabled: !endpoint.enabled });
      toggle.textContent = endpoint.enabled ? "Disable" : "Enable";
      drawInfo();
    }),
  );
  const rotate = button("Rotate secret", (click) =>
    context.act(click.currentTarget, async () => {
      const rotated = await api.post(`/v1/webhooks/${webhookId}/rotate-secret`, {});
      replace(secret, shownOnce("New signing secret (the old one keeps signing for a day)", rotated.secret));
    }),
  );
  const test = button("Send test", (click) =>
    context.act(click.currentTarget, async () => {
      await api.post(`/v1/webhooks/${webhookId}/test`);
      await load();
    }),
  );
  const refresh = button("Refresh deliveries", (click) => context.act(click.currentTarget, () => load()));
  const remove = button(
    "Delete",
    (click) => {
      if (!window.confirm(`Delete the endpoint ${endpoint.url}?`)) return;
      context.act(click.currentTarget, async () => {
        await api.delete(`/v1/webhooks/${webhookId}`);
        context.go("#/webhooks");
      });
    },
    { class: "danger" },
  );

  const since = input("since", { type: "datetime-local", required: true, step: "1" });
  const replayResult = h("p", { role: "status" });
  const replayForm = h(
    "form",
    { class: "inline-form" },
    field("Replay every matching event since (your local time)", since),
    h("button", { type: "submit" }, "Replay"),
    replayResult,
  );
  replayForm.addEventListener("submit", (submit) => {
    submit.preventDefault();
    context.act(replayForm.querySelector("button"), async () => {
      const answer = await api.post(`/v1/webhooks/${webhookId}/replay`, { since: new Date(since.value).toISOString() });
      replayResult.textContent = `${answer.replayed} event${answer.replayed === 1 ? "" : "s"} queued again.`;
      await load();
    });
  });

  return h(
    "section",
    {},
    backLink("#/webhooks", "webhooks"),
    h("h1", {}, "Webhook endpoint"),
    info,
    h("div", { class: "actions", role: "group", "aria-label": "Endpoint actions" }, toggle, rotate, test, remove),
    secret,
    h("section", { class: "card", "aria-labelledby": "replay-title" }, h("h2", { id: "replay-title" }, "Replay"), replayForm),
    h(
      "section",
      { class: "card", "aria-labelledby": "deliveries-title" },
      h("h2", { id: "deliveries-title" }, "Deliveries"),
      h("div", { class: "inline-form" }, field("Show", status), refresh),
      deliveries,
      more,
    ),
  );
}
