// Operator console (/console): the fleet's nodes, client and notification lookups,
// and a send form whose result follows the notification's status live.
//
// Element ids (each also as data-testid) for browser tests:
//   served-node            nodeID of the node that served the page (from config.json)
//   banner                 page-wide error (config.json unreadable)
//   auth                   access section
//     auth-open            shown when no API keys are configured (the API is open)
//     auth-status          "Using an admin key ..." when a key is stored
//     key-form, key-input, key-submit, key-error   admin key form (shown when needed, on 401)
//     key-forget           forget the stored key
//   nodes                  nodes section
//     nodes-summary, nodes-updated, nodes-error
//     nodes-table, nodes-body
//       each row: data-testid="node-row", data-node-id, data-ready, data-draining;
//       cells: data-testid node-id, node-state, node-connections, node-channels,
//       node-rate-accepted, node-rate-sent, node-rate-delivered, node-rate-rejected,
//       node-rate-expired, node-rate-cancelled
//   send                   send section
//     send-form, send-registration-id, send-payload, send-ttl, send-collapse-key, send-submit
//     send-result, send-notification-id, send-lookup, send-timeline (li data-status),
//     send-status (data-status: queued|sent|delivered|rejected|expired|cancelled), send-error
//   client                 client lookup section
//     client-form, client-by-id, client-by-number (radios), client-query, client-submit
//     client-result, client-id, client-device-number, client-channel (data-active),
//     client-node, client-pending, client-apps (li data-testid="client-app",
//     data-application-id; buttons data-testid "client-app-use", "client-app-copy"),
//     client-apps-empty, client-error
//   notification           notification lookup section
//     notification-form, notification-id, notification-submit
//     notification-result, notification-result-id, notification-registration-id,
//     notification-status (data-status), notification-accepted, notification-finished,
//     notification-cancel, notification-refresh, notification-message, notification-error

import { AoiAppServer, FINAL_STATUSES } from "./aoi-client.js";

const KEY_STORAGE = "aoi-console-admin-key";
const NODES_INTERVAL_MS = 2000;
const FOLLOW_TIMEOUT_MS = 60_000;
const OUTCOMES = ["accepted", "sent", "delivered", "rejected", "expired", "cancelled"];
const CAPITALISED = (word) => word[0].toUpperCase() + word.slice(1);

const $ = (id) => {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`console: no element #${id}`);
  return element;
};

const state = {
  config: null,
  nodesTimer: null,
  nodesBusy: false,
  following: null, // AbortController of the send result being followed
  shownNotification: null, // notificationID in the lookup panel
};

// ---- the admin key ----------------------------------------------------------------

function storedKey() {
  try {
    return sessionStorage.getItem(KEY_STORAGE) || null;
  } catch {
    return null; // storage disabled: no key can be kept
  }
}

function storeKey(key) {
  try {
    if (key) sessionStorage.setItem(KEY_STORAGE, key);
    else sessionStorage.removeItem(KEY_STORAGE);
  } catch {
    // storage disabled
  }
}

const api = new AoiAppServer("", { apiKey: storedKey });

/** One API call; a 401 asks for the key again. Resolves with {status, body}. */
async function call(promise) {
  const result = await promise;
  onUnauthorized(result);
  return result;
}

function onUnauthorized(result) {
  if (result.status !== 401) return;
  const hadKey = storedKey() !== null;
  storeKey(null);
  askForKey(hadKey ? "The gateway refused this key (401). Enter an admin key." : null);
}

function renderAuth() {
  const apiKeys = state.config?.apiKeys;
  const key = storedKey();
  $("auth-open").hidden = apiKeys !== false;
  $("auth-status").hidden = !(apiKeys && key);
  $("auth-status").textContent = key ? "Using the admin key kept in this tab's session." : "";
  $("key-forget").hidden = !key;
  if (apiKeys && !key) askForKey(null);
}

