// The operator console's client and notification lookups.

import { FINAL_STATUSES } from "./aoi-client.js";
import {
  $,
  api,
  call,
  copyText,
  describe,
  formatCount,
  formatTime,
  networkError,
  setStatus,
  showError,
  state,
} from "./console-common.js";

// ---- client lookup ----------------------------------------------------------------

export async function onClientLookup(event) {
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

export async function lookUpNotification(notificationID) {
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

export function onNotificationLookup(event) {
  event.preventDefault();
  const id = event.currentTarget.elements.notificationID.value.trim();
  if (id) lookUpNotification(id);
}

export async function onCancel() {
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
