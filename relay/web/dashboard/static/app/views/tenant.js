// Admin: one tenant, its quotas and usage, and its API keys (created keys shown once).

import { backLink, button, field, h, input, replace, shownOnce, table, time } from "../dom.js";

const QUOTAS = [
  ["max_sessions", "Sessions", "sessions"],
  ["max_messages_per_day", "Messages a day (UTC)", "messages_today"],
  ["max_webhooks", "Webhook endpoints", "webhooks"],
];

function usage(tenant) {
  return table(
    "Quotas and usage",
    ["Quota", "Used", "Limit"],
    QUOTAS.map(([limit, label, used]) =>
      h(
        "tr",
        {},
        h("th", { scope: "row" }, label),
        h("td", {}, String(tenant.usage[used])),
        h("td", {}, tenant[limit] === null ? "unlimited" : String(tenant[limit])),
      ),
    ),
  );
}

export async function render(context, tenantId) {
  const { api } = context;
  let tenant = await api.get(`/v1/tenants/${tenantId}`);
  const keys = (await api.all(`/v1/tenants/${tenantId}/api-keys`)).filter(Boolean);
  const usageBox = h("div", {}, usage(tenant));
  const keyList = h("div", {});
  const created = h("div", {});

  const drawKeys = () =>
    replace(
      keyList,
      table(
        "API keys",
        ["Name", "Prefix", "Created", "Last used", ""],
        keys.map((key) =>
          h(
            "tr",
            { dataset: { keyId: key.id } },
            h("td", {}, key.name || "—"),
            h("td", {}, h("code", {}, key.prefix)),
            h("td", {}, time(key.created_at)),
            h("td", {}, time(key.last_used_at)),
            h(
              "td",
              {},
              button(
                "Revoke",
                (click) => {
                  if (!window.confirm(`Revoke the key ${key.prefix}…? Its tokens and sockets stop at once.`)) return;
                  context.act(click.currentTarget, async () => {
                    await api.delete(`/v1/tenants/${tenantId}/api-keys/${key.id}`);
                    keys.splice(keys.indexOf(key), 1);
                    drawKeys();
                  });
                },
                { class: "danger", "aria-label": `Revoke key ${key.prefix}` },
              ),
            ),
          ),
        ),
        "No API keys yet.",
      ),
    );
  drawKeys();

  const keyForm = h(
    "form",
    { class: "inline-form" },
    field("Key name", input("name", { maxlength: "200", placeholder: "laptop" })),
    h("button", { type: "submit" }, "Create API key"),
  );
  keyForm.addEventListener("submit", (submit) => {
    submit.preventDefault();
    context.act(keyForm.querySelector("button"), async () => {
      const name = keyForm.elements.name.value.trim();
      const key = await api.post(`/v1/tenants/${tenantId}/api-keys`, name ? { name } : {});
      keys.unshift(key);
      drawKeys();
      keyForm.reset();
      replace(created, shownOnce(`API key ${key.name || key.prefix}`, key.key));
      created.querySelector("output").focus();
    });
  });

  const quotaForm = h(
    "form",
    { class: "inline-form" },
    QUOTAS.map(([name, label]) =>
      field(`${label}: limit`, input(name, { type: "number", min: "0", value: tenant[name] ?? "" }), "Empty: unlimited."),
    ),
    h("button", { type: "submit" }, "Save quotas"),
  );
  quotaForm.addEventListener("submit", (submit) => {
    submit.preventDefault();
    context.act(quotaForm.querySelector("button"), async () => {
      const body = {};
      for (const [name] of QUOTAS) {
        const value = quotaForm.elements[name].value.trim();
        body[name] = value === "" ? null : Number(value);
      }
      tenant = await api.patch(`/v1/tenants/${tenantId}`, body);
      replace(usageBox, usage(tenant));
      context.notify("Quotas saved.");
    });
  });

  const remove = button(
    "Delete tenant",
    (click) => {
      if (!window.confirm(`Delete ${tenant.name} with its keys, webhooks and sessions?`)) return;
      context.act(click.currentTarget, async () => {
        await api.delete(`/v1/tenants/${tenantId}`);
        context.go("#/");
      });
    },
    { class: "danger" },
  );

  return h(
    "section",
    {},
    backLink("#/", "tenants"),
    h("h1", {}, tenant.name),
    h("p", {}, h("code", {}, tenant.id), " · created ", time(tenant.created_at)),
    h("section", { class: "card", "aria-labelledby": "quota-title" }, h("h2", { id: "quota-title" }, "Quotas and usage"), usageBox, quotaForm),
    h("section", { class: "card", "aria-labelledby": "keys-title" }, h("h2", { id: "keys-title" }, "API keys"), created, keyList, keyForm),
    h("div", { class: "actions" }, remove),
  );
}
