// One session: its state, the live QR with its countdown, pairing by code,
// lifecycle buttons, a test message, pacing, the live event stream and the
// message history. Everything live comes from the feed; nothing polls.

import { ApiError } from "../api.js";
import { backLink, badge, button, field, h, input, replace, time, values } from "../dom.js";
import { mediaViewer } from "../media.js";
import { eventStream } from "../stream.js";
import { messageHistory } from "./messages.js";
import { quotaCard } from "./quotas.js";

function details(session) {
  const rows = [
    ["Status", badge(session.status)],
    ["Reason", session.reason || "—"],
    ["Last error", session.last_error || "—"],
    ["Engine", session.engine],
    ["Phone", session.phone || "—"],
    ["JID", session.jid || "—"],
    ["Proxy", session.proxy || "direct"],
    ["Desired state", session.desired_state],
    [
      "Pacing",
      session.send_per_minute
        ? `${session.send_per_minute} a minute (one every ${session.send_interval_seconds} s)`
        : "unpaced",
    ],
    ["Created", time(session.created_at)],
  ];
  return h(
    "dl",
    { class: "details" },
    rows.map(([name, value]) => [h("dt", {}, name), h("dd", { dataset: { field: name } }, value)]),
  );
}

function qrPanel(context, sessionId) {
  const image = h("img", { class: "qr", alt: "QR code to scan with WhatsApp > Linked devices", hidden: true });
  const countdown = h("p", { class: "countdown", "aria-live": "off" });
  const note = h("p", { class: "qr-note" });
  let objectUrl = null;
  let expiresAt = null;
  let shownQr = null;
  // Bumped by hide(): a fetch that was under way when the session stopped waiting is dropped.
  let generation = 0;

  const tick = () => {
    if (!expiresAt) {
      countdown.textContent = "";
      return;
    }
    const seconds = Math.max(0, Math.ceil((expiresAt - Date.now()) / 1000));
    countdown.textContent = seconds ? `Expires in ${seconds} s` : "Expired; a new code is coming";
  };
  const timer = window.setInterval(tick, 1000);
  context.onLeave(() => {
    window.clearInterval(timer);
    if (objectUrl) URL.revokeObjectURL(objectUrl);
  });

  const hide = (text) => {
    generation += 1;
    image.hidden = true;
    expiresAt = null;
    shownQr = null;
    note.textContent = text;
    tick();
  };
  const show = async (known) => {
    const started = generation;
    try {
      const qr = known ?? (await context.api.get(`/v1/sessions/${sessionId}/qr`));
      if (qr.qr === shownQr || started !== generation) return;
      shownQr = qr.qr;
      const blob = await context.api.blob(`/v1/sessions/${sessionId}/qr`, { format: "png" });
      if (started !== generation) return;
      if (objectUrl) URL.revokeObjectURL(objectUrl);
      objectUrl = URL.createObjectURL(blob);
      image.src = objectUrl;
      image.dataset.expiresAt = qr.expires_at || "";
      image.hidden = false;
      expiresAt = qr.expires_at ? Date.parse(qr.expires_at) : null;
      note.textContent = "Open WhatsApp on the phone › Linked devices › Link a device, and scan:";
      tick();
    } catch (error) {
      // 409: the session stopped waiting for a scan meanwhile (its status event follows).
      if (error instanceof ApiError && error.status === 409) hide(`No QR code now: ${error.detail}`);
      else context.report(error);
    }
  };

  const phone = input("phone", { inputmode: "tel", required: true, placeholder: "+4915112345678" });
  const code = h("output", { class: "pair-code", "aria-label": "Pairing code" });
  const pairForm = h(
    "form",
    { class: "inline-form" },
    field("Link with phone number instead", phone, "The code appears here; type it on the phone."),
    h("button", { type: "submit" }, "Get pairing code"),
    code,
  );
  pairForm.addEventListener("submit", (submit) => {
    submit.preventDefault();
    context.act(pairForm.querySelector("button"), async () => {
      const answer = await context.api.post(`/v1/sessions/${sessionId}/pair-code`, { phone: phone.value.trim() });
      code.textContent = answer.code;
    });
  });

  const element = h(
    "section",
    { class: "card", "aria-labelledby": "link-title" },
    h("h2", { id: "link-title" }, "Link a phone"),
    note,
    image,
    countdown,
    pairForm,
  );
  return { element, show, hide, showCode: (value) => (code.textContent = value) };
}

function sandboxPanel(context, sessionId) {
  const scanForm = h(
    "form",
    { class: "inline-form" },
    field("Phone that scans", input("phone", { inputmode: "tel", placeholder: "15550001111" })),
    h("button", { type: "submit" }, "Simulate scan"),
  );
  scanForm.addEventListener("submit", (submit) => {
    submit.preventDefault();
    context.act(scanForm.querySelector("button"), () =>
      context.api.post(`/v1/sessions/${sessionId}/sandbox/scan`, values(scanForm)),
    );
  });
  const inboundForm = h(
    "form",
    { class: "inline-form" },
    field("From", input("from", { inputmode: "tel", required: true, placeholder: "15557654321" })),
    field("Text", input("text", { required: true })),
    h("button", { type: "submit" }, "Simulate inbound message"),
  );
  inboundForm.addEventListener("submit", (submit) => {
    submit.preventDefault();
    context.act(inboundForm.querySelector("button"), () =>
      context.api.post(`/v1/sessions/${sessionId}/sandbox/inbound`, values(inboundForm)),
    );
  });
  return h(
    "section",
    { class: "card", "aria-labelledby": "sandbox-title" },
    h("h2", { id: "sandbox-title" }, "Simulated phone (sandbox)"),
    scanForm,
    inboundForm,
  );
}

