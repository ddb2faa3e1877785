// Live updates over graphql-transport-ws (the protocol of GraphQL-over-WebSocket): one socket,
// three subscriptions. Any failure degrades to "live: off (reason)" and a retry with backoff;
// the views keep working on plain queries.

import { getToken } from "./api.js";

const SUBS = {
  resourceUpdated: "subscription { resourceUpdated { id action time } }",
  driftDetected: "subscription { driftDetected { id resourceId severity kind time } }",
  alertFired: "subscription { alertFired { nodeId status reasons time } }",
};

export class Live {
  /** onEvent(field, payload); onStatus(state: "on"|"off"|"err", text) */
  constructor(onEvent, onStatus) {
    this.onEvent = onEvent; this.onStatus = onStatus; this.backoff = 2000; this.ws = null;
    this.unavailable = new Map(); this.closedByUs = false; this.timer = null;
  }

  start() {
    if (!("WebSocket" in window)) { this.onStatus("off", "this browser has no WebSocket"); return; }
    this.connect();
  }

  restart() { this.closedByUs = true; if (this.ws) this.ws.close(1000); this.closedByUs = false; clearTimeout(this.timer); this.connect(); }

  connect() {
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql`;
    this.onStatus("off", "connecting");
    let ws;
    try { ws = new WebSocket(url, "graphql-transport-ws"); } catch (e) { this.fail(`cannot open socket: ${e.message}`); return; }
    this.ws = ws;
    this.unavailable.clear();
    ws.onopen = () => {
      const token = getToken();
      ws.send(JSON.stringify({ type: "connection_init", payload: token ? { Authorization: `Bearer ${token}` } : {} }));
    };
    ws.onmessage = (m) => {
      let msg;
      try { msg = JSON.parse(m.data); } catch { return; }
      if (msg.type === "connection_ack") {
        this.backoff = 2000;
        Object.entries(SUBS).forEach(([id, query]) => ws.send(JSON.stringify({ id, type: "subscribe", payload: { query } })));
        this.report();
      } else if (msg.type === "next" && msg.payload) {
        if (msg.payload.errors && msg.payload.errors.length) {
          this.unavailable.set(msg.id, msg.payload.errors[0].message); this.report(); return;
        }
        const data = msg.payload.data || {};
        for (const [field, value] of Object.entries(data)) this.onEvent(field, value);
      } else if (msg.type === "error") {
        const text = Array.isArray(msg.payload) ? msg.payload.map((e) => e.message).join("; ") : JSON.stringify(msg.payload);
        this.unavailable.set(msg.id, text); this.report();
      } else if (msg.type === "ping") {
        ws.send(JSON.stringify({ type: "pong" }));
      }
    };
    ws.onclose = (ev) => {
      if (this.closedByUs || this.ws !== ws) return;
      const reason = ev.reason || (ev.code === 1006 ? "connection lost" : `closed (code ${ev.code})`);
      this.fail(reason);
    };
  }

  report() {
    const n = Object.keys(SUBS).length, bad = this.unavailable.size;
    if (bad === 0) this.onStatus("on", "subscribed to resourceUpdated, driftDetected, alertFired");
    else if (bad < n) this.onStatus("on", `partly live; unavailable: ${[...this.unavailable].map(([k, v]) => `${k} (${v})`).join(", ")}`);
    else this.onStatus("err", `subscriptions not available from this engine: ${[...this.unavailable.values()][0]}`);
  }

  fail(reason) {
    this.onStatus("err", `${reason}; retrying in ${Math.round(this.backoff / 1000)}s (views still work, refresh with r)`);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), this.backoff);
    this.backoff = Math.min(this.backoff * 2, 60000);
  }
}
