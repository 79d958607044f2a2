// A session's message history: outbound (with their status) from the messages API,
// inbound from the event ledger (message.received); both paged.

import { badge, h, replace, table, time } from "../dom.js";
import { pager } from "../pager.js";
import { offlineMark } from "../stream.js";

// The ledger keeps message.received as it was sent, media `pending` included: the message.media
// events that followed (one request, up to a thousand) say what became of them.
async function receivedPage(api, sessionId, cursor, limit) {
  const page = await api.get("/v1/events", { session_id: sessionId, type: "message.received", limit, cursor });
  const pending = page.data.filter((event) => event.data.media?.status === "pending");
  if (!pending.length) return page;
  const outcomes = await api.get("/v1/events", {
    session_id: sessionId,
    type: "message.media",
    after: pending[0].id,
    limit: 1000,
  });
  const mediaOf = new Map(outcomes.data.map((event) => [event.data.whatsapp_id, event.data.media]));
  const settled = (event) =>
    mediaOf.has(event.data.whatsapp_id) ? { ...event, data: { ...event.data, media: mediaOf.get(event.data.whatsapp_id) } } : event;
  return { ...page, data: page.data.map(settled) };
}

// viewer: the screen's mediaViewer (media.js), which draws a received file and fetches its bytes.
export function messageHistory(context, sessionId, viewer) {
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
    (cursor, limit) => receivedPage(context.api, sessionId, cursor, limit),
    (items) =>
      replace(
        inboundList,
        table(
          "Inbound messages",
          ["Received", "From", "Type", "Text", "Media"],
          items.map((event) =>
            h(
              "tr",
              { dataset: { whatsappId: event.data.whatsapp_id } },
              h("td", {}, time(event.created_at), " ", offlineMark(event.data)),
              h("td", {}, event.data.push_name ? `${event.data.push_name} (${event.data.from})` : event.data.from),
              h("td", {}, event.data.type),
              h("td", {}, event.data.text || ""),
              h("td", {}, event.data.media ? viewer.show(event.data.media) : ""),
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
      else if (event.type === "message.media") {
        // The received message's media is now stored or unavailable: its row shows the new status.
        const { whatsapp_id: whatsappId, media } = event.data;
        inbound.change((item) =>
          item.data.whatsapp_id === whatsappId ? { ...item, data: { ...item.data, media } } : item,
        );
      }
    },
  };
}