function sendForm(context, sessionId, onSent) {
  const result = h("p", { class: "result", role: "status" });
  const form = h(
    "form",
    { class: "inline-form" },
    field("To", input("to", { inputmode: "tel", required: true, placeholder: "15557654321" })),
    field("Text", input("text", { required: true, value: "Hello from the Relay dashboard" })),
    h("button", { type: "submit" }, "Send"),
  );
  form.addEventListener("submit", (submit) => {
    submit.preventDefault();
    context.act(form.querySelector("button"), async () => {
      const message = await context.api.post(
        `/v1/sessions/${sessionId}/messages`,
        { ...values(form), type: "text" },
        { "Idempotency-Key": crypto.randomUUID() },
      );
      result.textContent = `Message ${message.id}: ${message.status}`;
      onSent();
    });
  });
  return h(
    "section",
    { class: "card", "aria-labelledby": "send-title" },
    h("h2", { id: "send-title" }, "Send a test message"),
    form,
    result,
  );
}

function pacingForm(context, session, onChanged) {
  const form = h(
    "form",
    { class: "inline-form" },
    field(
      "Messages per minute",
      input("send_per_minute", { type: "number", min: "1", value: session.send_per_minute ?? "" }),
      "Empty: unpaced.",
    ),
    h("button", { type: "submit" }, "Save pacing"),
  );
  form.addEventListener("submit", (submit) => {
    submit.preventDefault();
    context.act(form.querySelector("button"), async () => {
      const value = values(form).send_per_minute;
      onChanged(
        await context.api.patch(`/v1/sessions/${session.id}`, {
          send_per_minute: value === undefined ? null : Number(value),
        }),
      );
    });
  });
  return h(
    "section",
    { class: "card", "aria-labelledby": "pacing-title" },
    h("h2", { id: "pacing-title" }, "Pacing"),
    form,
  );
}

export async function render(context, sessionId) {
  const { api } = context;
  // Listening starts before the first read: a status change that lands while it is under way
  // (a new session going to `qr`) would otherwise be missed, and the page stuck on the old status.
  const early = [];
  let receive = (event) => early.push(event);
  context.onLeave(context.feed.listen((event) => (event.session_id === sessionId ? receive(event) : undefined)));
  let session = await api.get(`/v1/sessions/${sessionId}`);
  const title = h("h1", {}, session.name);
  const info = h("div", {}, details(session));
  const qr = qrPanel(context, sessionId);
  const viewer = mediaViewer(context);
  const history = messageHistory(context, sessionId, viewer);
  const quotas = quotaCard(context);
  // Status changes are announced on their own (announcer), not by the stream.
  const stream = eventStream(viewer);
  const announcer = h("p", { class: "visually-hidden", role: "status" });

  const update = (changed) => {
    if (session.status !== changed.status) announcer.textContent = `Session ${changed.name} is ${changed.status}`;
    session = changed;
    replace(info, details(session));
    if (session.status === "qr") qr.show();
    else qr.hide(session.status === "connected" ? "Linked." : `No QR code while ${session.status}.`);
  };
  update(session);

  const lifecycle = (label, path) =>
    button(label, (click) =>
      context.act(click.currentTarget, async () => update(await api.post(`/v1/sessions/${sessionId}/${path}`))),
    );
  const remove = button(
    "Delete",
    (click) => {
      if (!window.confirm(`Delete session ${session.name}? Its WhatsApp credentials are erased.`)) return;
      context.act(click.currentTarget, async () => {
        await api.delete(`/v1/sessions/${sessionId}`);
        context.go("#/sessions");
      });
    },
    { class: "danger" },
  );

  receive = async (event) => {
    stream.add(event);
    // A code replayed after a reconnect may be stale: only one for a session still waiting is drawn.
    if (event.type === "session.qr" && session.status === "qr") await qr.show(event.data);
    else if (event.type === "session.pair_code") qr.showCode(event.data.code);
    else if (event.type === "session.status") {
      await context.act(null, async () => update(await api.get(`/v1/sessions/${sessionId}`)));
    }
    history.seen(event);
  };
  for (const event of early.splice(0)) receive(event);

  return h(
    "section",
    {},
    backLink("#/sessions", "sessions"),
    title,
    announcer,
    info,
    h("p", {}, h("a", { href: `#/sessions/${sessionId}/groups` }, "Groups of this session")),
    h(
      "div",
      { class: "actions", role: "group", "aria-label": "Session actions" },
      lifecycle("Start", "start"),
      lifecycle("Stop", "stop"),
      lifecycle("Log out", "logout"),
      remove,
    ),
    h(
      "div",
      { class: "columns" },
      qr.element,
      session.engine === "sandbox" ? sandboxPanel(context, sessionId) : null,
      sendForm(context, sessionId, quotas.refresh),
      pacingForm(context, session, update),
      quotas.element,
    ),
    h(
      "section",
      { class: "card", "aria-labelledby": "stream-title" },
      h("h2", { id: "stream-title" }, "Live events"),
      h("p", { class: "hint" }, "Since this page opened, newest first."),
      stream.element,
    ),
    history.element,
  );
}
