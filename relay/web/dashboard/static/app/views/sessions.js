// Sessions: the list with live status and last error, and the form that creates one.

import { ApiError } from "../api.js";
import { badge, field, h, input, replace, select, table, time, values } from "../dom.js";

function row(session) {
  return h(
    "tr",
    { dataset: { sessionId: session.id } },
    h("td", {}, h("a", { href: `#/sessions/${session.id}` }, session.name)),
    h("td", {}, session.engine),
    h("td", { class: "status-cell" }, badge(session.status)),
    h("td", { class: "reason-cell" }, session.reason || ""),
    h("td", { class: "error-cell" }, session.last_error || ""),
    h("td", {}, session.phone || ""),
    h("td", {}, time(session.created_at)),
  );
}

function createForm(context, onCreated) {
  const form = h(
    "form",
    { class: "card", "aria-labelledby": "create-session-title" },
    h("h2", { id: "create-session-title" }, "New session"),
    field("Name", input("name", { required: true, maxlength: "200" })),
    field(
      "Engine",
      select(
        "engine",
        context.engines.map((engine) => [engine, engine === "sandbox" ? "sandbox (simulated phone)" : engine]),
        "sandbox",
      ),
    ),
    field(
      "Proxy (optional)",
      input("proxy", { placeholder: "socks5://user:password@proxy.example:1080" }),
      "http://, https:// or socks5:// with a port.",
    ),
    field(
      "Messages per minute (optional)",
      input("send_per_minute", { type: "number", min: "1", inputmode: "numeric" }),
      "Pacing: sends are spaced evenly; empty is the server default.",
    ),
    h(
      "div",
      { class: "check" },
      h("input", { type: "checkbox", name: "start", id: "create-start", checked: true }),
      h("label", { for: "create-start" }, "Start at once"),
    ),
    h("button", { type: "submit" }, "Create session"),
  );
  form.addEventListener("submit", (submit) => {
    submit.preventDefault();
    context.act(form.querySelector("button[type=submit]"), async () => {
      const body = values(form);
      body.start = form.elements.start.checked;
      if (body.send_per_minute) body.send_per_minute = Number(body.send_per_minute);
      const session = await context.api.post("/v1/sessions", body);
      form.reset();
      onCreated(session);
    });
  });
  return form;
}

export async function render(context) {
  const list = h("div", {});
  const sessions = new Map();
  let cursor = null;
  const more = h("button", { type: "button", hidden: true }, "Load more");

  const draw = () =>
    replace(
      list,
      table(
        "Sessions",
        ["Name", "Engine", "Status", "Reason", "Last error", "Phone", "Created"],
        [...sessions.values()].map(row),
        "No sessions yet: create one below.",
      ),
    );
  const load = async () => {
    const page = await context.api.get("/v1/sessions", { limit: 50, cursor });
    for (const session of page.data) sessions.set(session.id, session);
    cursor = page.next_cursor;
    more.hidden = !cursor;
    draw();
  };
  more.addEventListener("click", () => context.act(more, load));
  await load();

  context.onLeave(
    context.feed.listen(async (event) => {
      if (event.type !== "session.status") return;
      const known = sessions.get(event.session_id);
      if (known) {
        Object.assign(known, { status: event.data.status, reason: event.data.reason });
        draw();
      }
      // A session created elsewhere (the API, another tab) joins the list; after a failure the
      // server's kept last error is read back with the session.
      if (!known || ["failed", "reconnecting", "logged_out"].includes(event.data.status)) {
        await context.act(null, async () => {
          try {
            sessions.set(event.session_id, await context.api.get(`/v1/sessions/${event.session_id}`));
          } catch (error) {
            // Deleted meanwhile (its last "stopped" arrives after the delete): it is no longer listed.
            if (!(error instanceof ApiError && error.status === 404)) throw error;
            sessions.delete(event.session_id);
          }
          draw();
        });
      }
    }),
  );

  return h(
    "section",
    {},
    h("h1", {}, "Sessions"),
    list,
    more,
    createForm(context, (session) => context.go(`#/sessions/${session.id}`)),
  );
}
