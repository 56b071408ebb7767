// The device page's shared parts: its state, the API client, the event log and helpers.

import { AoiAppServer } from "./aoi-client.js";

const KEY_STORAGE = "aoi-console-admin-key"; // the console's admin key, if this tab has one
export const NUMBER_STORAGE = "aoi-device-number";
const MAX_EVENTS = 200;
export const MAX_NOTIFICATIONS = 200;
export const REJECT_CODE = 404; // "app not installed"

export const $ = (id) => {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`device page: no element #${id}`);
  return element;
};

export const state = {
  config: null,
  device: null,
  received: 0,
  attempts: 0,
  rows: new Map(), // notificationID -> li
};

export const api = new AoiAppServer("", {
  apiKey: () => {
    try {
      return sessionStorage.getItem(KEY_STORAGE);
    } catch {
      return null;
    }
  },
});

export function gatewayUrls() {
  const listed = new URLSearchParams(location.search).get("ws");
  if (listed) return listed.split(",").map((url) => url.trim()).filter(Boolean);
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return [`${scheme}//${location.host}/ws`];
}

export function showError(id, message) {
  const element = $(id);
  element.textContent = message ?? "";
  element.hidden = !message;
}

export function describeError(error) {
  if (error?.name === "AoiError") {
    return `${error.code} ${error.desc ?? ""}${error.detail ? `: ${error.detail}` : ""}`;
  }
  return error?.message ?? String(error);
}

export function logEvent(kind, text, { code } = {}) {
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

export function renderState(detail) {
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
