// The operator console's shared parts: the page's state, the admin key, and helpers.

import { AoiAppServer } from "./aoi-client.js";

const KEY_STORAGE = "aoi-console-admin-key";
export const NODES_INTERVAL_MS = 2000;
export const FOLLOW_TIMEOUT_MS = 60_000;
export const OUTCOMES = ["accepted", "sent", "delivered", "rejected", "expired", "cancelled"];
export const CAPITALISED = (word) => word[0].toUpperCase() + word.slice(1);

export const $ = (id) => {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`console: no element #${id}`);
  return element;
};

export const state = {
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

export const api = new AoiAppServer("", { apiKey: storedKey });

/** One API call; a 401 asks for the key again. Resolves with {status, body}. */
export async function call(promise) {
  const result = await promise;
  onUnauthorized(result);
  return result;
}

export function onUnauthorized(result) {
  if (result.status !== 401) return;
  const hadKey = storedKey() !== null;
  storeKey(null);
  askForKey(hadKey ? "The gateway refused this key (401). Enter an admin key." : null);
}

export function renderAuth() {
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

/** The key form's submit; true when a key was stored. */
export function onKeySubmit(event) {
  event.preventDefault();
  const key = $("key-input").value.trim();
  if (!key) {
    showError("key-error", "Enter a key.");
    return false;
  }
  storeKey(key);
  $("key-input").value = "";
  $("key-form").hidden = true;
  showError("key-error", null);
  renderAuth();
  return true;
}

export function onKeyForget() {
  storeKey(null);
  renderAuth();
  if (state.config?.apiKeys) askForKey(null);
}

// ---- helpers ----------------------------------------------------------------------

export function showError(id, message) {
  const element = $(id);
  element.textContent = message ?? "";
  element.hidden = !message;
}

/** The text of an error answer: "404 Not Found: detail". */
export function describe(result) {
  const body = result.body;
  if (body && typeof body === "object" && "code" in body) {
    return `${body.code} ${body.desc ?? ""}${body.detail ? `: ${body.detail}` : ""}`;
  }
  if (result.status === 401) return "401: an admin API key is needed";
  return `HTTP ${result.status}${typeof body === "string" && body ? `: ${body}` : ""}`;
}

export function networkError(error) {
  return `The gateway did not answer: ${error.message}`;
}

export function formatTime(ms) {
  if (typeof ms !== "number") return "—";
  const date = new Date(ms);
  return `${date.toLocaleString()} (${ms})`;
}

export function formatRate(value) {
  if (typeof value !== "number" || !Number.isFinite(value)) return "—";
  return value.toLocaleString(undefined, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
}

export function formatCount(value) {
  return typeof value === "number" ? value.toLocaleString() : "—";
}

export function cell(text, testid, className, label) {
  const td = document.createElement("td");
  td.textContent = text;
  if (testid) td.dataset.testid = testid;
  if (className) td.className = className;
  if (label) td.dataset.label = label; // shown before the value on narrow screens
  return td;
}

export async function copyText(text, button) {
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

export function setStatus(element, status) {
  element.textContent = status ?? "";
  element.dataset.status = status ?? "";
}
