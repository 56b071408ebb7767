// AOI Gateway client library: a device (AOI-1 over WebSocket) and an application
// server (the HTTP API). Plain ES module, no dependencies; runs in browsers and in
// Node 20+ (there `node --experimental-websocket`, or pass a WebSocket constructor).
//
// Served by every node as /console/aoi-client.js. It mirrors gateway/client.py:
//
//   import { AoiDevice, AoiAppServer, closeCodeWords } from "/console/aoi-client.js";
//   const device = await AoiDevice.connect("ws://127.0.0.1:8080/ws", { token });
//   const clientID = await device.register("5465465416846865465");
//   await device.activate(clientID);
//   const registrationID = await device.registerApplication(clientID, "com.example.mail");
//   const note = await device.nextNotification({ timeoutMs: 5000 });
//   await device.acknowledge(note.notificationID);
//
//   const api = new AoiAppServer("http://127.0.0.1:8080", { apiKey });
//   const { status, body } = await api.send(registrationID, "you have mail");
//   await api.followStatus(body.notificationID, { onChange: (s) => console.log(s.status) });
//
// Every wait is bounded (timeoutMs, default 10 s). Events of an AoiDevice, each a
// CustomEvent whose `detail` is given here (also delivered to `device.on(type, fn)`
// and to the `on: {type: fn}` option, which receive the detail itself):
//   notification  the notificationDeliveryReq frame (each notificationID once)
//   open          {url}                      a websocket opened
//   close         {code, reason, words, wasClean, willReconnect}
//   reconnecting  {attempt, delayMs, code}   waiting before the next try
//   reconnected   {clientID, url}            channel active again after a close
//   reregistered  {clientID, previousClientID, registrationIDs: {applicationID: registrationID}}
//   statechange   {state}                    connecting|open|reconnecting|closed
//   error         {error}                    a reconnection try failed (it goes on)

export const DEFAULT_TIMEOUT_MS = 10_000;
export const FINAL_STATUSES = Object.freeze(["delivered", "rejected", "expired", "cancelled"]);

const CLOSE_WORDS = new Map([
  [1000, "normal closure"],
  [1001, "going away (node draining or restarting)"],
  [1002, "protocol error"],
  [1003, "unsupported data (binary frame)"],
  [1005, "no status code"],
  [1006, "connection lost"],
  [1007, "invalid UTF-8"],
  [1008, "policy violation"],
  [1009, "message too large"],
  [1011, "server error"],
  [1012, "service restart"],
  [1013, "try again later"],
  [1015, "TLS handshake failed"],
  [4001, "superseded (another connection activated this client)"],
  [4002, "deregistered"],
  [4003, "token expired"],
]);

/** The meaning of a websocket close code in words ("4001" and 4001 alike). */
export function closeCodeWords(code) {
  const number = Number(code);
  const words = CLOSE_WORDS.get(number);
  if (words !== undefined) return words;
  if (number >= 4000 && number <= 4999) return `application close code ${number}`;
  if (number >= 3000 && number <= 3999) return `registered close code ${number}`;
  return `close code ${code}`;
}

const REASON_PHRASES = new Map([
  [200, "OK"],
  [400, "Bad Request"],
  [403, "Forbidden"],
  [404, "Not Found"],
  [406, "Not Acceptable"],
  [410, "Gone"],
  [415, "Unsupported Media Type"],
  [422, "Unprocessable Content"],
  [429, "Too Many Requests"],
  [500, "Internal Server Error"],
  [503, "Service Unavailable"],
]);

/** The HTTP reason phrase of `code` (the `desc` of an AOI response). */
export function reasonPhrase(code) {
  return REASON_PHRASES.get(Number(code)) ?? "Rejected";
}

