// A session's message history: outbound (with their status) from the messages API,
// inbound from the event ledger (message.received); both paged.

import { badge, h, replace, table, time } from "../dom.js";
import { pager } from "../pager.js";

export function messageHistory(context, sessionId) {
  const outboundList = h("div", {});
  const inboundList = h("div", {});
  const outbound = pager(
    context,
    (cursor, limit) => context.api.get(`/v1/sessions/${sessionId}/messages`, { limit, cursor }),
    (items) =>
      replace(
        outboundList,
        table(
          "Outbound messages",
          ["Created", "To", "Type", "Status", "WhatsApp id", "Error"],
          items.map((message) =>
            h(
              "tr",
              { dataset: { messageId: message.id } },
              h("td", {}, time(message.created_at)),
              h("td", {}, message.to),
              h("td", {}, message.type),
              h("td", {}, badge(message.status)),
              h("td", {}, h("code", {}, message.whatsapp_id || "—")),
              h("td", {}, message.error || ""),
            ),
          ),
          "No messages sent yet.",
        ),
      ),
  );
  const inbound = pager(
    context,
    (cursor, limit) =>
      context.api.get("/v1/events", { session_id: sessionId, type: "message.received", limit, cursor }),
    (items) =>
      replace(
        inboundList,
        table(
          "Inbound messages",
          ["Received", "From", "Type", "Text"],
          items.map((event) =>
            h(
              "tr",
              {},
              h("td", {}, time(event.created_at)),
              h("td", {}, event.data.push_name ? `${event.data.push_name} (${event.data.from})` : event.data.from),
              h("td", {}, event.data.type),
              h("td", {}, event.data.text || ""),
            ),
          ),
          "No messages received yet.",
        ),
      ),
  );
  outbound.reload();
  inbound.reload();

  const element = h(
    "section",
    { class: "card", "aria-labelledby": "history-title" },
    h("h2", { id: "history-title" }, "Messages"),
    h("h3", {}, "Sent"),
    outboundList,
    outbound.more,
    h("h3", {}, "Received"),
    inboundList,
    inbound.more,
  );
  return {
    element,
    seen(event) {
      if (["message.sent", "message.failed", "message.ack"].includes(event.type)) outbound.reload();
      else if (event.type === "message.received") inbound.add(event);
    },
  };
}
