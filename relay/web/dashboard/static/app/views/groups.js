// A session's WhatsApp groups (SPEC "Groups"): the list, paged by JID, and the form that
// creates one. A group's own page is group.js.

import { backLink, field, h, input, replace, table, time, values } from "../dom.js";
import { pager } from "../pager.js";

// "15551234567, 15557654321" or one a line: the API takes a list of numbers or JIDs.
export function numbers(text) {
  return (text || "").split(/[\s,;]+/).filter(Boolean);
}

export function groupHref(sessionId, jid) {
  return `#/sessions/${sessionId}/groups/${encodeURIComponent(jid)}`;
}

export function groupsPath(sessionId, jid) {
  const base = `/v1/sessions/${sessionId}/groups`;
  return jid ? `${base}/${encodeURIComponent(jid)}` : base;
}

function createForm(context, sessionId) {
  const form = h(
    "form",
    { class: "card", "aria-labelledby": "create-group-title" },
    h("h2", { id: "create-group-title" }, "New group"),
    field("Subject", input("subject", { required: true, maxlength: "100" })),
    field(
      "Participants",
      h("textarea", { name: "participants", rows: "3", inputmode: "tel" }),
      "Phone numbers (or JIDs), separated by commas or one a line; up to 50. WhatsApp leaves out those it refuses.",
    ),
    h("button", { type: "submit" }, "Create group"),
  );
  form.addEventListener("submit", (submit) => {
    submit.preventDefault();
    context.act(form.querySelector("button[type=submit]"), async () => {
      const entered = values(form);
      const group = await context.api.post(groupsPath(sessionId), {
        subject: entered.subject,
        participants: numbers(entered.participants),
      });
      context.go(groupHref(sessionId, group.jid));
    });
  });
  return form;
}

export async function render(context, sessionId) {
  const session = await context.api.get(`/v1/sessions/${sessionId}`);
  const list = h("div", {});
  const groups = pager(
    context,
    (cursor, limit) => context.api.get(groupsPath(sessionId), { limit, cursor }),
    (items) =>
      replace(
        list,
        table(
          "Group list",
          ["Subject", "Participants", "Created", "JID"],
          items.map((group) =>
            h(
              "tr",
              { dataset: { jid: group.jid } },
              h("td", {}, h("a", { href: groupHref(sessionId, group.jid) }, group.subject)),
              h("td", {}, String(group.participants.length)),
              h("td", {}, time(group.created_at)),
              h("td", {}, h("code", {}, group.jid)),
            ),
          ),
          "This session is in no group yet.",
        ),
      ),
    (group) => group.jid,
  );
  // Groups need the session connected: the API's 409 says so, and is shown like any refusal.
  groups.reload();
  context.onLeave(
    context.feed.listen((event) => {
      if (event.session_id === sessionId && event.type.startsWith("group.")) groups.reload();
    }),
  );

  return h(
    "section",
    {},
    backLink(`#/sessions/${sessionId}`, session.name),
    h("h1", {}, `Groups of ${session.name}`),
    createForm(context, sessionId),
    h(
      "section",
      { class: "card", "aria-labelledby": "group-list-title" },
      h("h2", { id: "group-list-title" }, "Groups"),
      list,
      groups.more,
    ),
  );
}
