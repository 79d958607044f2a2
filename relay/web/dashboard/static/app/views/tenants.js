// Admin: every tenant, the counts across all of them (GET /v1/stats with the admin token), and
// the form that creates a tenant.

import { field, h, input, replace, table, time } from "../dom.js";
import { statsView } from "./overview.js";

function quota(value) {
  return value === null ? "unlimited" : String(value);
}

export async function render(context) {
  const [tenants, stats] = await Promise.all([context.api.all("/v1/tenants"), context.api.get("/v1/stats")]);
  const list = h("div", {});
  const draw = () =>
    replace(
      list,
      table(
        "Tenants",
        ["Name", "Sessions", "Messages a day", "Webhooks", "Created"],
        tenants.map((tenant) =>
          h(
            "tr",
            { dataset: { tenantId: tenant.id } },
            h("td", {}, h("a", { href: `#/tenants/${tenant.id}` }, tenant.name)),
            h("td", {}, quota(tenant.max_sessions)),
            h("td", {}, quota(tenant.max_messages_per_day)),
            h("td", {}, quota(tenant.max_webhooks)),
            h("td", {}, time(tenant.created_at)),
          ),
        ),
        "No tenants yet: create one below.",
      ),
    );
  draw();

  const form = h(
    "form",
    { class: "card inline-form", "aria-labelledby": "create-tenant-title" },
    h("h2", { id: "create-tenant-title" }, "New tenant"),
    field("Name", input("name", { required: true, maxlength: "200" })),
    h("button", { type: "submit" }, "Create tenant"),
  );
  form.addEventListener("submit", (submit) => {
    submit.preventDefault();
    context.act(form.querySelector("button"), async () => {
      const tenant = await context.api.post("/v1/tenants", { name: form.elements.name.value.trim() });
      context.go(`#/tenants/${tenant.id}`);
    });
  });

  return h(
    "section",
    {},
    h("h1", {}, "Tenants"),
    h("ul", { class: "tiles" }, h("li", { class: "tile" }, h("span", { class: "tile-value" }, String(tenants.length)), h("span", { class: "tile-label" }, "tenants"))),
    list,
    form,
    h(
      "section",
      { class: "card", "aria-labelledby": "cluster-title" },
      h("h2", { id: "cluster-title" }, "Across every tenant"),
      statsView(stats, { linked: false }),
    ),
  );
}
