// A live list of feed events, newest first: a session's page shows all of its events, a group's
// page the group's. A received message's media is drawn (and redrawn on message.media) by the
// screen's mediaViewer; a message WhatsApp held while the session was away is marked offline.

import { h, time } from "./dom.js";

const MAX_STREAM_ITEMS = 100;

function summary(event) {
  const { media, ...rest } = event.data;
  const text = JSON.stringify(rest);
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

export function offlineMark(data) {
  return data.offline ? h("span", { class: "badge badge-offline", title: "Held by WhatsApp while the session was away" }, "offline") : null;
}

export function eventStream(viewer) {
  // Not a live region: a QR refresh every few seconds would drown a screen reader.
  const element = h("ol", { class: "stream" });
  return {
    element,
    add(event) {
      const media = ["message.received", "message.media"].includes(event.type) ? event.data.media : null;
      element.prepend(
        h(
          "li",
          { dataset: { type: event.type } },
          time(event.created_at),
          " ",
          h("strong", {}, event.type),
          " ",
          offlineMark(event.data),
          " ",
          h("code", {}, summary(event)),
          media ? viewer.show(media) : null,
        ),
      );
      while (element.children.length > MAX_STREAM_ITEMS) element.lastElementChild.remove();
      if (event.type === "message.media") viewer.update(event.data.media);
    },
  };
}
