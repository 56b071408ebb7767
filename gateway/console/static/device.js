// Device page (/console/device): the browser as an AOI Client over the real /ws of
// the node that served the page (or the URLs given as ?ws=ws://a/ws,ws://b/ws).
//
// Element ids (each also as data-testid) for browser tests:
//   served-node, banner
//   connect-form, device-number, token-field (shown when config.json says deviceAuth),
//   device-token, device-reconnect (checkbox), device-connect, device-disconnect,
//   device-deregister, connect-error
//   device-state (data-state: closed|connecting|open|reconnecting), device-url,
//   device-node, device-client-id, device-attempts, device-last-close (data-code)
//   device-events: li data-testid="device-event", data-kind (open|close|reconnecting|
//     reconnected|reregistered|error|info), data-code on closes
//   app-form, app-id, app-register, app-error, app-empty
//   app-list: li data-testid="app-row", data-application-id, data-registration-id; inside
//     data-testid "app-registration-id", "app-copy", "app-deregister"
//   notifications: auto-ack (checkbox), notifications-clear, notification-count,
//     notifications-empty
//   notification-list: li data-testid="notification-row", data-notification-id,
//     data-state (received|acknowledged|rejected); inside data-testid
//     "notification-payload", "notification-app", "notification-state",
//     "notification-ack", "notification-reject"

import { AoiAppServer, AoiDevice, closeCodeWords } from "./aoi-client.js";

const KEY_STORAGE = "aoi-console-admin-key"; // the console's admin key, if this tab has one
const NUMBER_STORAGE = "aoi-device-number";
const MAX_EVENTS = 200;
const MAX_NOTIFICATIONS = 200;
const REJECT_CODE = 404; // "app not installed"

const $ = (id) => {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`device page: no element #${id}`);
  return element;
};

const state = {
  config: null,
  device: null,
  received: 0,
  attempts: 0,
  rows: new Map(), // notificationID -> li
};

const api = new AoiAppServer("", {
  apiKey: () => {
    try {
      return sessionStorage.getItem(KEY_STORAGE);
    } catch {
      return null;
    }
  },
});

function gatewayUrls() {
  const listed = new URLSearchParams(location.search).get("ws");
  if (listed) return listed.split(",").map((url) => url.trim()).filter(Boolean);
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return [`${scheme}//${location.host}/ws`];
}

function showError(id, message) {
  const element = $(id);
  element.textContent = message ?? "";
  element.hidden = !message;
}

function describeError(error) {
  if (error?.name === "AoiError") {
    return `${error.code} ${error.desc ?? ""}${error.detail ? `: ${error.detail}` : ""}`;
  }
  return error?.message ?? String(error);
}

function logEvent(kind, text, { code } = {}) {
  const li = document.createElement("li");
  li.dataset.testid = "device-event";
  li.dataset.kind = kind;
  if (code !== undefined) li.dataset.code = String(code);
  const time = document.createElement("time");
  const now = new Date();
  time.dateTime = now.toISOString();
  time.textContent = now.toLocaleTimeString();
  li.append(time, text);
  const log = $("device-events");
  log.prepend(li);
  while (log.children.length > MAX_EVENTS) log.lastElementChild.remove();
}

const STATE_WORDS = {
  connecting: "connecting…",
  open: "connected",
  reconnecting: "reconnecting…",
  closed: "not connected",
};

function renderState(detail) {
  const element = $("device-state");
  const current = state.device?.state ?? "closed";
  element.dataset.state = current;
  element.textContent = detail ?? STATE_WORDS[current] ?? current;
  const live = state.device !== null && current !== "closed";
  $("device-connect").disabled = live;
  $("device-disconnect").disabled = !live;
  $("device-deregister").disabled = !live || !state.device?.channelClientID;
  $("app-register").disabled = current !== "open" || !state.device?.channelClientID;
  $("device-number").readOnly = live;
  const clientID = state.device?.channelClientID ?? state.device?.clientID;
  $("device-client-id").textContent = clientID ?? "—";
  $("device-url").textContent = state.device?.url ?? gatewayUrls().join(", ");
}

// ---- the node -----------------------------------------------------------------

