// The device page's applications: registered, listed, sent to.

import { $, describeError, logEvent, renderState, showError, state } from "./device-common.js";

// ---- applications -------------------------------------------------------------

export function renderApplications() {
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

export async function onRegisterApplication(event) {
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
