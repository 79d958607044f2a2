// A session's message history: outbound (with their status) from the messages API,
// inbound from the event ledger (message.received); both paged.

import { badge, h, replace, table, time } from "../dom.js";

const PAGE = 25;

// A paged list: "Load more" appends the next page; a reload keeps as many items as are shown.
// Fetches run one after another, so a reload and a "Load more" never overwrite each other.
function pager(context, load, draw) {
  let cursor = null;
  let items = [];
  let queue = Promise.resolve();
  const more = h("button", { type: "button", hidden: true }, "Load more");
  // Asks for one more than it shows: the extra one says whether a next page exists (a full page's own
  // cursor cannot), and the next page starts after the last one shown.
  const fetchPage = async (reset) => {
    const wanted = reset ? Math.max(PAGE, items.length) : PAGE;
    const page = await load(reset ? null : cursor, wanted + 1);
    const shown = page.data.slice(0, wanted);
    items = reset ? shown : [...items, ...shown];
    cursor = page.data.length > wanted ? shown[shown.length - 1].id : null;
    more.hidden = !cursor;
    draw(items);
  };
  const run = (control, reset) => {
    queue = queue.then(() => context.act(control, () => fetchPage(reset)));
    return queue;
  };
  more.addEventListener("click", () => run(more, false));
  return {
    more,
    reload: () => run(null, true),
    // A live item belongs at the end only once every older page is shown.
    add: (item) => {
      if (!cursor) draw((items = [...items, item]));
    },
  };
}

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
