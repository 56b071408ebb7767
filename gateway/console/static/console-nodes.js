// The operator console's nodes section: refreshed every few seconds while shown.

import {
  $,
  CAPITALISED,
  NODES_INTERVAL_MS,
  OUTCOMES,
  api,
  call,
  cell,
  describe,
  formatCount,
  formatRate,
  networkError,
  showError,
  state,
} from "./console-common.js";

// ---- nodes ------------------------------------------------------------------------

export async function refreshNodes() {
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
