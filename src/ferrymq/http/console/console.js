// ferrymq web console: plain JavaScript over the admin API (/api/...), no build step.
// Credentials live in sessionStorage and go out as HTTP Basic with every call; the
// X-Ferrymq-Console header makes the broker answer 401 without the browser's own dialog.
"use strict";

const AUTH_KEY = "ferrymq.auth";
const $ = (sel) => document.querySelector(sel);
let refreshTimer = null;
let browseState = { queue: null, messages: [] };

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function notice(text, isError) {
  const n = $("#notice");
  n.textContent = text;
  n.className = isError ? "error" : "";
  n.hidden = !text;
}

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function api(method, path, body) {
  const headers = { "X-Ferrymq-Console": "1", Accept: "application/json" };
  const auth = sessionStorage.getItem(AUTH_KEY);
  if (auth) headers.Authorization = "Basic " + auth;
  const init = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  let data = null;
  try {
    data = await resp.json();
  } catch (e) {
    data = null;
  }
  if (!resp.ok) {
    if (resp.status === 401) showLogin("Your session needs credentials again.");
    throw new ApiError(resp.status, data);
  }
  return data;
}

const q = (name) => encodeURIComponent(name);
const fmtTime = (ms) => (ms ? new Date(ms).toLocaleString() : "");
const num = (v) => el("td", { class: "num" }, v);

function fill(tbodySel, rows) {
  const tb = $(tbodySel);
  tb.replaceChildren(...rows);
  if (!rows.length) {
    const cols = tb.parentElement.querySelectorAll("thead th").length;
    tb.append(el("tr", {}, el("td", { colspan: cols }, "none")));
  }
}

// ---------------------------------------------------------------- views
async function showOverview() {
  const b = await api("GET", "/api/broker");
  $("#broker-name").textContent = b.name;
  const facts = [
    ["Name", b.name], ["Version", b.version], ["Uptime", `${Math.round(b.uptimeSeconds)} s`],
    ["Connections", b.connections], ["Queues", b.totals.queues], ["Topics", b.totals.topics],
    ["Messages stored", b.totals.messages], ["Consumers", b.totals.consumers],
    ["Enqueued", b.totals.enqueued], ["Dequeued", b.totals.dequeued],
    ["Dead-lettered", b.totals.deadLettered], ["Durable subscriptions", b.totals.durableSubscriptions],
  ];
  for (const [name, port] of Object.entries(b.listeners || {})) facts.push([`Listener ${name}`, port]);
  $("#broker-info").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

function isDlq(name) {
  return name === "ActiveMQ.DLQ" || name.startsWith("DLQ.") || name.endsWith(".DLQ");
}

async function showQueues() {
  const queues = await api("GET", "/api/queues");
  fill("#queues-table tbody", queues.map((x) => el("tr", { "data-queue": x.name },
    el("td", {}, el("a", { href: `#browse/${q(x.name)}` }, x.name)),
    num(x.size), num(x.consumers), num(x.inFlight), num(x.enqueued), num(x.dequeued), num(x.expired),
    num(x.deadLettered),
    el("td", {},
      el("button", { type: "button", onclick: () => { location.hash = `#browse/${q(x.name)}`; } }, "Browse"), " ",
      el("button", { type: "button", onclick: () => { $("#send-kind").value = "queues"; $("#send-dest").value = x.name; location.hash = "#send"; } }, "Send"), " ",
      isDlq(x.name) ? el("button", { type: "button", onclick: () => redrive(x.name, {}) }, "Redrive all") : null, " ",
      el("button", { type: "button", class: "danger", onclick: () => purge(x.name) }, "Purge"), " ",
      el("button", { type: "button", class: "danger", onclick: () => deleteQueue(x.name) }, "Delete")))));
}

async function showTopics() {
  const topics = await api("GET", "/api/topics");
  fill("#topics-table tbody", topics.map((x) => el("tr", {},
    el("td", {}, x.name), num(x.consumers), num(x.enqueued), num(x.dequeued), num(x.inFlight))));
}

async function showConnections() {
  const conns = await api("GET", "/api/connections");
  fill("#connections-table tbody", conns.map((c) => el("tr", {},
    el("td", {}, c.id), el("td", {}, c.clientId || ""), el("td", {}, c.protocol), el("td", {}, c.remote),
    el("td", {}, c.user || ""), num(c.subscriptions), el("td", {}, fmtTime(c.connectedAt * 1000)))));
}

async function showSubscriptions() {
  const subs = await api("GET", "/api/subscriptions");
  fill("#subscriptions-table tbody", subs.map((s) => el("tr", {},
    el("td", {}, s.clientId), el("td", {}, s.name), el("td", {}, s.destination), el("td", {}, s.selector || ""),
    el("td", {}, s.active ? "yes" : "no"), num(s.pending), num(s.inFlight))));
}

async function showBrowse(queue) {
  if (browseState.queue !== queue) {
    browseState = { queue, messages: [] };
    $("#browse-selector").value = "";
  }
  $("#browse-queue").textContent = queue;
  const params = new URLSearchParams();
  const sel = $("#browse-selector").value.trim();
  if (sel) params.set("selector", sel);
  params.set("limit", $("#browse-limit").value || "100");
  const res = await api("GET", `/api/queues/${q(queue)}/messages?${params}`);
  browseState.messages = res.messages;
  $("#select-all").checked = false;
  fill("#messages-table tbody", res.messages.map((m) => el("tr", {},
    el("td", {}, el("input", { type: "checkbox", class: "pick", value: m.id, "aria-label": "select " + m.id })),
    el("td", {}, m.id), el("td", {}, fmtTime(m.headers.timestamp)), num(m.headers.priority),
    el("td", {}, m.properties.originalDestination || ""),
    el("td", {}, el("pre", {}, JSON.stringify(m.properties))),
    el("td", {}, el("pre", {}, m.body + (m.bodyTruncated ? " …" : ""))))));
}

// ---------------------------------------------------------------- actions
async function act(fn, okText) {
  try {
    const res = await fn();
    notice(typeof okText === "function" ? okText(res) : okText, false);
    await route();
  } catch (e) {
    notice(e.message, true);
  }
}

function purge(name) {
  if (!confirm(`Remove every message from ${name}?`)) return;
  act(() => api("POST", `/api/queues/${q(name)}/purge`), (r) => `Purged ${r.purged} message(s) from ${name}.`);
}

function deleteQueue(name) {
  if (!confirm(`Delete queue ${name} and its messages?`)) return;
  act(() => api("DELETE", `/api/queues/${q(name)}`), `Deleted ${name}.`);
}

function redrive(name, body) {
  act(() => api("POST", `/api/queues/${q(name)}/move`, body),
    (r) => (r.target ? `Moved ${r.moved} message(s) to ${r.target}.` : `Redrove ${r.moved} message(s) to their original destinations.`));
}

const picked = () => [...document.querySelectorAll("#messages-table .pick:checked")].map((x) => x.value);

function wireActions() {
  $("#login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const user = $("#login-user").value;
    const password = $("#login-password").value;
    sessionStorage.setItem(AUTH_KEY, btoa(unescape(encodeURIComponent(`${user}:${password}`))));
    try {
      await api("GET", "/api/broker");
      $("#login-error").hidden = true;
      if (!location.hash || location.hash === "#login") location.hash = "#overview";
      else route();
    } catch (e) {
      sessionStorage.removeItem(AUTH_KEY);
      showLogin(e.message);
    }
  });
  $("#logout").addEventListener("click", () => { sessionStorage.removeItem(AUTH_KEY); showLogin(""); });
  $("#browse-form").addEventListener("submit", (ev) => { ev.preventDefault(); showBrowse(browseState.queue).catch((e) => notice(e.message, true)); });
  $("#select-all").addEventListener("change", (ev) => {
    for (const c of document.querySelectorAll("#messages-table .pick")) c.checked = ev.target.checked;
  });
  $("#redrive-selected").addEventListener("click", () => {
    const ids = picked();
    if (!ids.length) return notice("Select messages first.", true);
    redrive(browseState.queue, { messageIds: ids });
  });
  $("#redrive-matching").addEventListener("click", () => {
    const sel = $("#browse-selector").value.trim();
    if (!sel && !confirm(`No selector: redrive every message in ${browseState.queue}?`)) return;
    redrive(browseState.queue, sel ? { selector: sel } : {});
  });
  $("#move-selected").addEventListener("click", () => {
    const ids = picked();
    const target = $("#move-target").value.trim();
    if (!ids.length || !target) return notice("Select messages and name a target queue.", true);
    redrive(browseState.queue, { messageIds: ids, target });
  });
  $("#send-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    let props;
    try {
      props = JSON.parse($("#send-props").value || "{}");
    } catch (e) {
      return notice("Properties are not valid JSON: " + e.message, true);
    }
    const kind = $("#send-kind").value;
    const dest = $("#send-dest").value.trim();
    const body = { body: $("#send-body").value, properties: props, persistent: $("#send-persistent").checked,
      priority: Number($("#send-priority").value || 4) };
    act(() => api("POST", `/api/${kind}/${q(dest)}/send`, body), (r) => `Sent ${r.messageId} to ${r.destination}.`);
  });
}