async function showNode() {
  const device = state.device;
  const clientID = device?.channelClientID;
  const fallback = state.config?.nodeID;
  const element = $("device-node");
  if (!clientID) {
    element.textContent = "—";
    return;
  }
  // Introspection says which node holds the channel (behind a load balancer it need
  // not be the one that served this page); it needs the admin key when keys are on.
  try {
    const result = await api.client(clientID);
    if (device !== state.device) return;
    if (result.status === 200 && result.body.channel?.active && result.body.channel.node) {
      element.textContent = result.body.channel.node;
      return;
    }
  } catch {
    // fall back below
  }
  element.textContent = fallback ? `${fallback} (the node that served this page)` : "unknown";
}

// ---- applications -------------------------------------------------------------

function renderApplications() {
  const applications = state.device?.applications ?? new Map();
  const rows = [...applications].map(([applicationID, registrationID]) =>
    applicationRow(applicationID, registrationID),
  );
  $("app-list").replaceChildren(...rows);
  $("app-empty").hidden = rows.length > 0;
}

function applicationRow(applicationID, registrationID) {
  const li = document.createElement("li");
  li.dataset.testid = "app-row";
  li.dataset.applicationId = applicationID;
  li.dataset.registrationId = registrationID;
  const name = document.createElement("span");
  name.className = "app-name";
  name.textContent = applicationID;
  const id = document.createElement("code");
  id.dataset.testid = "app-registration-id";
  id.textContent = registrationID;
  const copy = document.createElement("button");
  copy.type = "button";
  copy.className = "secondary small";
  copy.dataset.testid = "app-copy";
  copy.textContent = "Copy";
  copy.setAttribute("aria-label", `Copy the registrationID of ${applicationID}`);
  copy.addEventListener("click", () => copyText(registrationID, copy));
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "danger small";
  remove.dataset.testid = "app-deregister";
  remove.textContent = "Deregister";
  remove.setAttribute("aria-label", `Deregister ${applicationID}`);
  remove.addEventListener("click", () => deregisterApplication(applicationID, remove));
  li.append(name, id, copy, remove);
  return li;
}

async function copyText(text, button) {
  const label = button.textContent;
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch {
    // Without clipboard access (plain http on another host): select the text instead.
    const selection = getSelection();
    const range = document.createRange();
    range.selectNodeContents(button.previousElementSibling);
    selection.removeAllRanges();
    selection.addRange(range);
    button.textContent = "Selected: press Ctrl+C";
  }
  setTimeout(() => {
    button.textContent = label;
  }, 1500);
}

async function onRegisterApplication(event) {
  event.preventDefault();
  const device = state.device;
  const applicationID = $("app-id").value.trim();
  if (!device?.channelClientID || !applicationID) return;
  showError("app-error", null);
  $("app-register").disabled = true;
  try {
    const registrationID = await device.registerApplication(device.channelClientID, applicationID);
    logEvent("info", `registered ${applicationID}: registrationID ${registrationID}`);
    $("app-id").value = "";
  } catch (error) {
    showError("app-error", `Could not register ${applicationID}: ${describeError(error)}`);
  } finally {
    renderApplications();
    renderState();
  }
}

async function deregisterApplication(applicationID, button) {
  const device = state.device;
  if (!device?.channelClientID) return;
  showError("app-error", null);
  button.disabled = true;
  try {
    await device.deregisterApplication(device.channelClientID, applicationID);
    logEvent("info", `deregistered ${applicationID}`);
  } catch (error) {
    showError("app-error", `Could not deregister ${applicationID}: ${describeError(error)}`);
    button.disabled = false;
  }
  renderApplications();
}

// ---- notifications --------------------------------------------------------------