function askForKey(message) {
  $("key-form").hidden = false;
  $("auth-status").hidden = true;
  $("key-forget").hidden = true;
  showError("key-error", message);
  if (document.activeElement === document.body) $("key-input").focus();
}

function onKeySubmit(event) {
  event.preventDefault();
  const key = $("key-input").value.trim();
  if (!key) {
    showError("key-error", "Enter a key.");
    return;
  }
  storeKey(key);
  $("key-input").value = "";
  $("key-form").hidden = true;
  showError("key-error", null);
  renderAuth();
  refreshNodes();
}

function onKeyForget() {
  storeKey(null);
  renderAuth();
  if (state.config?.apiKeys) askForKey(null);
}

// ---- helpers ----------------------------------------------------------------------

function showError(id, message) {
  const element = $(id);
  element.textContent = message ?? "";
  element.hidden = !message;
}

/** The text of an error answer: "404 Not Found: detail". */
function describe(result) {
  const body = result.body;
  if (body && typeof body === "object" && "code" in body) {
    return `${body.code} ${body.desc ?? ""}${body.detail ? `: ${body.detail}` : ""}`;
  }
  if (result.status === 401) return "401: an admin API key is needed";
  return `HTTP ${result.status}${typeof body === "string" && body ? `: ${body}` : ""}`;
}

function networkError(error) {
  return `The gateway did not answer: ${error.message}`;
}

function formatTime(ms) {
  if (typeof ms !== "number") return "—";
  const date = new Date(ms);
  return `${date.toLocaleString()} (${ms})`;
}

