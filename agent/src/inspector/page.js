"use strict";
// The inspector's page: the list (newest first, live over server-sent events), one
// exchange's details, Replay and Edit & replay. Captured data is only ever set as text.
const list = document.getElementById("list");
const detail = document.getElementById("detail");
const live = document.getElementById("live");
const secrets = document.getElementById("secrets");
let selected = null;
let newest = 0;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value; else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

async function api(path, options) {
  const response = await fetch(path, options);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error ? body.error.message : response.statusText);
  return body;
}

function row(summary) {
  const status = summary.status === null ? "ERR" : summary.status;
  const cls = summary.status === null ? "err" : "s" + String(summary.status)[0];
  const item = el("li", { "data-id": summary.id, title: summary.error || "" },
    el("span", { class: "status " + cls }, status),
    el("span", { class: "method" }, summary.method),
    el("span", { class: "path" }, summary.path),
    el("span", { class: "meta" }, summary.duration_ms.toFixed(1) + " ms"));
  if (summary.replay_of !== null) {
    item.querySelector(".path").append(el("span", { class: "replay" }, "  ↻ replay of #" + summary.replay_of));
  }
  item.addEventListener("click", () => show(summary.id));
  return item;
}

function add(summary) {
  if (summary.id <= newest) return;
  newest = summary.id;
  const empty = document.getElementById("empty");
  if (empty) empty.remove();
  list.prepend(row(summary));
}

function headersTable(headers) {
  if (headers.length === 0) return el("p", { class: "marker" }, "no headers");
  return el("table", {}, ...headers.map(([name, value]) => el("tr", {}, el("td", {}, name), el("td", {}, value))));
}

function bodyView(body) {
  const parts = [];
  if (body.size === 0) return el("p", { class: "marker" }, "no body");
  if (body.binary) parts.push(el("p", { class: "marker binary" }, "binary body, " + body.size + " bytes"));
  else parts.push(el("pre", {}, body.text));
  if (body.truncated_bytes > 0) {
    parts.push(el("p", { class: "marker truncated" }, "… " + body.truncated_bytes + " more bytes not kept (" + body.size + " in all)"));
  }
  return el("div", {}, ...parts);
}

async function show(id) {
  selected = id;
  for (const item of list.children) item.classList.toggle("selected", item.dataset.id === String(id));
  let ex;
  try {
    ex = await api("/api/exchanges/" + id + (secrets.checked ? "?secrets=1" : ""));
  } catch (err) {
    detail.replaceChildren(el("p", { class: "error" }, String(err.message)));
    return;
  }
  const outcome = ex.status === null ? el("span", { class: "error" }, "failed: " + ex.error)
    : el("span", {}, "status " + ex.status + (ex.error ? " (" + ex.error + ")" : ""));
  const result = el("span", { id: "replay-result" });
  const replay = el("button", { id: "replay", class: "primary" }, "Replay");
  replay.addEventListener("click", () => send(ex.id, {}, result));
  const edit = el("button", { id: "edit" }, "Edit & replay");
  edit.addEventListener("click", () => editor(ex, result));
  detail.replaceChildren(
    el("h2", {}, ex.method + " " + ex.path),
    el("p", {}, ex.domain + " · ", outcome, " · " + ex.duration_ms.toFixed(1) + " ms · " + new Date(ex.started_at_ms).toLocaleTimeString() + " · " + ex.http_version,
      ex.replay_of !== null ? " · replay of #" + ex.replay_of : ""),
    el("div", { class: "actions" }, replay, edit, result),
    el("div", { id: "editor-slot" }),
    el("h3", {}, "Request headers"), headersTable(ex.request_headers),
    el("h3", {}, "Request body"), bodyView(ex.request_body),
    el("h3", {}, "Response headers"), headersTable(ex.response_headers),
    el("h3", {}, "Response body"), bodyView(ex.response_body));
}

function editor(ex, result) {
  const method = el("input", { id: "edit-method" }); method.value = ex.method;
  const path = el("input", { id: "edit-path" }); path.value = ex.path;
  const headers = el("textarea", { id: "edit-headers" });
  headers.value = ex.request_headers.map(([n, v]) => n + ": " + v).join("\n");
  const body = el("textarea", { id: "edit-body" });
  body.value = ex.request_body.binary ? "" : (ex.request_body.text || "");
  const go = el("button", { id: "edit-send", class: "primary" }, "Send");
  go.addEventListener("click", () => {
    const edits = {
      method: method.value, path: path.value,
      headers: headers.value.split("\n").filter((l) => l.includes(":")).map((l) => {
        const at = l.indexOf(":");
        return [l.slice(0, at).trim(), l.slice(at + 1).trim()];
      }),
    };
    if (!ex.request_body.binary || body.value !== "") edits.body = body.value;
    send(ex.id, edits, result);
  });
  document.getElementById("editor-slot").replaceChildren(el("div", { id: "editor" },
    el("label", {}, "Method"), method, el("label", {}, "Path"), path,
    el("label", {}, "Headers (one per line; *** keeps a masked value)"), headers,
    el("label", {}, ex.request_body.binary ? "Body (binary: leave empty to send the captured bytes)" : "Body"), body, go));
}

async function send(id, edits, result) {
  result.textContent = "sending…";
  try {
    const replayed = await api("/api/exchanges/" + id + "/replay", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(edits),
    });
    add(replayed);
    result.textContent = "replayed as #" + replayed.id + ": " + (replayed.status === null ? replayed.error : "status " + replayed.status);
  } catch (err) {
    result.textContent = err.message;
    result.className = "error";
  }
}

function follow() {
  const events = new EventSource("/api/events?after=" + newest);
  events.onopen = () => { live.textContent = "live"; };
  events.onerror = () => { live.textContent = "reconnecting…"; };
  events.addEventListener("exchange", (event) => add(JSON.parse(event.data)));
}

secrets.addEventListener("change", () => { if (selected !== null) show(selected); });

(async () => {
  try {
    const all = await api("/api/exchanges");
    for (const summary of all.reverse()) add(summary);
  } catch (err) {
    live.textContent = err.message;
  }
  follow();
})();
