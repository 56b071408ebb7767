// Tests of gateway/console/static/aoi-client.js under Node against real gateway nodes.
//
// Run by tests/console/test_js_client.py, which starts two nodes and sets:
//   AOI_NODE_URLS     comma-separated base URLs (http://127.0.0.1:PORT), at least one
//   AOI_TEST_CONTROL  a folder the wrapper watches: a file "signal-<index>" holding a
//                     signal name asks it to send that signal to node <index> (it
//                     deletes the file once sent)
// By hand, against a running node (tests that need a second node or signals skip):
//   AOI_NODE_URLS=http://127.0.0.1:8090 \
//     node --experimental-websocket --test tests/console/aoi-client.test.mjs
//
// Every wait is bounded; nothing synchronises on a fixed sleep.

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { existsSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";

import {
  AoiAppServer,
  AoiClosedError,
  AoiDevice,
  AoiError,
  AoiTimeoutError,
  backoffDelay,
  closeCodeWords,
  withToken,
} from "../../gateway/console/static/aoi-client.js";

const NODE_URLS = (process.env.AOI_NODE_URLS ?? "").split(",").filter(Boolean);
const CONTROL = process.env.AOI_TEST_CONTROL ?? "";
const HTTP = NODE_URLS[0];
const WS = HTTP === undefined ? undefined : `${HTTP.replace(/^http/, "ws")}/ws`;
const TEST_TIMEOUT_MS = 30_000;
const needsNode = {
  timeout: TEST_TIMEOUT_MS,
  skip: HTTP === undefined && "AOI_NODE_URLS is not set",
};

const opened = [];

after(async () => {
  await Promise.all(opened.map((device) => device.close()));
});

function deviceNumber() {
  return `dev-${randomUUID()}`;
}

function wsUrl(httpUrl) {
  return `${httpUrl.replace(/^http/, "ws")}/ws`;
}

async function connect(url = WS, options = {}) {
  const device = await AoiDevice.connect(url, { timeoutMs: 5000, ...options });
  opened.push(device);
  return device;
}

/** A device with a registered client, an active channel and one application. */
async function readyDevice(url = WS, options = {}, applicationID = "com.example.mail") {
  const device = await connect(url, options);
  const clientID = await device.register(deviceNumber());
  await device.activate(clientID);
  const registrationID = await device.registerApplication(clientID, applicationID);
  return { device, clientID, registrationID };
}

/** Poll `probe` until it returns something truthy; fails at the deadline. */
async function eventually(probe, { timeoutMs = 10_000, intervalMs = 50, what = "condition" } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Ask the wrapper to send `signal` to node `index`; resolves once it was sent. */
async function signalNode(index, signal) {
  const request = join(CONTROL, `signal-${index}`);
  const pending = join(CONTROL, `.pending-signal-${index}`);
  writeFileSync(pending, signal);
  renameSync(pending, request); // the wrapper never sees a half-written request
  await eventually(() => !existsSync(request), { timeoutMs: 5000, what: `${signal} sent` });
}

async function finalStatus(api, notificationID) {
  const result = await api.followStatus(notificationID, { timeoutMs: 10_000, intervalMs: 50 });
  assert.equal(result.status, 200);
  return result.body.status;
}

// ---- without a node ---------------------------------------------------------------

describe("closeCodeWords", () => {
  test("names the codes a device meets", () => {
    assert.equal(closeCodeWords(1000), "normal closure");
    assert.match(closeCodeWords(1001), /going away.*draining or restarting/);
    assert.equal(closeCodeWords(1006), "connection lost");
    assert.equal(closeCodeWords(1008), "policy violation");
    assert.equal(closeCodeWords(1009), "message too large");
    assert.match(closeCodeWords(4001), /^superseded \(another connection activated this client\)$/);
    assert.equal(closeCodeWords(4002), "deregistered");
    assert.equal(closeCodeWords(4003), "token expired");
    assert.equal(closeCodeWords("4002"), "deregistered");
    assert.equal(closeCodeWords(4999), "application close code 4999");
    assert.equal(closeCodeWords(1234), "close code 1234");
  });
});

describe("backoffDelay", () => {
  test("full jitter under an exponential ceiling with a cap", () => {
    assert.equal(backoffDelay(0, { random: () => 0 }), 0);
    assert.equal(backoffDelay(0, { random: () => 0.999 }), 499);
    assert.equal(backoffDelay(3, { random: () => 0.5 }), 2000);
    assert.equal(backoffDelay(20, { random: () => 0.999 }), 29_970);
    for (let attempt = 0; attempt < 12; attempt += 1) {
      const delay = backoffDelay(attempt);
      assert.ok(delay >= 0 && delay < Math.min(30_000, 500 * 2 ** attempt), `${attempt}: ${delay}`);
    }
  });
});

describe("withToken", () => {
  test("appends the token as access_token, encoded", () => {
    assert.equal(withToken("ws://h:1/ws", "a.b+c"), "ws://h:1/ws?access_token=a.b%2Bc");
    assert.equal(withToken("ws://h:1/ws?x=1", "t"), "ws://h:1/ws?x=1&access_token=t");
    assert.equal(withToken("ws://h:1/ws", undefined), "ws://h:1/ws");
  });
});

/** A stand-in WebSocket whose "server" answers every request in the test's own way. */
class FakeSocket extends EventTarget {
  static instances = [];
  static answer = () => ({ code: 200, desc: "OK", clientID: "C1", registrationID: "R1" });
  static refuses = () => false;

  constructor(url) {
    super();
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    this.held = [];
    this.holdResponses = false;
    FakeSocket.instances.push(this);
    setTimeout(() => {
      if (this.constructor.refuses(url)) {
        this.dispatchEvent(new Event("error"));
        this.serverClose(1006);
        return;
      }
      this.readyState = 1;
      this.dispatchEvent(new Event("open"));
    }, 1);
  }

  send(text) {
    const frame = JSON.parse(text);
    this.sent.push(frame);
    if (frame.messageType === "notificationDeliveryRes") return;
    const response = {
      messageType: frame.messageType.replace(/Req$/, "Res"),
      transactionID: frame.transactionID,
      ...FakeSocket.answer(frame),
    };
    if (this.holdResponses) this.held.push(response);
    else setTimeout(() => this.push(response), 1);
  }

  push(frame) {
    this.dispatchEvent(new MessageEvent("message", { data: JSON.stringify(frame) }));
  }

  serverClose(code, reason = "") {
    this.readyState = 3;
    const event = new Event("close");
    Object.assign(event, { code, reason, wasClean: true });
    this.dispatchEvent(event);
  }

  close(code = 1000, reason = "") {
    if (this.readyState >= 2) return;
    this.readyState = 2;
    setTimeout(() => this.serverClose(code, reason), 1);
  }
}

describe("AoiDevice with a stand-in WebSocket", () => {
  test("matches responses by transactionID, in any order", async () => {
    FakeSocket.instances = [];
    const device = await AoiDevice.connect("ws://fake/ws", {
      WebSocket: FakeSocket,
      timeoutMs: 2000,
    });
    const socket = FakeSocket.instances[0];
    socket.holdResponses = true;
    FakeSocket.answer = (frame) => ({
      code: 200,
      desc: "OK",
      registrationID: `R-${frame.applicationID}`,
    });
    const first = device.registerApplication("C1", "one");
    const second = device.registerApplication("C1", "two");
    await eventually(() => socket.held.length === 2, { timeoutMs: 2000, what: "two requests" });
    const ids = socket.sent.map((frame) => frame.transactionID);
    assert.equal(new Set(ids).size, 2);
    socket.push(socket.held[1]);
    socket.push(socket.held[0]);
    assert.deepEqual(await Promise.all([first, second]), ["R-one", "R-two"]);
    await device.close();
    assert.equal(device.state, "closed");
  });

  test("a request without an answer times out", async () => {
    FakeSocket.instances = [];
    const device = await AoiDevice.connect("ws://fake/ws", {
      WebSocket: FakeSocket,
      timeoutMs: 100,
    });
    FakeSocket.instances[0].holdResponses = true;
    await assert.rejects(device.register("x"), AoiTimeoutError);
    await device.close();
  });

  test("4003 gets a fresh token from the token function before reconnecting", async () => {
    FakeSocket.instances = [];
    FakeSocket.answer = () => ({ code: 200, desc: "OK", clientID: "C1" });
    let issued = 0;
    const token = async () => `token-${++issued}`;
    const device = await AoiDevice.connect("ws://fake/ws", {
      WebSocket: FakeSocket,
      token,
      timeoutMs: 2000,
      backoffBaseMs: 10,
    });
    const clientID = await device.register("d1");
    await device.activate(clientID);
    assert.equal(new URL(FakeSocket.instances[0].url).searchParams.get("access_token"), "token-1");
    const reconnected = device.waitForEvent("reconnected", { timeoutMs: 2000 });
    const closed = device.waitForEvent("close", { timeoutMs: 2000 });
    FakeSocket.instances[0].serverClose(4003, "expired");
    const close = await closed;
    assert.equal(close.code, 4003);
    assert.equal(close.words, "token expired");
    assert.equal(close.willReconnect, true);
    assert.deepEqual(await reconnected, { clientID: "C1", url: "ws://fake/ws" });
    assert.equal(new URL(FakeSocket.instances[1].url).searchParams.get("access_token"), "token-2");
    const activation = FakeSocket.instances[1].sent.find(
      (frame) => frame.messageType === "notificationChannelActivationReq",
    );
    assert.equal(activation.clientID, "C1");
    await device.close();
  });

  test("acknowledges a redelivered notification again and hands it over once", async () => {
    FakeSocket.instances = [];
    FakeSocket.answer = () => ({ code: 200, desc: "OK", clientID: "C1" });
    const device = await AoiDevice.connect("ws://fake/ws", {
      WebSocket: FakeSocket,
      timeoutMs: 2000,
      backoffBaseMs: 10,
    });
    await device.activate(await device.register("d1"));
    const frame = { messageType: "notificationDeliveryReq", notificationID: "N1", payload: "p" };
    const seen = [];
    device.on("notification", (note) => seen.push(note.notificationID));
    FakeSocket.instances[0].push(frame);
    const note = await device.nextNotification({ timeoutMs: 1000 });
    assert.equal(note.notificationID, "N1");
    assert.equal(await device.acknowledge("N1"), true);
    const reconnected = device.waitForEvent("reconnected", { timeoutMs: 2000 });
    FakeSocket.instances[0].serverClose(1006);
    await reconnected;
    FakeSocket.instances[1].push(frame); // sent again after the activation
    await eventually(() => FakeSocket.instances[1].sent.some((f) => f.notificationID === "N1"), {
      timeoutMs: 1000,
      what: "acknowledged again",
    });
    assert.deepEqual(seen, ["N1"]);
    await assert.rejects(device.nextNotification({ timeoutMs: 50 }), AoiTimeoutError);
    await device.close();
  });

  test("gives up after maxAttempts; a waiting nextNotification then rejects", async () => {
    let up = true;
    class Flaky extends FakeSocket {
      static refuses = () => !up;
    }
    FakeSocket.instances = [];
    FakeSocket.answer = () => ({ code: 200, desc: "OK", clientID: "C1" });
    const device = await AoiDevice.connect("ws://flaky/ws", {
      WebSocket: Flaky,
      timeoutMs: 2000,
      backoffBaseMs: 10,
      maxAttempts: 3,
    });
    await device.activate(await device.register("d1"));
    const attempts = [];
    device.on("reconnecting", ({ attempt }) => attempts.push(attempt));
    const waiting = device.nextNotification({ timeoutMs: 5000 });
    up = false;
    FakeSocket.instances[0].serverClose(1006);
    await assert.rejects(waiting, (error) => {
      assert.ok(error instanceof AoiClosedError);
      assert.match(error.message, /gave up reconnecting after 3 attempts/);
      return true;
    });
    assert.deepEqual(attempts, [1, 2, 3]);
    assert.equal(device.state, "closed");
    await assert.rejects(device.nextNotification({ timeoutMs: 50 }), AoiClosedError);
  });

  test("without reconnect a close ends the device", async () => {
    FakeSocket.instances = [];
    FakeSocket.answer = () => ({ code: 200, desc: "OK", clientID: "C1" });
    const device = await AoiDevice.connect("ws://fake/ws", {
      WebSocket: FakeSocket,
      timeoutMs: 2000,
      reconnect: false,
    });
    await device.activate(await device.register("d1"));
    const closed = device.waitForEvent("close", { timeoutMs: 2000 });
    FakeSocket.instances[0].serverClose(1001, "going away");
    assert.equal((await closed).willReconnect, false);
    assert.equal(device.state, "closed");
    assert.equal(device.closeCode, 1001);
    await assert.rejects(device.register("d1"), AoiClosedError);
    await assert.rejects(device.nextNotification({ timeoutMs: 50 }), /1001 going away/);
  });

  test("tries the URLs of a list in turn", async () => {
    class Refused extends FakeSocket {
      static refuses = (url) => url.includes("down");
    }
    FakeSocket.instances = [];
    const device = await AoiDevice.connect(["ws://down/ws", "ws://up/ws"], {
      WebSocket: Refused,
      timeoutMs: 2000,
    });
    assert.equal(device.url, "ws://up/ws");
    await device.close();
    await assert.rejects(
      AoiDevice.connect(["ws://down/ws"], { WebSocket: Refused, timeoutMs: 2000 }),
      (error) => error instanceof AoiClosedError && /could not connect/.test(error.message),
    );
  });
});

describe("AoiAppServer with a stand-in fetch", () => {
  test("sends the API key, the Idempotency-Key and JSON", async () => {
    const calls = [];
    const fetch = async (url, init) => {
      calls.push({ url, init });
      return new Response(JSON.stringify({ notificationID: "N1", status: "queued" }), {
        status: 202,
      });
    };
    const api = new AoiAppServer("http://gw/", { apiKey: () => "secret-key-0123456789", fetch });
    const options = { ttl: 60, collapseKey: "inbox", idempotencyKey: "k-1" };
    const result = await api.send("R1", "hi", options);
    assert.equal(result.status, 202);
    assert.equal(result.body.notificationID, "N1");
    assert.equal(calls[0].url, "http://gw/v1/notifications");
    assert.equal(calls[0].init.headers.Authorization, "Bearer secret-key-0123456789");
    assert.equal(calls[0].init.headers["Idempotency-Key"], "k-1");
    assert.deepEqual(JSON.parse(calls[0].init.body), {
      registrationID: "R1",
      payload: "hi",
      ttl: 60,
      collapseKey: "inbox",
    });
    await api.clientByDeviceNumber("+49 1");
    assert.equal(calls[1].url, "http://gw/v1/clients?deviceNumber=%2B49%201");
  });

  test("throws on network errors and on timeouts", async () => {
    const down = new AoiAppServer("http://gw", {
      fetch: async () => {
        throw new TypeError("fetch failed");
      },
    });
    await assert.rejects(down.status("N1"), TypeError);
    const slow = new AoiAppServer("http://gw", {
      timeoutMs: 50,
      fetch: (url, init) =>
        new Promise((resolve, reject) => {
          init.signal.addEventListener("abort", () => reject(new Error("aborted")));
        }),
    });
    await assert.rejects(slow.status("N1"), AoiTimeoutError);
  });
});

// ---- against a real node ----------------------------------------------------------

describe("against a node", () => {
  test("handshake, a notification delivered and acknowledged", needsNode, async () => {
    const api = new AoiAppServer(HTTP);
    const { device, clientID, registrationID } = await readyDevice(WS, { token: () => "ignored" });
    assert.match(clientID, /^[A-Za-z0-9_-]{1,64}$/);
    assert.deepEqual(device.applications, new Map([["com.example.mail", registrationID]]));
    const sent = await api.send(registrationID, "you have mail", {
      ttl: 600,
      collapseKey: "inbox",
    });
    assert.equal(sent.status, 202);
    assert.equal(sent.body.status, "queued");
    const note = await device.nextNotification({ timeoutMs: 5000 });
    assert.equal(note.notificationID, sent.body.notificationID);
    assert.equal(note.payload, "you have mail");
    assert.equal(note.applicationID, "com.example.mail");
    const seen = [];
    const following = api.followStatus(note.notificationID, {
      onChange: (body) => seen.push(body.status),
      timeoutMs: 10_000,
      intervalMs: 50,
    });
    assert.equal(await device.acknowledge(note.notificationID), true);
    const followed = await following;
    assert.equal(followed.final, true);
    assert.equal(followed.body.status, "delivered");
    assert.equal(seen.at(-1), "delivered");
    const info = await api.client(clientID);
    assert.equal(info.status, 200);
    assert.equal(info.body.channel.active, true);
    assert.deepEqual(info.body.applications, [
      { applicationID: "com.example.mail", registrationID },
    ]);

    await device.deregisterApplication(clientID, "com.example.mail");
    assert.equal((await api.send(registrationID, "gone")).status, 404);
    await device.deactivate(clientID);
    await eventually(async () => !(await api.client(clientID)).body.channel.active, {
      what: "channel inactive",
    });
    await device.deregister(clientID);
    assert.equal((await api.client(clientID)).status, 404);
    await device.close();
    assert.equal(device.state, "closed");
    await assert.rejects(device.nextNotification({ timeoutMs: 1000 }), (error) => {
      assert.ok(error instanceof AoiClosedError);
      assert.match(error.message, /closed.*not reconnecting/);
      return true;
    });
  });

  test("a rejected notification ends as rejected", needsNode, async () => {
    const api = new AoiAppServer(HTTP);
    const { device, registrationID } = await readyDevice();
    const sent = await api.send(registrationID, "not for me");
    const note = await device.nextNotification({ timeoutMs: 5000 });
    assert.equal(note.notificationID, sent.body.notificationID);
    await device.reject(note.notificationID);
    assert.equal(await finalStatus(api, note.notificationID), "rejected");
  });

  test("error codes", needsNode, async () => {
    const device = await connect();
    await assert.rejects(device.activate("unknownClient0000000000000000000"), (error) => {
      assert.ok(error instanceof AoiError);
      assert.equal(error.code, 404);
      assert.equal(error.desc, "Not Found");
      assert.equal(typeof error.detail, "string");
      return true;
    });
    await assert.rejects(device.deregister("unknownClient0000000000000000000"), { code: 404 });
    await assert.rejects(device.register("has space"), (error) => {
      assert.ok(error instanceof AoiError);
      assert.equal(error.code, 400);
      assert.match(error.detail, /deviceNumber/);
      return true;
    });
    await assert.rejects(
      device.registerApplication("unknownClient0000000000000000000", "com.app"),
      { name: "AoiError", code: 404 },
    );
    await assert.rejects(device.nextNotification({ timeoutMs: 50 }), AoiTimeoutError);
    const api = new AoiAppServer(HTTP);
    const unknown = await api.status("unknownNotification000000000000");
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.code, 404);
    assert.equal((await api.cancel("unknownNotification000000000000")).status, 404);
    assert.equal((await api.client("unknownClient0000000000000000000")).status, 404);
    assert.equal((await api.send("unknownRegistration0000000000000", "x")).status, 404);
    await device.close();
  });

  test("cancel and batches over HTTP", needsNode, async () => {
    const api = new AoiAppServer(HTTP);
    const device = await connect();
    const clientID = await device.register(deviceNumber());
    const registrationID = await device.registerApplication(clientID, "com.app"); // no channel
    const first = await api.send(registrationID, "to cancel");
    assert.equal(first.status, 202);
    const batch = await api.sendBatch([
      { registrationID, payload: "a" },
      { registrationID: "unknownRegistration0000000000000", payload: "b" },
    ]);
    assert.equal(batch.status, 200);
    assert.equal(batch.body.results[0].status, "queued");
    assert.equal(batch.body.results[1].code, 404);
    const cancelled = await api.cancel(first.body.notificationID);
    assert.equal(cancelled.status, 204);
    assert.equal(cancelled.body, null);
    const final = await api.cancel(first.body.notificationID);
    assert.equal(final.status, 409);
    assert.equal(final.body.code, 409);
    assert.equal((await api.status(first.body.notificationID)).body.status, "cancelled");
    await device.deregister(clientID);
    await device.close();
  });

  test("idempotent sends, where the node implements them", needsNode, async (t) => {
    const api = new AoiAppServer(HTTP);
    const device = await connect();
    const clientID = await device.register(deviceNumber());
    const registrationID = await device.registerApplication(clientID, "com.app");
    const first = await api.send(registrationID, "once", { idempotencyKey: "key-1" });
    const again = await api.send(registrationID, "once", { idempotencyKey: "key-1" });
    assert.equal(first.status, 202);
    assert.equal(again.status, 202);
    if (again.headers.get("Idempotent-Replayed") === null) {
      t.skip("this node does not implement Idempotency-Key (contract 2.6) yet");
      return;
    }
    assert.equal(again.headers.get("Idempotent-Replayed"), "true");
    assert.equal(again.body.notificationID, first.body.notificationID);
    assert.equal((await api.client(clientID)).body.pendingNotifications, 1);
  });

  test("console endpoints: deviceNumber lookup, the fleet, config.json", needsNode, async () => {
    const api = new AoiAppServer(HTTP);
    const device = await connect();
    const number = deviceNumber();
    const clientID = await device.register(number);
    await device.activate(clientID);
    const registrationID = await device.registerApplication(clientID, "com.app");
    const byNumber = await api.clientByDeviceNumber(number);
    assert.equal(byNumber.status, 200);
    assert.deepEqual(byNumber.body, (await api.client(clientID)).body);
    assert.deepEqual(byNumber.body.applications, [{ applicationID: "com.app", registrationID }]);
    const unknown = await api.clientByDeviceNumber(deviceNumber());
    assert.equal(unknown.status, 404);
    assert.match(unknown.body.detail, /^deviceNumber:/);
    const bad = await api.clientByDeviceNumber("has space");
    assert.equal(bad.status, 400);
    assert.match(bad.body.detail, /^deviceNumber:/);

    const config = await api.config();
    assert.equal(config.status, 200);
    assert.deepEqual(Object.keys(config.body).sort(), ["apiKeys", "deviceAuth", "nodeID"]);
    assert.equal(config.body.apiKeys, false);
    assert.equal(config.body.deviceAuth, false);

    const nodes = await api.nodes();
    assert.equal(nodes.status, 200);
    assert.equal(typeof nodes.body.now, "number");
    const served = nodes.body.nodes.find((node) => node.nodeID === config.body.nodeID);
    assert.ok(served, `the serving node ${config.body.nodeID} is listed`);
    assert.ok(nodes.body.nodes.length >= Math.min(2, NODE_URLS.length));
    for (const node of nodes.body.nodes) {
      assert.equal(typeof node.ready, "boolean");
      assert.equal(typeof node.draining, "boolean");
      assert.equal(typeof node.connections, "number");
      assert.equal(typeof node.channels, "number");
      assert.equal(typeof node.updatedTime, "number");
      assert.deepEqual(Object.keys(node.notificationsPerSecond).sort(), [
        "accepted",
        "cancelled",
        "delivered",
        "expired",
        "rejected",
        "sent",
      ]);
    }
  });

  test("4001: a superseded device backs off longer each time", needsNode, async () => {
    const { device, clientID } = await readyDevice(WS, { backoffBaseMs: 100, random: () => 0.99 });
    const delays = [];
    device.on("reconnecting", (detail) => delays.push(detail.delayMs));
    for (let round = 0; round < 2; round += 1) {
      const closed = device.waitForEvent("close", { timeoutMs: 5000 });
      const back = device.waitForEvent("reconnected", { timeoutMs: 5000 });
      const rival = await connect(WS, { reconnect: false });
      await rival.activate(clientID);
      const close = await closed;
      assert.equal(close.code, 4001);
      assert.equal(close.reason, "superseded");
      assert.match(close.words, /superseded/);
      await back;
      assert.equal((await rival.waitClosed({ timeoutMs: 5000 })), 4001); // taken back
      assert.equal(rival.state, "closed");
    }
    assert.deepEqual(delays, [99, 198]);
  });

  test("re-registers after a 4002 from another connection", needsNode, async () => {
    const api = new AoiAppServer(HTTP);
    const { device, clientID, registrationID } = await readyDevice(WS, { backoffBaseMs: 50 });
    const number = device.deviceNumber;
    const closed = device.waitForEvent("close", { timeoutMs: 5000 });
    const reregistered = device.waitForEvent("reregistered", { timeoutMs: 10_000 });
    const reconnected = device.waitForEvent("reconnected", { timeoutMs: 10_000 });
    const other = await connect(WS, { reconnect: false });
    await other.deregister(clientID);
    const close = await closed;
    assert.equal(close.code, 4002);
    assert.equal(close.words, "deregistered");
    assert.equal(close.willReconnect, true);
    const again = await reregistered;
    assert.equal(again.previousClientID, clientID);
    assert.notEqual(again.clientID, clientID);
    const newRegistration = again.registrationIDs["com.example.mail"];
    assert.ok(newRegistration && newRegistration !== registrationID);
    assert.equal((await reconnected).clientID, again.clientID);
    assert.equal(device.channelClientID, again.clientID);
    assert.equal(device.deviceNumber, number);
    assert.equal((await api.send(registrationID, "old")).status, 404);
    const sent = await api.send(newRegistration, "to the new registration");
    const note = await device.nextNotification({ timeoutMs: 5000 });
    assert.equal(note.notificationID, sent.body.notificationID);
    await device.acknowledge(note.notificationID);
    assert.equal(await finalStatus(api, note.notificationID), "delivered");
    const info = await api.client(again.clientID);
    assert.equal(info.body.deviceNumber, number);
    await other.close();
  });

  test(
    "reconnects to the other node when its node drains, losing nothing",
    {
      timeout: TEST_TIMEOUT_MS,
      skip: (NODE_URLS.length < 2 || CONTROL === "") && "needs two nodes and AOI_TEST_CONTROL",
    },
    async () => {
      // Node 1 drains; node 0 stays and serves the HTTP calls.
      const drained = wsUrl(NODE_URLS[1]);
      const api = new AoiAppServer(HTTP);
      const { device, clientID, registrationID } = await readyDevice([drained, WS], {
        backoffBaseMs: 100,
      });
      assert.equal(device.url, drained);
      const sentIDs = [];
      for (let i = 0; i < 3; i += 1) {
        sentIDs.push((await api.send(registrationID, `before ${i}`)).body.notificationID);
      }
      const early = await device.nextNotification({ timeoutMs: 5000 });
      await device.acknowledge(early.notificationID);
      // The other two are received but not acknowledged when the node goes away.
      const unacknowledged = [
        await device.nextNotification({ timeoutMs: 5000 }),
        await device.nextNotification({ timeoutMs: 5000 }),
      ];
      const closes = [];
      device.on("close", (detail) => closes.push(detail));
      const reconnected = device.waitForEvent("reconnected", { timeoutMs: 15_000 });
      await signalNode(1, "SIGTERM");
      const back = await reconnected;
      assert.equal(back.clientID, clientID);
      assert.equal(device.url, WS);
      assert.equal(closes[0].code, 1001);
      assert.match(closes[0].words, /going away/);
      for (const note of unacknowledged) await device.acknowledge(note.notificationID);
      for (let i = 0; i < 2; i += 1) {
        sentIDs.push((await api.send(registrationID, `after ${i}`)).body.notificationID);
      }
      const handed = [early, ...unacknowledged].map((note) => note.notificationID);
      while (handed.length < sentIDs.length) {
        const note = await device.nextNotification({ timeoutMs: 5000 });
        handed.push(note.notificationID);
        await device.acknowledge(note.notificationID);
      }
      assert.deepEqual(handed, sentIDs); // each once, in order
      for (const notificationID of sentIDs) {
        assert.equal(await finalStatus(api, notificationID), "delivered");
      }
      const info = await api.client(clientID);
      assert.equal(info.body.channel.active, true);
      assert.equal(info.body.pendingNotifications, 0);
    },
  );
});