/** A response whose code is not 200 (websocket) or an HTTP error, with its fields. */
export class AoiError extends Error {
  constructor(response, message) {
    const code = Number(response?.code ?? 0);
    const detail = response?.detail ? `: ${response.detail}` : "";
    super(message ?? `${code} ${response?.desc ?? ""}${detail}`);
    this.name = "AoiError";
    this.code = code;
    this.desc = response?.desc;
    this.detail = response?.detail;
    this.response = response;
  }
}

/** A wait (response, connection, notification, status) that ran out of time. */
export class AoiTimeoutError extends Error {
  constructor(message) {
    super(message);
    this.name = "AoiTimeoutError";
  }
}

/** The device's connection is closed (or not open now) and the call cannot go on. */
export class AoiClosedError extends Error {
  constructor(message, { code, reason } = {}) {
    super(message);
    this.name = "AoiClosedError";
    this.code = code;
    this.reason = reason;
  }
}

/**
 * Full-jitter exponential backoff: a uniformly random delay in
 * [0, min(capMs, baseMs * 2^attempt)); `attempt` counts from 0.
 */
export function backoffDelay(attempt, { baseMs = 500, capMs = 30_000, random = Math.random } = {}) {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt));
  return Math.floor(random() * ceiling);
}

/** `url` with the device token as the `access_token` query parameter. */
export function withToken(url, token) {
  if (token === undefined || token === null || token === "") return String(url);
  const parsed = new URL(String(url));
  parsed.searchParams.set("access_token", String(token));
  return parsed.toString();
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

function randomPrefix() {
  const bytes = new Uint8Array(6);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A bounded set of recent keys with a value each (oldest forgotten first). */
class RecentMap {
  constructor(limit) {
    this.limit = limit;
    this.map = new Map();
  }
  get(key) {
    return this.map.get(key);
  }
  has(key) {
    return this.map.has(key);
  }
  set(key, value) {
    this.map.delete(key);
    this.map.set(key, value);
    while (this.map.size > this.limit) this.map.delete(this.map.keys().next().value);
  }
}

const OPEN = 1;

/**
 * One AOI Client: a websocket to the gateway with request/response matching by
 * transactionID, pushed notifications, and (once a channel was activated)
 * reconnection with jittered exponential backoff.
 */
export class AoiDevice extends EventTarget {
  /**
   * Open a websocket to `urls` (one `ws://host:port/ws` or a list, tried in turn).
   * Options: token (string, or function returning a string or Promise), WebSocket
   * (constructor, default globalThis.WebSocket), timeoutMs (each wait, default
   * 10 s), reconnect (default true: once a channel was activated), backoffBaseMs
   * (500), backoffCapMs (30000), maxAttempts (Infinity), stableMs (connection
   * age after which a close restarts the backoff, default 30000), dedupe (default
   * true), maxQueued (notifications kept for nextNotification, default 1000),
   * on ({type: handler}), random (for tests). With clientID and deviceNumber
   * (a client registered in an earlier session), a later 404 on activating that
   * clientID registers the deviceNumber again.
   */
  static async connect(urls, options = {}) {
    const device = new AoiDevice(urls, options);
    await device._open();
    return device;
  }

  constructor(urls, options = {}) {
    super();
    this.urls = (Array.isArray(urls) ? urls : [urls]).map(String);
    if (this.urls.length === 0) throw new TypeError("AoiDevice: at least one URL is needed");
    const WebSocketClass = options.WebSocket ?? globalThis.WebSocket;
    if (typeof WebSocketClass !== "function") {
      throw new TypeError(
        "AoiDevice: no WebSocket constructor " +
          "(pass {WebSocket}, or run Node 20 with --experimental-websocket)",
      );
    }
    this._WebSocket = WebSocketClass;
    this._tokenSource = options.token;
    this._token = undefined;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.reconnect = options.reconnect ?? true;
    this.backoffBaseMs = options.backoffBaseMs ?? 500;
    this.backoffCapMs = options.backoffCapMs ?? 30_000;
    this.maxAttempts = options.maxAttempts ?? Infinity;
    this.stableMs = options.stableMs ?? 30_000;
    this.dedupe = options.dedupe ?? true;
    this.maxQueued = options.maxQueued ?? 1000;
    this._random = options.random ?? Math.random;

    this.state = "connecting";
    this.url = null; // the URL of the open (or last) websocket, without the token
    this.ws = null;
    this.closeCode = null;
    this.closeReason = null;
    this.clientID = null; // the client registered or activated last
    this.channelClientID = null; // the client whose channel this device keeps up
    this.reconnects = 0; // reconnections that succeeded
    this._clients = new Map(); // clientID -> {deviceNumber, applications: Map(appID -> regID)}
    if (options.deviceNumber !== undefined && options.clientID !== undefined) {
      // A client registered earlier (e.g. kept in storage), for re-registration.
      this._client(options.clientID).deviceNumber = String(options.deviceNumber);
    }

    this._urlIndex = 0;
    this._prefix = randomPrefix();
    this._ids = 0;
    this._waiting = new Map(); // transactionID -> {resolve, reject, timer}
    this._queue = [];
    this._queueWaiters = [];
    this._seen = new RecentMap(10_000); // notificationID -> acknowledgement code or null
    this._backoffLevel = 0;
    this._openedAt = 0;
    this._closing = false;
    this._looping = false; // a reconnection loop is running
    this._stop = new AbortController();

    for (const [type, handler] of Object.entries(options.on ?? {})) this.on(type, handler);
  }

  /**
   * Open the websocket of a device made with `new AoiDevice(urls, options)` (what
   * `connect` does; this way listeners can be added before the first `open` event).
   */
  open() {
    if (this.ws !== null || this.state !== "connecting") {
      return Promise.reject(new Error(`AoiDevice.open: already ${this.state}`));
    }
    return this._open();
  }

  /** Call `handler(detail)` on each event `type`; returns a function that unsubscribes. */
  on(type, handler) {
    const listener = (event) => handler(event.detail, event);
    this.addEventListener(type, listener);
    return () => this.removeEventListener(type, listener);
  }

  _client(clientID) {
    let known = this._clients.get(clientID);
    if (known === undefined) {
      known = { deviceNumber: null, applications: new Map() };
      this._clients.set(clientID, known);
    }
    return known;
  }

  /** The deviceNumber of this device's client (channel client, else the last one), if known. */
  get deviceNumber() {
    const clientID = this.channelClientID ?? this.clientID;
    return clientID === null ? null : (this._clients.get(clientID)?.deviceNumber ?? null);
  }

  /** applicationID -> registrationID of this device's client (channel client, else the last). */
  get applications() {
    const clientID = this.channelClientID ?? this.clientID;
    return new Map(clientID === null ? [] : (this._clients.get(clientID)?.applications ?? []));
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  _setState(state) {
    if (this.state === state) return;
    this.state = state;
    this._emit("statechange", { state });
  }

  /** True while a websocket is open. */
  get connected() {
    return this.ws !== null && this.ws.readyState === OPEN;
  }

  // ---- connection -------------------------------------------------------------

  async _freshToken() {
    const source = this._tokenSource;
    this._token = typeof source === "function" ? await source() : source;
    return this._token;
  }

  /** Try each URL once, starting at `_urlIndex`; the first that opens wins. */
  async _open({ refreshToken = true } = {}) {
    if (refreshToken || this._token === undefined) await this._freshToken();
    const errors = [];
    for (let tried = 0; tried < this.urls.length; tried += 1) {
      const index = (this._urlIndex + tried) % this.urls.length;
      try {
        await this._openOne(this.urls[index]);
        this._urlIndex = index;
        return;
      } catch (error) {
        errors.push(`${this.urls[index]}: ${error.message}`);
        if (this._closing) break;
      }
    }
    if (this.state === "connecting") this._setState("closed");
    throw new AoiClosedError(`could not connect: ${errors.join("; ")}`);
  }

  _openOne(url) {
    return new Promise((resolve, reject) => {
      let ws;
      try {
        ws = new this._WebSocket(withToken(url, this._token));
      } catch (error) {
        reject(error);
        return;
      }
      let settled = false;
      const timer = setTimeout(() => {
        fail(new AoiTimeoutError(`no connection within ${this.timeoutMs} ms`));
        try {
          ws.close();
        } catch {
          // closing a socket that never opened may throw in some implementations
        }
      }, this.timeoutMs);
      const fail = (error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(error);
      };
      ws.addEventListener("open", () => {
        if (settled || this._closing) {
          fail(new AoiClosedError("device closed while connecting"));
          ws.close(1000);
          return;
        }
        settled = true;
        clearTimeout(timer);
        this._attach(ws, url);
        resolve();
      });
      ws.addEventListener("error", () => fail(new Error("websocket error before opening")));
      ws.addEventListener("close", (event) => {
        fail(new Error(`closed before opening (${event.code} ${closeCodeWords(event.code)})`));
      });
    });
  }

  _attach(ws, url) {
    this.ws = ws;
    this.url = url;
    this._openedAt = Date.now();
    this.closeCode = null;
    this.closeReason = null;
    ws.addEventListener("message", (event) => this._onMessage(ws, event));
    ws.addEventListener("close", (event) => this._onClose(ws, event));
    this._setState("open");
    this._emit("open", { url });
  }

  _onMessage(ws, event) {
    if (ws !== this.ws || typeof event.data !== "string") return;
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return; // the node sends only JSON objects; anything else is ignored
    }
    if (frame === null || typeof frame !== "object") return;
    if (frame.messageType === "notificationDeliveryReq") {
      this._onNotification(frame);
      return;
    }
    const waiter = this._waiting.get(String(frame.transactionID));
    if (waiter !== undefined) {
      this._waiting.delete(String(frame.transactionID));
      clearTimeout(waiter.timer);
      waiter.resolve(frame);
    }
  }

  _onNotification(frame) {
    const id = frame.notificationID;
    if (this.dedupe && this._seen.has(id)) {
      const code = this._seen.get(id);
      // Sent again after a reconnection: acknowledged before, so acknowledge again
      // (the first acknowledgement may have been lost); otherwise the application
      // has it already and will acknowledge it.
      if (code !== null) this._sendAck(id, code);
      return;
    }
    this._seen.set(id, null);
    const waiter = this._queueWaiters.shift();
    if (waiter !== undefined) {
      clearTimeout(waiter.timer);
      waiter.resolve(frame);
    } else {
      this._queue.push(frame);
      if (this._queue.length > this.maxQueued) this._queue.shift();
    }
    this._emit("notification", frame);
  }

  _onClose(ws, event) {
    if (ws !== this.ws) return;
    this.ws = null;
    this.closeCode = event.code;
    this.closeReason = event.reason || null;
    const closed = new AoiClosedError(
      `websocket closed (${event.code} ${closeCodeWords(event.code)})`,
      { code: event.code, reason: event.reason },
    );
    for (const waiter of this._waiting.values()) {
      clearTimeout(waiter.timer);
      waiter.reject(closed);
    }
    this._waiting.clear();
    const willReconnect = this._shouldReconnect();
    this._emit("close", {
      code: event.code,
      reason: event.reason,
      words: closeCodeWords(event.code),
      wasClean: event.wasClean,
      willReconnect,
    });
    if (this._looping) return; // closed while restoring the channel: the loop goes on
    if (willReconnect) {
      // After a long healthy connection the backoff starts again from the bottom; a
      // 4001 needs longer than any rival's delay, so two instances that keep taking
      // the channel from each other slow down instead of fighting fast.
      const age = Date.now() - this._openedAt;
      const stable =
        event.code === 4001 ? Math.max(this.stableMs, 2 * this.backoffCapMs) : this.stableMs;
      if (age >= stable) this._backoffLevel = 0;
      this._reconnectLoop(event.code);
    } else {
      this._setState("closed");
      this._rejectQueueWaiters(closed);
    }
  }

  _shouldReconnect() {
    return this.reconnect && !this._closing && this.channelClientID !== null;
  }

  _rejectQueueWaiters(error) {
    for (const waiter of this._queueWaiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(error);
    }
  }

  /** Drop the current websocket without letting its close start anything. */
  _drop() {
    const ws = this.ws;
    this.ws = null;
    try {
      ws?.close(1000);
    } catch {
      // already closing
    }
  }

  _finish(error) {
    this._drop();
    this._setState("closed");
    this._rejectQueueWaiters(error);
  }

  async _reconnectLoop(code) {
    this._looping = true;
    try {
      await this._reconnectAttempts(code);
    } finally {
      this._looping = false;
    }
  }

  async _reconnectAttempts(code) {
    this._setState("reconnecting");
    // A node going away (1001) is left for the next URL; others are tried again first.
    if (code === 1001) this._urlIndex = (this._urlIndex + 1) % this.urls.length;
    let refreshToken = code === 4003; // 4003: the token expired, get a fresh one
    for (let attempt = 1; attempt <= this.maxAttempts; attempt += 1) {
      const delayMs = backoffDelay(this._backoffLevel, {
        baseMs: this.backoffBaseMs,
        capMs: this.backoffCapMs,
        random: this._random,
      });
      this._backoffLevel += 1;
      this._emit("reconnecting", { attempt, delayMs, code });
      await sleep(delayMs, this._stop.signal);
      if (this._closing) return;
      if (!this.reconnect) {
        this._finish(new AoiClosedError("reconnection turned off"));
        return;
      }
      try {
        await this._open({ refreshToken });
        await this._restoreChannel();
        if (this.ws === null) throw new AoiClosedError("closed while activating");
        if (code !== 4001) this._backoffLevel = 0;
        this.reconnects += 1;
        this._emit("reconnected", { clientID: this.channelClientID, url: this.url });
        return;
      } catch (error) {
        if (this._closing) {
          this._finish(new AoiClosedError("device closed"));
          return;
        }
        this._emit("error", { error });
        if (error instanceof AoiError && error.fatal) {
          this._finish(error);
          return;
        }
        // A refused upgrade may be an expired token (browsers do not show the 401).
        refreshToken = true;
        this._drop();
        this._setState("reconnecting");
      }
    }
    this._finish(new AoiClosedError(`gave up reconnecting after ${this.maxAttempts} attempts`));
  }

  /** Activate the same client again; register anew if the gateway forgot it. */
  async _restoreChannel() {
    const previousClientID = this.channelClientID;
    try {
      await this.activate(previousClientID);
      return;
    } catch (error) {
      if (!(error instanceof AoiError) || error.code !== 404) throw error;
    }
    // The client is gone (deregistered elsewhere, 4002, or the gateway lost its data).
    const previous = this._client(previousClientID);
    if (previous.deviceNumber === null) {
      const error = new AoiError(
        { code: 404, desc: "Not Found", detail: `clientID ${previousClientID} is gone` },
        "the client is gone and its deviceNumber is unknown: cannot register it again",
      );
      error.fatal = true;
      throw error;
    }
    const clientID = await this.register(previous.deviceNumber);
    const registrationIDs = {};
    for (const applicationID of previous.applications.keys()) {
      registrationIDs[applicationID] = await this.registerApplication(clientID, applicationID);
    }
    await this.activate(clientID);
    if (clientID !== previousClientID) this._clients.delete(previousClientID);
    this._emit("reregistered", { clientID, previousClientID, registrationIDs });
  }

  // ---- requests ---------------------------------------------------------------

  /** Send `frame` with a fresh transactionID; resolves with its response (any code). */
  request(frame, { timeoutMs = this.timeoutMs } = {}) {
    const ws = this.ws;
    if (ws === null || ws.readyState !== OPEN) {
      return Promise.reject(
        new AoiClosedError(`not connected (${this.state})`, { code: this.closeCode }),
      );
    }
    this._ids += 1;
    const transactionID = `${this._prefix}-${this._ids}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._waiting.delete(transactionID);
        reject(new AoiTimeoutError(`no ${frame.messageType} response within ${timeoutMs} ms`));
      }, timeoutMs);
      this._waiting.set(transactionID, { resolve, reject, timer });
      try {
        ws.send(JSON.stringify({ ...frame, transactionID }));
      } catch (error) {
        clearTimeout(timer);
        this._waiting.delete(transactionID);
        reject(error);
      }
    });
  }

  async _ok(frame) {
    const response = await this.request(frame);
    if (response.code !== 200) throw new AoiError(response);
    return response;
  }

  /** AOI Client Registration; resolves with the clientID. */
  async register(deviceNumber) {
    const response = await this._ok({
      messageType: "aoiClientRegistrationReq",
      deviceNumber: String(deviceNumber),
    });
    this._client(response.clientID).deviceNumber = String(deviceNumber);
    this.clientID = response.clientID;
    return response.clientID;
  }

  /** AOI Client Deregistration (any clientID; this device's own stops reconnecting). */
  async deregister(clientID) {
    await this._ok({ messageType: "aoiClientDeregistrationReq", clientID });
    this._clients.delete(clientID);
    if (clientID === this.channelClientID) this.channelClientID = null;
    if (clientID === this.clientID) this.clientID = null;
  }

  /** Notification Channel Activation: this connection becomes the client's channel. */
  async activate(clientID) {
    await this._ok({ messageType: "notificationChannelActivationReq", clientID });
    this._client(clientID);
    this.channelClientID = clientID;
    this.clientID = clientID;
  }

  /** Notification Channel Deactivation (the device then stops reconnecting that channel). */
  async deactivate(clientID) {
    await this._ok({ messageType: "notificationChannelDeactivationReq", clientID });
    if (clientID === this.channelClientID) this.channelClientID = null;
  }

  /** Client Application Registration; resolves with the registrationID. */
  async registerApplication(clientID, applicationID) {
    const response = await this._ok({
      messageType: "clientApplicationRegistrationReq",
      clientID,
      applicationID,
    });
    this._client(clientID).applications.set(applicationID, response.registrationID);
    return response.registrationID;
  }

  /** Client Application Deregistration. */
  async deregisterApplication(clientID, applicationID) {
    await this._ok({ messageType: "clientApplicationDeregistrationReq", clientID, applicationID });
    this._clients.get(clientID)?.applications.delete(applicationID);
  }

  /**
   * Acknowledge a notification: code 200 delivered, any other rejected. Resolves
   * true when written, false when not connected now (then the gateway sends it
   * again after the reconnection and it is acknowledged with this code at once).
   */
  async acknowledge(notificationID, code = 200) {
    this._seen.set(notificationID, Number(code));
    return this._sendAck(notificationID, Number(code));
  }

  /** Reject a notification (acknowledge with a code other than 200, default 404). */
  async reject(notificationID, code = 404) {
    if (Number(code) === 200) throw new RangeError("reject: the code must not be 200");
    return this.acknowledge(notificationID, code);
  }

  _sendAck(notificationID, code) {
    const ws = this.ws;
    if (ws === null || ws.readyState !== OPEN) return false;
    ws.send(
      JSON.stringify({
        messageType: "notificationDeliveryRes",
        notificationID,
        code,
        desc: reasonPhrase(code),
      }),
    );
    return true;
  }

  /**
   * The next pushed notification (oldest first). Waits through reconnections;
   * rejects with AoiClosedError once the device is closed and not reconnecting,
   * and with AoiTimeoutError after timeoutMs.
   */
  nextNotification({ timeoutMs = this.timeoutMs } = {}) {
    if (this._queue.length > 0) return Promise.resolve(this._queue.shift());
    if (this.state === "closed") {
      const code = this.closeCode;
      const how = code === null ? "" : ` (${code} ${closeCodeWords(code)})`;
      return Promise.reject(
        new AoiClosedError(`device is closed${how} and not reconnecting`, {
          code: this.closeCode,
          reason: this.closeReason,
        }),
      );
    }
    return new Promise((resolve, reject) => {
      const waiter = { resolve, reject, timer: null };
      waiter.timer = setTimeout(() => {
        const index = this._queueWaiters.indexOf(waiter);
        if (index >= 0) this._queueWaiters.splice(index, 1);
        reject(new AoiTimeoutError(`no notification within ${timeoutMs} ms`));
      }, timeoutMs);
      this._queueWaiters.push(waiter);
    });
  }

  /** Resolves once the device is closed for good (`state` "closed"); bounded. */
  waitClosed({ timeoutMs = this.timeoutMs } = {}) {
    if (this.state === "closed") return Promise.resolve(this.closeCode);
    return this._waitFor("statechange", (detail) => detail.state === "closed", timeoutMs).then(
      () => this.closeCode,
    );
  }

  /** Resolves with the detail of the next event `type` for which `predicate` holds. */
  _waitFor(type, predicate, timeoutMs) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new AoiTimeoutError(`no ${type} event within ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.on(type, (detail) => {
        if (!predicate(detail)) return;
        clearTimeout(timer);
        off();
        resolve(detail);
      });
    });
  }

  /** Resolves with the detail of the next event `type` (optionally matching); bounded. */
  waitForEvent(type, { timeoutMs = this.timeoutMs, predicate = () => true } = {}) {
    return this._waitFor(type, predicate, timeoutMs);
  }

  /** Close for good: no reconnection; pending waits reject. Resolves once closed (bounded). */
  async close(code = 1000, reason = "") {
    this._closing = true;
    this._stop.abort();
    const ws = this.ws;
    if (ws === null) {
      this._setState("closed");
      this._rejectQueueWaiters(new AoiClosedError("device closed"));
      return;
    }
    const closed = this.waitClosed({ timeoutMs: this.timeoutMs }).catch(() => undefined);
    try {
      ws.close(code, reason);
    } catch {
      // already closing
    }
    await closed;
    if (this.state !== "closed") {
      // The peer never finished the closing handshake: give up on the socket.
      this.ws = null;
      this._setState("closed");
      this._rejectQueueWaiters(new AoiClosedError("device closed"));
    }
  }
}