// ---------------------------------------------------------------- routing
function showLogin(message) {
  clearInterval(refreshTimer);
  for (const v of document.querySelectorAll(".view")) v.hidden = true;
  $("#nav").hidden = true;
  $("#login-view").hidden = false;
  $("#login-error").textContent = message || "";
  $("#login-error").hidden = !message;
}

const VIEWS = {
  overview: showOverview, queues: showQueues, topics: showTopics, connections: showConnections,
  subscriptions: showSubscriptions, send: async () => {},
};

async function route() {
  if (!sessionStorage.getItem(AUTH_KEY)) return showLogin("");
  const hash = location.hash.slice(1) || "overview";
  const [view, arg] = hash.split(/\/(.*)/s);
  $("#login-view").hidden = true;
  $("#nav").hidden = false;
  for (const v of document.querySelectorAll(".view")) v.hidden = v.id !== view;
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.getAttribute("href") === "#" + view);
  try {
    if (view === "browse") await showBrowse(decodeURIComponent(arg || ""));
    else if (VIEWS[view]) await VIEWS[view]();
    if (!$("#broker-name").textContent) $("#broker-name").textContent = (await api("GET", "/api/broker")).name;
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 401)) notice(e.message, true);
  }
}

function autoRefresh() {
  clearInterval(refreshTimer);
  refreshTimer = setInterval(() => {
    const view = (location.hash.slice(1) || "overview").split("/")[0];
    if (sessionStorage.getItem(AUTH_KEY) && VIEWS[view] && view !== "send") VIEWS[view]().catch(() => {});
  }, 5000);
}

window.addEventListener("hashchange", () => { notice(""); route(); autoRefresh(); });
wireActions();
route().then(autoRefresh);
