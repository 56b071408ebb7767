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

import {
  $,
  FOLLOW_TIMEOUT_MS,
  api,
  call,
  describe,
  networkError,
  onKeyForget,
  onKeySubmit,
  onUnauthorized,
  renderAuth,
  setStatus,
  showError,
  state,
} from "./console-common.js";
import {
  lookUpNotification,
  onCancel,
  onClientLookup,
  onNotificationLookup,
} from "./console-lookups.js";
import { refreshNodes } from "./console-nodes.js";

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
  $("key-form").addEventListener("submit", (event) => {
    if (onKeySubmit(event)) refreshNodes();
  });
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
