// Webhook endpoints: the list and the form that registers one (its secret shown once).

import { badge, field, h, input, replace, shownOnce, table, time, values } from "../dom.js";

function checkboxes(legend, name, options, checked) {
  return h(
    "fieldset",
    { class: "choices" },
    h("legend", {}, legend),
    options.map(([value, label]) => {
      const id = `${name}-${value}`.replace(/[^\w-]/g, "_");
      return h(
        "div",
        { class: "check" },
        h("input", { type: "checkbox", name, value, id, checked: checked.includes(value) }),
        h("label", { for: id }, label),
      );
    }),
  );
}

function createForm(context, sessions, onCreated) {
  const form = h(
    "form",
    { class: "card", "aria-labelledby": "create-webhook-title" },
    h("h2", { id: "create-webhook-title" }, "New endpoint"),
    field("URL", input("url", { type: "url", required: true, placeholder: "https://your-app.example/hooks/relay" })),
    field("Description (optional)", input("description", { maxlength: "500" })),
    checkboxes(
      "Events",
      "events",
      [["*", "every event"], ...context.eventTypes.map((type) => [type, type])],
      ["*"],
    ),
    sessions.length
      ? checkboxes(
          "Only these sessions (none checked: every session)",
          "session_ids",
          sessions.map((session) => [session.id, session.name]),
          [],
        )
      : null,
    h("button", { type: "submit" }, "Create endpoint"),
  );
  form.addEventListener("submit", (submit) => {
    submit.preventDefault();
    context.act(form.querySelector("button[type=submit]"), async () => {
      const data = new FormData(form);
      const body = { ...values(form), events: data.getAll("events") };
      delete body.session_ids;
      const sessionIds = data.getAll("session_ids");
      if (sessionIds.length) body.session_ids = sessionIds;
      const created = await context.api.post("/v1/webhooks", body);
      form.reset();
      onCreated(created);
    });
  });
  return form;
}

export async function render(context) {
  const [page, sessions] = await Promise.all([
    context.api.get("/v1/webhooks", { limit: 1000 }),
    context.api.all("/v1/sessions"),
  ]);
  const list = h("div", {});
  const secret = h("div", {});
  const endpoints = page.data;
  const draw = () =>
    replace(
      list,
      table(
        "Webhook endpoints",
        ["URL", "Events", "Sessions", "State", "Created"],
        endpoints.map((endpoint) =>
          h(
            "tr",
            { dataset: { webhookId: endpoint.id } },
            h("td", {}, h("a", { href: `#/webhooks/${endpoint.id}` }, endpoint.url)),
            h("td", {}, endpoint.events.join(", ")),
            h("td", {}, endpoint.session_ids ? endpoint.session_ids.length : "all"),
            h(
              "td",
              {},
              badge(endpoint.enabled ? "enabled" : "disabled"),
              endpoint.disabled_reason ? ` ${endpoint.disabled_reason}` : "",
            ),
            h("td", {}, time(endpoint.created_at)),
          ),
        ),
        "No endpoints yet: register one below.",
      ),
    );
  draw();
  return h(
    "section",
    {},
    h("h1", {}, "Webhooks"),
    secret,
    list,
    createForm(context, sessions, (created) => {
      endpoints.push(created);
      draw();
      replace(
        secret,
        shownOnce(`Signing secret of ${created.url}`, created.secret),
        h("p", {}, h("a", { href: `#/webhooks/${created.id}` }, "Open the endpoint and its deliveries")),
      );
      secret.querySelector("output").focus();
    }),
  );
}