function onNotification(note) {
  state.received += 1;
  const li = document.createElement("li");
  li.dataset.testid = "notification-row";
  li.dataset.notificationId = note.notificationID;
  li.dataset.state = "received";
  const meta = document.createElement("div");
  meta.className = "notification-meta";
  const app = document.createElement("span");
  app.dataset.testid = "notification-app";
  app.textContent = note.applicationID ?? "?";
  const id = document.createElement("code");
  id.textContent = note.notificationID;
  const sent = document.createElement("span");
  if (typeof note.sentTime === "number") {
    sent.textContent = `accepted ${new Date(note.sentTime).toLocaleTimeString()}`;
  }
  const status = document.createElement("strong");
  status.dataset.testid = "notification-state";
  status.textContent = "received";
  meta.append(app, id, sent, status);
  const payload = document.createElement("pre");
  payload.className = "payload";
  payload.dataset.testid = "notification-payload";
  payload.textContent = note.payload ?? "";
  const buttons = document.createElement("div");
  buttons.className = "button-row";
  const ack = document.createElement("button");
  ack.type = "button";
  ack.className = "small";
  ack.dataset.testid = "notification-ack";
  ack.textContent = "Acknowledge";
  const reject = document.createElement("button");
  reject.type = "button";
  reject.className = "danger small";
  reject.dataset.testid = "notification-reject";
  reject.textContent = `Reject (${REJECT_CODE})`;
  ack.addEventListener("click", () => answer(note.notificationID, 200));
  reject.addEventListener("click", () => answer(note.notificationID, REJECT_CODE));
  buttons.append(ack, reject);
  li.append(meta, payload, buttons);
  state.rows.set(note.notificationID, li);
  const list = $("notification-list");
  list.prepend(li);
  while (list.children.length > MAX_NOTIFICATIONS) {
    const last = list.lastElementChild;
    state.rows.delete(last.dataset.notificationId);
    last.remove();
  }
  renderCount();
  if ($("auto-ack").checked) answer(note.notificationID, 200);
}

async function answer(notificationID, code) {
  const device = state.device;
  const li = state.rows.get(notificationID);
  if (!device || !li) return;
  const written = await device.acknowledge(notificationID, code);
  const words = code === 200 ? "acknowledged" : "rejected";
  li.dataset.state = words;
  li.querySelector('[data-testid="notification-state"]').textContent = written
    ? words
    : `${words} (sent when reconnected)`;
  for (const button of li.querySelectorAll("button")) button.disabled = true;
}

function renderCount() {
  $("notification-count").textContent = `${state.received} received`;
  $("notifications-empty").hidden = state.rows.size > 0;
}

// ---- connection ---------------------------------------------------------------

function attach(device) {
  device.on("statechange", () => renderState());
  device.on("open", ({ url }) => logEvent("open", `connected to ${url}`));
  device.on("close", ({ code, reason, words, willReconnect }) => {
    const said = reason && !words.startsWith(reason) ? ` (“${reason}”)` : "";
    const text = `closed ${code}: ${words}${said}`;
    $("device-last-close").textContent = text;
    $("device-last-close").dataset.code = String(code);
    logEvent("close", `${text}${willReconnect ? "; reconnecting" : ""}`, { code });
    $("device-node").textContent = "—";
  });
  device.on("reconnecting", ({ attempt, delayMs }) => {
    state.attempts += 1;
    const seconds = (delayMs / 1000).toFixed(1);
    renderAttempts(`attempt ${attempt} in ${seconds} s`);
    renderState(`reconnecting (attempt ${attempt}, in ${seconds} s)…`);
    logEvent("reconnecting", `reconnecting: attempt ${attempt} in ${seconds} s`);
  });
  device.on("reconnected", ({ clientID, url }) => {
    renderAttempts("");
    logEvent("reconnected", `channel of ${clientID} active again on ${url}`);
    renderState();
    showNode();
  });
  device.on("reregistered", ({ clientID, previousClientID, registrationIDs }) => {
    const apps = Object.entries(registrationIDs)
      .map(([applicationID, registrationID]) => `${applicationID} → ${registrationID}`)
      .join(", ");
    logEvent(
      "reregistered",
      `client ${previousClientID} was gone: registered again as ${clientID}` +
        (apps ? `; applications: ${apps}` : ""),
    );
    renderApplications();
  });
  device.on("error", ({ error }) => {
    logEvent("error", `reconnection try failed: ${describeError(error)}`);
  });
  device.on("notification", onNotification);
}