function formatRate(value) {
  if (typeof value !== "number" || !Number.isFinite(value)) return "—";
  return value.toLocaleString(undefined, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
}

function formatCount(value) {
  return typeof value === "number" ? value.toLocaleString() : "—";
}

function cell(text, testid, className, label) {
  const td = document.createElement("td");
  td.textContent = text;
  if (testid) td.dataset.testid = testid;
  if (className) td.className = className;
  if (label) td.dataset.label = label; // shown before the value on narrow screens
  return td;
}

async function copyText(text, button) {
  const label = button.textContent;
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch {
    button.textContent = "Copy failed";
  }
  setTimeout(() => {
    button.textContent = label;
  }, 1500);
}

function setStatus(element, status) {
  element.textContent = status ?? "";
  element.dataset.status = status ?? "";
}

// ---- nodes ------------------------------------------------------------------------

async function refreshNodes() {
  if (state.nodesBusy) return;
  clearTimeout(state.nodesTimer);
  if (document.hidden) {
    // Not shown: check again later, refreshed at once when the tab is shown.
    state.nodesTimer = setTimeout(refreshNodes, NODES_INTERVAL_MS);
    return;
  }
  state.nodesBusy = true;
  try {
    const result = await call(api.nodes());
    if (result.status === 200) {
      showError("nodes-error", null);
      renderNodes(result.body);
    } else if (result.status === 401) {
      showError("nodes-error", "An admin API key is needed to list the nodes.");
      renderNodesPlaceholder("Enter an admin key to see the nodes.");
    } else if (result.status === 403) {
      showError("nodes-error", "This key is not an admin key (scope *): it cannot list nodes.");
    } else {
      showError("nodes-error", `Could not list the nodes: ${describe(result)}`);
    }
  } catch (error) {
    showError("nodes-error", networkError(error));
  } finally {
    state.nodesBusy = false;
    state.nodesTimer = setTimeout(refreshNodes, NODES_INTERVAL_MS);
  }
}

function renderNodesPlaceholder(text) {
  if ($("nodes-body").querySelector('[data-testid="node-row"]')) return; // keep the last known
  const tr = document.createElement("tr");
  tr.className = "placeholder";
  const td = cell(text);
  td.colSpan = 10;
  tr.append(td);
  $("nodes-body").replaceChildren(tr);
}

function renderNodes(body) {
  const nodes = [...(body?.nodes ?? [])].sort((a, b) => String(a.nodeID).localeCompare(b.nodeID));
  const rows = nodes.map(nodeRow);
  if (rows.length === 0) {
    const tr = document.createElement("tr");
    tr.className = "placeholder";
    const td = cell("No live node reported.");
    td.colSpan = 10;
    tr.append(td);
    rows.push(tr);
  }
  $("nodes-body").replaceChildren(...rows);
  const connections = nodes.reduce((sum, node) => sum + (node.connections ?? 0), 0);
  const channels = nodes.reduce((sum, node) => sum + (node.channels ?? 0), 0);
  const ready = nodes.filter((node) => node.ready && !node.draining).length;
  $("nodes-summary").textContent =
    `${nodes.length} node${nodes.length === 1 ? "" : "s"}, ${ready} ready; ` +
    `${connections.toLocaleString()} connections, ${channels.toLocaleString()} active channels.`;
  const at = typeof body?.now === "number" ? new Date(body.now) : new Date();
  $("nodes-updated").textContent = ` Updated ${at.toLocaleTimeString()}.`;
}

function nodeRow(node) {
  const tr = document.createElement("tr");
  tr.dataset.testid = "node-row";
  tr.dataset.nodeId = node.nodeID;
  tr.dataset.ready = String(Boolean(node.ready));
  tr.dataset.draining = String(Boolean(node.draining));
  const th = document.createElement("th");
  th.scope = "row";
  th.dataset.testid = "node-id";
  const code = document.createElement("code");
  code.textContent = node.nodeID;
  th.append(code);
  if (node.nodeID === state.config?.nodeID) {
    const mark = document.createElement("span");
    mark.className = "tag";
    mark.textContent = "this page";
    th.append(" ", mark);
  }
  const stateCell = cell("", "node-state", undefined, "State");
  const badge = document.createElement("span");
  const [label, kind] = node.draining
    ? ["draining", "warning"]
    : node.ready
      ? ["ready", "ok"]
      : ["not ready", "bad"];
  badge.className = `badge badge-${kind}`;
  badge.textContent = label;
  stateCell.append(badge);
  tr.append(
    th,
    stateCell,
    cell(formatCount(node.connections), "node-connections", "num", "Connections"),
    cell(formatCount(node.channels), "node-channels", "num", "Active channels"),
    ...OUTCOMES.map((outcome) =>
      cell(
        formatRate(node.notificationsPerSecond?.[outcome]),
        `node-rate-${outcome}`,
        "num",
        `${CAPITALISED(outcome)}/s`,
      ),
    ),
  );
  return tr;
}

// ---- send -------------------------------------------------------------------------

function sendOptions(form) {
  const options = {};
  const ttl = form.elements.ttl.value.trim();
  if (ttl !== "") {
    const number = Number(ttl);
    if (!Number.isInteger(number) || number < 0 || number > 2_419_200) {
      throw new RangeError("TTL: a whole number of seconds from 0 to 2419200");
    }
    options.ttl = number;
  }
  const collapseKey = form.elements.collapseKey.value;
  if (collapseKey !== "") options.collapseKey = collapseKey;
  return options;
}

async function onSend(event) {
  event.preventDefault();
  const form = event.currentTarget;
  showError("send-error", null);
  let options;
  try {
    options = sendOptions(form);
  } catch (error) {
    showError("send-error", error.message);
    return;
  }
  const registrationID = form.elements.registrationID.value.trim();
  const button = $("send-submit");
  button.disabled = true;
  state.following?.abort();
  try {
    const result = await call(api.send(registrationID, form.elements.payload.value, options));
    if (result.status !== 202) {
      $("send-result").hidden = true;
      showError("send-error", `Not accepted: ${describe(result)}`);
      return;
    }
    followSent(result.body.notificationID);
  } catch (error) {
    showError("send-error", networkError(error));
  } finally {
    button.disabled = false;
  }
}

function followSent(notificationID) {
  const following = new AbortController();
  state.following = following;
  $("send-result").hidden = false;
  $("send-notification-id").textContent = notificationID;
  $("send-timeline").replaceChildren();
  setStatus($("send-status"), "queued");
  const started = performance.now();
  const mark = (status) => {
    const li = document.createElement("li");
    li.dataset.status = status;
    li.textContent = `${status} +${Math.round(performance.now() - started)} ms`;
    $("send-timeline").append(li);
  };
  mark("queued");
  let last = "queued";
  api
    .followStatus(notificationID, {
      timeoutMs: FOLLOW_TIMEOUT_MS,
      intervalMs: 200,
      signal: following.signal,
      onChange: (body, result) => {
        if (following.signal.aborted) return;
        if (result.status !== 200) return;
        if (body.status !== last) {
          last = body.status;
          mark(body.status);
          setStatus($("send-status"), body.status);
        }
      },
    })
    .then((result) => {
      if (following.signal.aborted) return;
      onUnauthorized(result);
      if (result.status !== 200) {
        showError("send-error", `Could not follow the status: ${describe(result)}`);
      } else if (result.timedOut) {
        const seconds = FOLLOW_TIMEOUT_MS / 1000;
        $("send-status").textContent = `${last} (stopped following after ${seconds} s)`;
      }
    })
    .catch((error) => {
      if (!following.signal.aborted) showError("send-error", networkError(error));
    });
}

// ---- client lookup ----------------------------------------------------------------

async function onClientLookup(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const query = form.elements.query.value.trim();
  const by = form.elements.by.value;
  showError("client-error", null);
  $("client-submit").disabled = true;
  try {
    const lookup = by === "deviceNumber" ? api.clientByDeviceNumber(query) : api.client(query);
    const result = await call(lookup);
    if (result.status === 200) {
      renderClient(result.body);
    } else {
      $("client-result").hidden = true;
      const what = by === "deviceNumber" ? "deviceNumber" : "clientID";
      showError(
        "client-error",
        result.status === 404 && result.body?.detail?.startsWith?.("path:") !== true
          ? `No client with this ${what}. (${describe(result)})`
          : describe(result),
      );
    }
  } catch (error) {
    showError("client-error", networkError(error));
  } finally {
    $("client-submit").disabled = false;
  }
}

function renderClient(body) {
  $("client-result").hidden = false;
  $("client-id").textContent = body.clientID;
  $("client-device-number").textContent = body.deviceNumber;
  const active = Boolean(body.channel?.active);
  const channel = $("client-channel");
  channel.dataset.active = String(active);
  channel.replaceChildren();
  const badge = document.createElement("span");
  badge.className = `badge badge-${active ? "ok" : "muted"}`;
  badge.textContent = active ? "active" : "inactive";
  channel.append(badge);
  $("client-node").textContent = active ? (body.channel.node ?? "unknown") : "—";
  $("client-pending").textContent = formatCount(body.pendingNotifications);
  const apps = (body.applications ?? []).map(applicationItem);
  $("client-apps").replaceChildren(...apps);
  $("client-apps-empty").hidden = apps.length > 0;
}

function applicationItem(app) {
  const li = document.createElement("li");
  li.dataset.testid = "client-app";
  li.dataset.applicationId = app.applicationID;
  const name = document.createElement("span");
  name.className = "app-name";
  name.textContent = app.applicationID;
  const id = document.createElement("code");
  id.textContent = app.registrationID;
  const use = document.createElement("button");
  use.type = "button";
  use.className = "secondary small";
  use.dataset.testid = "client-app-use";
  use.textContent = "Send to it";
  use.setAttribute("aria-label", `Send to ${app.applicationID}`);
  use.addEventListener("click", () => {
    $("send-registration-id").value = app.registrationID;
    $("send-payload").focus();
  });
  const copy = document.createElement("button");
  copy.type = "button";
  copy.className = "secondary small";
  copy.dataset.testid = "client-app-copy";
  copy.textContent = "Copy";
  copy.setAttribute("aria-label", `Copy the registrationID of ${app.applicationID}`);
  copy.addEventListener("click", () => copyText(app.registrationID, copy));
  li.append(name, id, use, copy);
  return li;
}

// ---- notification lookup ----------------------------------------------------------

async function lookUpNotification(notificationID) {
  showError("notification-error", null);
  showError("notification-message", null);
  $("notification-submit").disabled = true;
  try {
    const result = await call(api.status(notificationID));
    if (result.status === 200) {
      renderNotification(result.body);
    } else {
      $("notification-result").hidden = true;
      state.shownNotification = null;
      showError(
        "notification-error",
        result.status === 404 ? `No such notification. (${describe(result)})` : describe(result),
      );
    }
  } catch (error) {
    showError("notification-error", networkError(error));
  } finally {
    $("notification-submit").disabled = false;
  }
}

function renderNotification(body) {
  state.shownNotification = body.notificationID;
  $("notification-result").hidden = false;
  $("notification-result-id").textContent = body.notificationID;
  $("notification-registration-id").textContent = body.registrationID;
  setStatus($("notification-status"), body.status);
  $("notification-accepted").textContent = formatTime(body.acceptedTime);
  $("notification-finished").textContent =
    body.finishedTime === undefined ? "not yet" : formatTime(body.finishedTime);
  const cancel = $("notification-cancel");
  cancel.disabled = FINAL_STATUSES.includes(body.status);
  cancel.title = cancel.disabled ? "Already final: nothing to cancel" : "";
}

function onNotificationLookup(event) {
  event.preventDefault();
  const id = event.currentTarget.elements.notificationID.value.trim();
  if (id) lookUpNotification(id);
}

async function onCancel() {
  const notificationID = state.shownNotification;
  if (!notificationID) return;
  showError("notification-error", null);
  showError("notification-message", null);
  const cancel = $("notification-cancel");
  cancel.disabled = true;
  try {
    const result = await call(api.cancel(notificationID));
    if (result.status === 204) {
      await lookUpNotification(notificationID);
      showError("notification-message", "Cancelled.");
    } else if (result.status === 409) {
      await lookUpNotification(notificationID);
      showError("notification-error", `Already final: not cancelled. (${describe(result)})`);
    } else {
      cancel.disabled = false;
      showError("notification-error", describe(result));
    }
  } catch (error) {
    cancel.disabled = false;
    showError("notification-error", networkError(error));
  }
}

// ---- start ------------------------------------------------------------------------

async function loadConfig() {
  try {
    const result = await api.config();
    if (result.status !== 200 || typeof result.body !== "object" || result.body === null) {
      throw new Error(describe(result));
    }
    state.config = result.body;
    $("served-node").textContent = result.body.nodeID ?? "unknown";
    showError("banner", null);
  } catch (error) {
    $("served-node").textContent = "unknown";
    showError(
      "banner",
      `Could not read /console/config.json (${error.message}); ` +
        "if the gateway asks for an API key, the console will ask for one.",
    );
  }
}

function start() {
  $("key-form").addEventListener("submit", onKeySubmit);
  $("key-forget").addEventListener("click", onKeyForget);
  $("send-form").addEventListener("submit", onSend);
  $("send-lookup").addEventListener("click", () => {
    const id = $("send-notification-id").textContent;
    $("notification-id").value = id;
    lookUpNotification(id);
    $("notification").scrollIntoView({ behavior: "smooth", block: "nearest" });
  });
  $("client-form").addEventListener("submit", onClientLookup);
  for (const radio of [$("client-by-id"), $("client-by-number")]) {
    radio.addEventListener("change", () => {
      document.querySelector('label[for="client-query"]').textContent = radio.value;
    });
  }
  $("notification-form").addEventListener("submit", onNotificationLookup);
  $("notification-cancel").addEventListener("click", onCancel);
  $("notification-refresh").addEventListener("click", () => {
    if (state.shownNotification) lookUpNotification(state.shownNotification);
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") refreshNodes();
  });
  loadConfig().then(() => {
    renderAuth();
    refreshNodes();
  });
}

start();