// ---- application server -------------------------------------------------------

/**
 * The application-server HTTP API of one node (`http://host:port`, or "" for the
 * page's own origin in a browser). Every call resolves with {status, body,
 * headers} (body: decoded JSON, or null when empty) and throws only on network
 * errors and timeouts. Options: apiKey (string, or function returning one: sent
 * as `Authorization: Bearer <key>`), fetch (default globalThis.fetch), timeoutMs.
 */
export class AoiAppServer {
  constructor(baseUrl = "", { apiKey, fetch, timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
    this.baseUrl = String(baseUrl).replace(/\/+$/, "");
    this.apiKey = apiKey;
    this._fetch = fetch ?? globalThis.fetch.bind(globalThis);
    this.timeoutMs = timeoutMs;
  }

  _key() {
    return typeof this.apiKey === "function" ? this.apiKey() : this.apiKey;
  }

  /** One HTTP call. `body` is sent as JSON when not undefined. */
  async call(method, path, body, { headers = {}, timeoutMs = this.timeoutMs } = {}) {
    const sent = { Accept: "application/json", ...headers };
    const key = this._key();
    if (key) sent.Authorization = `Bearer ${key}`;
    const init = { method, headers: sent };
    if (body !== undefined) {
      sent["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const abort = new AbortController();
    init.signal = abort.signal;
    const timer = setTimeout(() => abort.abort(), timeoutMs);
    try {
      const response = await this._fetch(this.baseUrl + path, init);
      const text = await response.text();
      let parsed = null;
      if (text !== "") {
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = text;
        }
      }
      return { status: response.status, body: parsed, headers: response.headers };
    } catch (error) {
      if (abort.signal.aborted) {
        throw new AoiTimeoutError(`${method} ${path}: no answer within ${timeoutMs} ms`);
      }
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** POST /v1/notifications; options ttl, collapseKey, idempotencyKey (Idempotency-Key header). */
  send(registrationID, payload, { ttl, collapseKey, idempotencyKey } = {}) {
    const body = { registrationID, payload };
    if (ttl !== undefined && ttl !== null) body.ttl = ttl;
    if (collapseKey !== undefined && collapseKey !== null) body.collapseKey = collapseKey;
    const headers = {};
    if (idempotencyKey !== undefined && idempotencyKey !== null) {
      headers["Idempotency-Key"] = String(idempotencyKey);
    }
    return this.call("POST", "/v1/notifications", body, { headers });
  }

  /** POST /v1/notifications:batch; `items` as for send, each with registrationID and payload. */
  sendBatch(items) {
    return this.call("POST", "/v1/notifications:batch", { notifications: items });
  }

  /** GET /v1/notifications/{id}. */
  status(notificationID, options = {}) {
    const path = `/v1/notifications/${encodeURIComponent(notificationID)}`;
    return this.call("GET", path, undefined, options);
  }

  /** DELETE /v1/notifications/{id}: 204 cancelled, 409 already final, 404 unknown. */
  cancel(notificationID) {
    return this.call("DELETE", `/v1/notifications/${encodeURIComponent(notificationID)}`);
  }

  /** GET /v1/clients/{clientID}. */
  client(clientID) {
    return this.call("GET", `/v1/clients/${encodeURIComponent(clientID)}`);
  }

  /** GET /v1/clients?deviceNumber=... */
  clientByDeviceNumber(deviceNumber) {
    return this.call("GET", `/v1/clients?deviceNumber=${encodeURIComponent(deviceNumber)}`);
  }

  /** GET /v1/admin/nodes: every live node of the fleet. */
  nodes() {
    return this.call("GET", "/v1/admin/nodes");
  }

  /** GET /console/config.json: {apiKeys, deviceAuth, nodeID} (no key needed). */
  config() {
    return this.call("GET", "/console/config.json");
  }

  /**
   * Poll a notification's status until it is final or `timeoutMs` passes.
   * `onChange(body, result)` is called whenever the status changes (first answer
   * included). Resolves with the last {status, body, headers} plus `final`
   * (true when the status is final) and `timedOut`; a non-200 answer (404, 401)
   * ends the following at once. `signal` (AbortSignal) stops it early.
   */
  async followStatus(
    notificationID,
    { onChange, timeoutMs = 30_000, intervalMs = 250, signal } = {},
  ) {
    const deadline = Date.now() + timeoutMs;
    let last = null;
    let lastStatus;
    for (;;) {
      const remaining = Math.max(1, deadline - Date.now());
      const result = await this.status(notificationID, {
        timeoutMs: Math.min(this.timeoutMs, remaining),
      });
      last = result;
      const current = result.status === 200 ? result.body?.status : `http ${result.status}`;
      if (current !== lastStatus) {
        lastStatus = current;
        onChange?.(result.body, result);
      }
      const final = result.status === 200 && FINAL_STATUSES.includes(result.body?.status);
      if (final || result.status !== 200) return { ...last, final, timedOut: false };
      if (signal?.aborted) return { ...last, final: false, timedOut: false };
      if (Date.now() + intervalMs > deadline) return { ...last, final: false, timedOut: true };
      await sleep(intervalMs, signal);
    }
  }
}