function renderAttempts(now) {
  const done = state.device?.reconnects ?? 0;
  const text = `${done} done, ${state.attempts} tried${now ? `; ${now}` : ""}`;
  $("device-attempts").textContent = text;
}

async function onConnect(event) {
  event.preventDefault();
  showError("connect-error", null);
  const deviceNumber = $("device-number").value.trim();
  if (!deviceNumber || /\s/.test(deviceNumber)) {
    showError("connect-error", "deviceNumber: 1 to 64 characters without spaces.");
    return;
  }
  try {
    localStorage.setItem(NUMBER_STORAGE, deviceNumber);
  } catch {
    // storage disabled
  }
  const needsToken = Boolean(state.config?.deviceAuth);
  const token = needsToken ? () => $("device-token").value.trim() : undefined;
  if (needsToken && !$("device-token").value.trim()) {
    showError("connect-error", "This gateway requires a device token.");
    return;
  }
  $("device-connect").disabled = true;
  const urls = gatewayUrls();
  renderStateText("connecting", "connecting…");
  let device;
  try {
    device = new AoiDevice(urls, { token, reconnect: $("device-reconnect").checked });
    state.device = device;
    state.attempts = 0;
    attach(device);
    await device.open();
    const clientID = await device.register(deviceNumber);
    await device.activate(clientID);
    logEvent("info", `registered ${deviceNumber} as ${clientID}; channel active`);
    renderApplications();
    renderAttempts("");
    showNode();
  } catch (error) {
    const message =
      error?.name === "AoiClosedError" && needsToken
        ? `${describeError(error)}. Is the token valid for this deviceNumber?`
        : describeError(error);
    showError("connect-error", `Could not connect: ${message}`);
    logEvent("error", `connect failed: ${describeError(error)}`);
    await device?.close();
  }
  renderState();
}

function renderStateText(current, text) {
  const element = $("device-state");
  element.dataset.state = current;
  element.textContent = text;
}

async function onDisconnect() {
  const device = state.device;
  if (!device) return;
  await device.close();
  logEvent("info", "disconnected (the client stays registered)");
  renderState();
}

async function onDeregister() {
  const device = state.device;
  const clientID = device?.channelClientID;
  if (!device || !clientID) return;
  showError("connect-error", null);
  try {
    await device.deregister(clientID);
    logEvent("info", `deregistered ${clientID}: its applications and pending ones are gone`);
    await device.close();
    renderApplications();
  } catch (error) {
    showError("connect-error", `Could not deregister: ${describeError(error)}`);
  }
  renderState();
}

// ---- start --------------------------------------------------------------------

async function loadConfig() {
  try {
    const result = await api.config();
    if (result.status !== 200 || typeof result.body !== "object" || result.body === null) {
      throw new Error(`HTTP ${result.status}`);
    }
    state.config = result.body;
    $("served-node").textContent = result.body.nodeID ?? "unknown";
    $("token-field").hidden = !result.body.deviceAuth;
  } catch (error) {
    $("served-node").textContent = "unknown";
    $("token-field").hidden = false; // cannot tell: offer the field, empty means none
    showError(
      "banner",
      `Could not read /console/config.json (${error.message}); a device token may be needed.`,
    );
  }
}

function defaultDeviceNumber() {
  try {
    const kept = localStorage.getItem(NUMBER_STORAGE);
    if (kept) return kept;
  } catch {
    // storage disabled
  }
  const bytes = new Uint8Array(4);
  crypto.getRandomValues(bytes);
  return `browser-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

function start() {
  $("device-number").value = defaultDeviceNumber();
  $("connect-form").addEventListener("submit", onConnect);
  $("device-disconnect").addEventListener("click", onDisconnect);
  $("device-deregister").addEventListener("click", onDeregister);
  $("device-reconnect").addEventListener("change", (event) => {
    if (state.device) state.device.reconnect = event.currentTarget.checked;
  });
  $("app-form").addEventListener("submit", onRegisterApplication);
  $("notifications-clear").addEventListener("click", () => {
    $("notification-list").replaceChildren();
    state.rows.clear();
    renderCount();
  });
  renderState();
  loadConfig();
}

start();
