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

import { AoiDevice } from "./aoi-client.js";
import { onRegisterApplication, renderApplications } from "./device-apps.js";
import {
  $,
  NUMBER_STORAGE,
  api,
  describeError,
  gatewayUrls,
  logEvent,
  renderState,
  showError,
  state,
} from "./device-common.js";
import { onNotification, renderCount } from "./device-notifications.js";

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
