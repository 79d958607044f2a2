// Small DOM helpers. Text always goes in as text nodes, never as HTML, so
// nothing the API returns (a contact's message, a webhook's answer) can run.

export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "class") element.className = value;
    else if (name === "dataset") Object.assign(element.dataset, value);
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, value);
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

let fieldCount = 0;

// A labelled input (or select/textarea): the label names it for screen readers.
export function field(label, control, hint) {
  fieldCount += 1;
  control.id = control.id || `field-${fieldCount}`;
  const help = hint ? h("small", { id: `${control.id}-hint`, class: "hint" }, hint) : null;
  if (help) control.setAttribute("aria-describedby", help.id);
  return h("div", { class: "field" }, h("label", { for: control.id }, label), control, help);
}

export function input(name, props = {}) {
  return h("input", { name, type: "text", ...props });
}

export function select(name, options, selected) {
  return h(
    "select",
    { name },
    options.map(([value, label]) => h("option", { value, selected: value === selected }, label)),
  );
}

export function button(label, onclick, props = {}) {
  return h("button", { type: "button", onclick, ...props }, label);
}

export function time(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return h("time", { datetime: iso, title: iso }, date.toLocaleString());
}

export function badge(status) {
  return h("span", { class: `badge badge-${status}`, dataset: { status } }, status);
}

// On a phone each row becomes a card whose cells name their column (data-label, see style.css);
// the explicit roles keep it a table for screen readers once CSS changes its display.
export function table(caption, headers, rows, empty = "Nothing yet.") {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  for (const row of rows) {
    row.setAttribute("role", "row");
    [...row.children].forEach((cell, index) => {
      cell.setAttribute("role", cell.tagName === "TH" ? "rowheader" : "cell");
      if (headers[index]) cell.dataset.label = headers[index];
    });
  }
  return h(
    "div",
    { class: "table-wrap", tabindex: "0", role: "region", "aria-label": caption },
    h(
      "table",
      { role: "table" },
      h("caption", { class: "visually-hidden" }, caption),
      h("thead", {}, h("tr", {}, headers.map((name) => h("th", { scope: "col" }, name)))),
      h("tbody", {}, rows),
    ),
  );
}

// A box for a secret the API shows only once (an API key, a signing secret).
export function shownOnce(label, value) {
  const output = h("output", { class: "secret", "aria-label": label }, value);
  return h(
    "div",
    { class: "once", role: "status" },
    h("strong", {}, `${label} — shown only now; copy it somewhere safe:`),
    output,
  );
}

// The form's values, with empty fields left out.
export function values(form) {
  const result = {};
  for (const [name, value] of new FormData(form).entries()) {
    if (typeof value === "string" && value.trim() !== "") result[name] = value.trim();
  }
  return result;
}

export function backLink(href, what) {
  return h("p", {}, h("a", { href }, h("span", { "aria-hidden": "true" }, "‹ "), `Back to ${what}`));
}
