// The dashboard's shell: sign-in, the hash router, the alert area and the live feed.
// Screens are modules under views/; a new one is one import and one line in
// TENANT_SCREENS or ADMIN_SCREENS.

import { ApiError, signIn } from "./api.js";
import { button, field, h, input, replace } from "./dom.js";
import { Feed } from "./feed.js";
import * as groupPage from "./views/group.js";
import * as groups from "./views/groups.js";
import * as overview from "./views/overview.js";
import * as sessionPage from "./views/session.js";
import * as sessions from "./views/sessions.js";
import * as tenantPage from "./views/tenant.js";
import * as tenants from "./views/tenants.js";
import * as webhookPage from "./views/webhook.js";
import * as webhooks from "./views/webhooks.js";

const TENANT_SCREENS = [
  { pattern: /^#?\/?$/, view: overview, nav: "Overview" },
  { pattern: /^#\/sessions$/, view: sessions, nav: "Sessions" },
  { pattern: /^#\/sessions\/(ses_\w+)$/, view: sessionPage },
  { pattern: /^#\/sessions\/(ses_\w+)\/groups$/, view: groups },
  { pattern: /^#\/sessions\/(ses_\w+)\/groups\/([^/]+)$/, view: groupPage },
  { pattern: /^#\/webhooks$/, view: webhooks, nav: "Webhooks" },
  { pattern: /^#\/webhooks\/(whk_\w+)$/, view: webhookPage },
];
const ADMIN_SCREENS = [
  { pattern: /^#?\/?$/, view: tenants, nav: "Tenants" },
  { pattern: /^#\/tenants\/(ten_\w+)$/, view: tenantPage },
];

const main = document.getElementById("main");
const alerts = document.getElementById("alerts");
const nav = document.getElementById("nav");
const feedState = document.getElementById("feed-state");
const signOutButton = document.getElementById("sign-out");

let signedIn = null; // {api, role, feed, eventTypes, engines, deliveryStatuses}
let leaving = []; // what the current screen stops when it is left (feed listeners, timers)
let navigation = 0; // bumped by every route(): a screen still loading when the user moved on is dropped

function report(error) {
  if (!(error instanceof ApiError)) console.error(error);
  const title = error instanceof ApiError ? error.title : "Something went wrong";
  const detail = error instanceof ApiError ? error.detail : String(error.message || error);
  const box = h(
    "div",
    { class: "problem", dataset: { status: error.status ?? "" } },
    h("strong", { class: "problem-title" }, title),
    detail ? h("span", { class: "problem-detail" }, ` ${detail}`) : null,
    fieldList(error, detail),
    error.retryAfter ? h("span", {}, ` (retry after ${error.retryAfter} s)`) : null,
    button("Dismiss", () => box.remove(), { class: "link", "aria-label": `Dismiss: ${title}` }),
  );
  alerts.append(box);
  box.scrollIntoView({ block: "nearest" });
  if (error instanceof ApiError && error.status === 401 && signedIn) signOut("Your sign-in is no longer valid.");
}

// A 422's refused fields beyond the one its detail already names.
function fieldList(error, detail) {
  const more = (error.errors || []).map((item) => `${item.field}: ${item.message}`).filter((text) => text !== detail);
  return more.length ? h("ul", {}, more.map((text) => h("li", {}, text))) : null;
}

// The form fields a 422 names are marked invalid, and the first takes focus to be corrected.
function clearInvalid(form) {
  for (const element of form?.querySelectorAll("[aria-invalid]") ?? []) element.removeAttribute("aria-invalid");
}

function markInvalid(control, error) {
  const form = control?.form;
  if (!form) return;
  const named = (error.errors || []).map((item) => form.elements[item.field]).filter((element) => element?.focus);
  for (const element of named) element.setAttribute("aria-invalid", "true");
  if (named.length) named[0].focus();
}

function notify(message) {
  alerts.append(h("div", { class: "notice" }, message));
}

// Runs an action from a button or form, showing any failure; the control is disabled meanwhile.
async function act(control, action) {
  if (control) control.disabled = true;
  clearInvalid(control?.form);
  try {
    return await action();
  } catch (error) {
    report(error);
    markInvalid(control, error);
    return undefined;
  } finally {
    if (control) control.disabled = false;
  }
}

function leave() {
  for (const stop of leaving) stop();
  leaving = [];
}

function screens() {
  return signedIn.role === "admin" ? ADMIN_SCREENS : TENANT_SCREENS;
}

function renderNav() {
  replace(
    nav,
    h(
      "ul",
      {},
      screens()
        .filter((screen) => screen.nav)
        .map((screen) => {
          const href = screen.nav === screens()[0].nav ? "#/" : `#/${screen.nav.toLowerCase()}`;
          return h("li", {}, h("a", { href }, screen.nav));
        }),
    ),
  );
  for (const link of nav.querySelectorAll("a")) {
    const current = link.getAttribute("href") === (window.location.hash || "#/");
    if (current) link.setAttribute("aria-current", "page");
  }
}

async function route() {
  navigation += 1;
  const current = navigation;
  leave();
  alerts.replaceChildren();
  if (!signedIn) {
    renderSignIn();
    return;
  }
  renderNav();
  const hash = window.location.hash || "#/";
  const screen = screens().find((candidate) => candidate.pattern.test(hash));
  if (!screen) {
    replace(main, h("h1", {}, "Not found"), h("p", {}, h("a", { href: "#/" }, "Back to the start")));
    return;
  }
  const params = hash.match(screen.pattern).slice(1);
  const context = {
    ...signedIn,
    report,
    notify,
    act,
    go: (target) => {
      window.location.hash = target;
    },
    onLeave: (stop) => (current === navigation ? leaving : context.stale).push(stop),
    stale: [],
  };
  replace(main, h("p", { class: "loading" }, "Loading…"));
  let view;
  let failure = null;
  try {
    view = await screen.view.render(context, ...params);
  } catch (error) {
    failure = error;
  }
  if (current !== navigation) {
    // Its listeners were registered after leave() ran for the next screen: stop them now.
    for (const stop of context.stale) stop();
    return;
  }
  if (failure) {
    view = h("h1", {}, "This page could not be loaded");
    report(failure);
  }
  replace(main, view);
  const heading = main.querySelector("h1");
  if (heading) {
    heading.tabIndex = -1;
    heading.focus();
  }
}

function renderSignIn(reason) {
  nav.replaceChildren();
  signOutButton.hidden = true;
  feedState.textContent = "";
  const secret = input("secret", { type: "password", required: true, autocomplete: "off" });
  const form = h(
    "form",
    { class: "card sign-in", "aria-labelledby": "sign-in-title" },
    h("h1", { id: "sign-in-title" }, "Sign in to Relay"),
    reason ? h("p", { class: "notice" }, reason) : null,
    field(
      "API key or admin token",
      secret,
      "A tenant API key (rk_…) is exchanged for a one-hour token kept only in this tab; nothing is stored.",
    ),
    h("button", { type: "submit" }, "Sign in"),
    h("p", {}, h("a", { href: "/docs" }, "API reference")),
  );
  form.addEventListener("submit", async (submit) => {
    submit.preventDefault();
    const submitButton = form.querySelector("button[type=submit]");
    await act(submitButton, async () => {
      const result = await signIn(secret.value.trim());
      secret.value = "";
      await start(result);
    });
  });
  replace(main, form);
  secret.focus();
}

async function start({ api, role }) {
  const response = await fetch("/openapi.json");
  const schema = await response.json();
  // The feed resumes by the server's clock; its Date header says how far this browser's is off.
  const serverDate = Date.parse(response.headers.get("date") || "");
  const serverOffset = Number.isNaN(serverDate) ? 0 : serverDate - Date.now();
  const enums = (name) => schema.components.schemas[name]?.enum ?? [];
  signedIn = {
    api,
    role,
    feed: null,
    eventTypes: enums("EventType"),
    engines: enums("EngineKind"),
    deliveryStatuses: enums("DeliveryStatus"),
  };
  signOutButton.hidden = false;
  if (role === "tenant") {
    signedIn.feed = new Feed(api.token, {
      onState: (state, detail) => {
        feedState.dataset.state = state;
        feedState.textContent = `Live feed: ${state}${detail ? ` (${detail})` : ""}`;
      },
      onEnded: (reason) => signOut(reason),
      serverOffset,
    });
    signedIn.feed.start();
  } else {
    feedState.textContent = "Admin";
  }
  if (window.location.hash && window.location.hash !== "#/") window.location.hash = "#/";
  else await route();
}

function signOut(reason) {
  if (signedIn?.feed) signedIn.feed.stop();
  signedIn = null;
  leave();
  renderSignIn(reason);
  if (window.location.hash) history.replaceState(null, "", "/");
}

signOutButton.addEventListener("click", () => signOut("You signed out."));
window.addEventListener("hashchange", route);
route();
