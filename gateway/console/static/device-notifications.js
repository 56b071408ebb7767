// The device page's notifications: received, shown, acknowledged or rejected.

import { $, MAX_NOTIFICATIONS, REJECT_CODE, state } from "./device-common.js";

// ---- notifications --------------------------------------------------------------

export function onNotification(note) {
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

export function renderCount() {
  $("notification-count").textContent = `${state.received} received`;
  $("notifications-empty").hidden = state.rows.size > 0;
}
