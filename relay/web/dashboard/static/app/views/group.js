// One group of a session: its subject, description and participants with their roles; rename
// and describe it, add/remove/promote/demote numbers (each number's result shown), read its
// invite link, leave it. Its group.* events arrive live from the feed.

import { ApiError } from "../api.js";
import { backLink, badge, button, field, h, input, replace, select, table, time, values } from "../dom.js";
import { mediaViewer } from "../media.js";
import { eventStream } from "../stream.js";
import { groupsPath, numbers } from "./groups.js";

const CHANGES = [
  ["add", "Add"],
  ["remove", "Remove"],
  ["promote", "Promote to admin"],
  ["demote", "Demote to member"],
];

function details(group) {
  const rows = [
    ["Subject", group.subject],
    ["Description", group.description || "—"],
    ["Owner", group.owner || "—"],
    ["Created", time(group.created_at)],
    ["JID", h("code", {}, group.jid)],
  ];
  return h(
    "dl",
    { class: "details" },
    rows.map(([name, value]) => [h("dt", {}, name), h("dd", { dataset: { field: name } }, value)]),
  );
}

function participantTable(group) {
  return table(
    "Participants",
    ["Participant", "Role"],
    group.participants.map((participant) =>
      h("tr", { dataset: { jid: participant.jid } }, h("td", {}, participant.jid), h("td", {}, badge(participant.role))),
    ),
    "No participants.",
  );
}

function editForm(context, path, group, onChanged) {
  const form = h(
    "form",
    { class: "card", "aria-labelledby": "edit-group-title" },
    h("h2", { id: "edit-group-title" }, "Subject and description"),
    field("Subject", input("subject", { required: true, maxlength: "100", value: group.subject })),
    field(
      "Description",
      h("textarea", { name: "description", rows: "3", maxlength: "2048" }, group.description),
      "Empty removes it.",
    ),
    h("button", { type: "submit" }, "Save"),
  );
  form.addEventListener("submit", (submit) => {
    submit.preventDefault();
    context.act(form.querySelector("button[type=submit]"), async () => {
      const subject = form.elements.subject.value.trim();
      const description = form.elements.description.value.trim();
      onChanged(await context.api.patch(path, { subject, description }));
    });
  });
  return form;
}

function participantsForm(context, path, onChanged) {
  const results = h("div", { role: "status" });
  const form = h(
    "form",
    { class: "card", "aria-labelledby": "participants-title" },
    h("h2", { id: "participants-title" }, "Change participants"),
    field("Change", select("change", CHANGES, "add")),
    field("Numbers", h("textarea", { name: "numbers", rows: "2", inputmode: "tel", required: true }), "Separated by commas or one a line."),
    h("button", { type: "submit" }, "Apply"),
    results,
  );
  form.addEventListener("submit", (submit) => {
    submit.preventDefault();
    context.act(form.querySelector("button[type=submit]"), async () => {
      const entered = values(form);
      const answer = await context.api.post(`${path}/participants`, { [entered.change]: numbers(entered.numbers) });
      const failed = answer.data.filter((result) => !result.ok).length;
      replace(
        results,
        h("p", {}, failed ? `${failed} of ${answer.data.length} not changed:` : `All ${answer.data.length} changed.`),
        table(
          "Participant results",
          ["Number", "Change", "Result"],
          answer.data.map((result) =>
            h(
              "tr",
              { dataset: { jid: result.jid, ok: String(result.ok) } },
              h("td", {}, result.jid),
              h("td", {}, result.change),
              h("td", {}, result.ok ? badge("ok") : [badge("error"), " ", result.error]),
            ),
          ),
        ),
      );
      onChanged();
    });
  });
  return form;
}

function inviteLink(context, path) {
  const output = h("output", { class: "secret", "aria-label": "Invite link" });
  return h(
    "section",
    { class: "card", "aria-labelledby": "invite-title" },
    h("h2", { id: "invite-title" }, "Invite link"),
    h("p", { class: "hint" }, "Reading it does not revoke it. Only a group admin may."),
    button("Show invite link", (click) =>
      context.act(click.currentTarget, async () => {
        const answer = await context.api.get(`${path}/invite-link`);
        replace(output, h("a", { href: answer.link, rel: "noreferrer" }, answer.link));
      }),
    ),
    output,
  );
}

export async function render(context, sessionId, encodedJid) {
  const jid = decodeURIComponent(encodedJid);
  const path = groupsPath(sessionId, jid);
  // The session's own JID tells its own removal from another's in a group.participants event.
  const [first, session] = await Promise.all([context.api.get(path), context.api.get(`/v1/sessions/${sessionId}`)]);
  let group = first;
  const title = h("h1", {}, group.subject);
  const info = h("div", {}, details(group));
  const members = h("div", {}, participantTable(group));
  let edit = null;
  const update = (changed) => {
    group = changed;
    title.textContent = group.subject;
    replace(info, details(group));
    replace(members, participantTable(group));
    // A rename from elsewhere (the phone, another admin) shows in the form, unless it is being edited.
    const typing = edit?.contains(document.activeElement) && document.activeElement.matches("input, textarea");
    if (edit && !typing) {
      edit.elements.subject.value = group.subject;
      edit.elements.description.value = group.description;
    }
  };
  let gone = false;
  // A group the session is no longer in answers 404 (a removal the feed has not told yet): said once.
  const reload = async () => {
    if (gone) return;
    try {
      update(await context.api.get(path));
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        gone = true;
        context.notify("This session is no longer in the group.");
      } else context.report(error);
    }
  };

  const stream = eventStream(mediaViewer(context));
  context.onLeave(
    context.feed.listen((event) => {
      if (event.session_id !== sessionId || !event.type.startsWith("group.")) return;
      if ((event.data.jid ?? event.data.group?.jid) !== jid) return;
      stream.add(event);
      const { change, participants = [] } = event.data;
      if (event.type === "group.participants" && change === "remove" && participants.includes(session.jid)) {
        // The session left, or was removed: the group is no longer its to read.
        if (!gone) context.notify("This session is no longer in the group.");
        gone = true;
      } else reload();
    }),
  );

  const leave = button(
    "Leave group",
    (click) => {
      if (!window.confirm(`Leave ${group.subject}?`)) return;
      context.act(click.currentTarget, async () => {
        await context.api.post(`${path}/leave`);
        gone = true;
        context.go(`#/sessions/${sessionId}/groups`);
      });
    },
    { class: "danger" },
  );

  return h(
    "section",
    {},
    backLink(`#/sessions/${sessionId}/groups`, "groups"),
    title,
    info,
    h("div", { class: "actions", role: "group", "aria-label": "Group actions" }, leave),
    h(
      "section",
      { class: "card", "aria-labelledby": "members-title" },
      h("h2", { id: "members-title" }, "Participants and roles"),
      members,
    ),
    participantsForm(context, path, reload),
    h(
      "div",
      { class: "columns" },
      (edit = editForm(context, path, group, update)),
      inviteLink(context, path),
    ),
    h(
      "section",
      { class: "card", "aria-labelledby": "group-stream-title" },
      h("h2", { id: "group-stream-title" }, "Live group events"),
      h("p", { class: "hint" }, "Since this page opened, newest first."),
      stream.element,
    ),
  );
}
