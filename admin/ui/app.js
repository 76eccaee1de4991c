// sluice balancer manager. Everything shown comes from the JSON API and is
// inserted as text (textContent, setAttribute), never as markup.
"use strict";

const api = new URL("api/balancers", location.href).pathname;
const flagNames = { D: "Disabled", N: "Drain", S: "Stopped", I: "Ignore errors", H: "Hot standby", R: "Hot spare", C: "Health check failed" };
let editing = null; // what is being edited: "b:NAME", "m:NAME:ID" or "add:NAME"
let lastData = null;

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "text") e.textContent = String(v);
    else if (k === "on") for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
    else if (v !== false && v !== null && v !== undefined) e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function say(text, bad) {
  const m = document.getElementById("message");
  m.textContent = text;
  m.className = bad ? "bad" : "ok";
}

async function call(method, path, body, etag) {
  const headers = { "Accept": "application/json" };
  const token = sessionStorage.getItem("sluice-token");
  if (token) headers["Authorization"] = "Bearer " + token;
  if (etag) headers["If-Match"] = etag;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "omit", cache: "no-store" });
  let data = null;
  try { data = await r.json(); } catch (e) { data = null; }
  if (r.status === 401) document.getElementById("token-form").hidden = false;
  if (!r.ok) throw new Error((data && data.error) || (r.status + " " + r.statusText));
  return data;
}

function size(n) {
  const units = ["", "K", "M", "G", "T"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return i === 0 ? String(n) : n.toFixed(1) + units[i];
}

function memberPath(b, m) { return api + "/" + encodeURIComponent(b.name) + "/members/" + encodeURIComponent(m.id); }

function healthCell(m) {
  const td = el("td", { class: "health" });
  if (!m.health) return td;
  const h = m.health;
  if (h.method) td.append(el("span", { class: "hcmethod", text: h.method + (h.interval ? " " + h.interval : "") + " " }));
  for (const p of h.history || []) {
    const what = (p.passive ? "passive " : "") + (p.ok ? "ok" : "failed") + (p.status ? " " + p.status : "") + (p.why ? ": " + p.why : "") + " at " + p.time;
    td.append(el("span", { class: p.ok ? "probe ok" : "probe bad", title: what, text: p.ok ? "\u2713" : "\u2717" }));
  }
  return td;
}

// fleetCell lists the member's health as each instance of the fleet sees
// it, this instance first: "lb-2: down", with flags and why as a tooltip.
function fleetCell(m) {
  const list = el("ul", { class: "fleet" });
  for (const v of m.fleet || []) {
    const title = "flags " + (v.flags || "-") + (v.why ? ": " + v.why : "");
    list.append(el("li", { class: v.operational_state === "up" ? "ok" : "bad", "data-instance": v.instance, title, text: v.instance + ": " + v.operational_state }));
  }
  return el("td", {}, list);
}

// fleetLine is this instance's standing in the fleet, for the header.
function fleetLine(f) {
  const n = f.instances.length;
  return "fleet: " + (f.connected ? "connected" : "disconnected") + (f.synced ? "" : ", not synced") +
    ", revision " + f.revision + ", " + n + (n === 1 ? " instance" : " instances") + " (this one: " + f.instance + ")";
}

function memberRow(b, m, fleet) {
  const tr = el("tr", { "data-member": m.id });
  tr.append(
    el("td", {}, el("span", { class: "url", text: m.id })),
    el("td", { text: m.route }),
    el("td", { text: m.redirect }),
    el("td", { text: m.loadfactor.toFixed(2) }),
    el("td", { text: m.lbset }),
    el("td", { class: "status", title: m.admin_state + " / " + m.operational_state, text: m.status }),
    el("td", { text: m.elected }),
    el("td", { text: m.busy }),
    el("td", { text: m.lbstatus }),
    el("td", { text: size(m.transferred) }),
    el("td", { text: size(m.read) }),
    healthCell(m),
    ...(fleet ? [fleetCell(m)] : []),
    el("td", {},
      el("button", { class: "edit", type: "button", on: { click: () => { editing = "m:" + b.name + ":" + m.id; render(); } }, text: "Edit" }),
      " ",
      el("button", { class: "remove", type: "button", on: { click: () => removeMember(b, m) }, text: "Remove" })));
  return tr;
}

function field(label, input) { return el("label", {}, label + " ", input); }

function memberForm(b, m, columns) {
  const lf = el("input", { id: "edit-loadfactor", name: "loadfactor", type: "number", min: 1, max: 100, step: "0.01", value: m.loadfactor });
  const ls = el("input", { id: "edit-lbset", name: "lbset", type: "number", min: 0, max: 99, step: 1, value: m.lbset });
  const route = el("input", { id: "edit-route", name: "route", maxlength: 63, value: m.route });
  const redirect = el("input", { id: "edit-redirect", name: "redirect", maxlength: 63, value: m.redirect });
  const boxes = {};
  const flags = el("span", { class: "flags" });
  for (const [letter, name] of Object.entries(flagNames)) {
    boxes[letter] = el("input", { type: "checkbox", id: "edit-flag-" + letter, checked: m.flags.includes(letter) });
    flags.append(el("label", { title: name }, boxes[letter], " " + letter));
  }
  const clearErr = el("input", { type: "checkbox", id: "edit-clear-error" });
  if (m.flags.includes("E")) flags.append(el("label", {}, clearErr, " clear E"));
  const save = async (ev) => {
    ev.preventDefault();
    const body = {};
    if (Number(lf.value) !== m.loadfactor) body.loadfactor = Number(lf.value);
    if (Number(ls.value) !== m.lbset) body.lbset = Number(ls.value);
    if (route.value !== m.route) body.route = route.value;
    if (redirect.value !== m.redirect) body.redirect = redirect.value;
    let status = "";
    for (const [letter, box] of Object.entries(boxes)) {
      if (box.checked !== m.flags.includes(letter)) status += (box.checked ? "+" : "-") + letter;
    }
    if (clearErr.checked) status += "-E";
    if (status) body.status = status;
    if (Object.keys(body).length === 0) { editing = null; render(); return; }
    try {
      await call("PATCH", memberPath(b, m), body, m.etag);
      editing = null;
      say("Saved " + m.id);
      await refresh();
    } catch (e) { say(e.message, true); }
  };
  const form = el("form", { class: "edit-member", on: { submit: save } },
    field("Load factor", lf), field("LB set", ls), field("Route", route), field("Route redirect", redirect), flags,
    el("button", { id: "edit-save", type: "submit", text: "Save" }), " ",
    el("button", { type: "button", on: { click: () => { editing = null; render(); } }, text: "Cancel" }));
  return el("tr", { class: "editor" }, el("td", { colspan: columns }, form));
}

async function removeMember(b, m) {
  if (!confirm("Drain and remove " + m.id + " from balancer://" + b.name + "?")) return;
  try {
    const r = await call("DELETE", memberPath(b, m) + "?timeout=30s", undefined, m.etag);
    say("Removed " + r.removed + (r.drained ? "" : " (" + r.busy + " requests were still in flight)"));
  } catch (e) { say(e.message, true); }
  await refresh();
}

function balancerForm(b) {
  const method = el("select", { id: "edit-lbmethod" });
  for (const name of ["byrequests", "bytraffic", "bybusyness"]) method.append(el("option", { value: name, selected: name === b.lbmethod, text: name }));
  const max = el("input", { id: "edit-maxattempts", type: "number", min: 0, max: 99, value: b.maxattempts });
  const timeout = el("input", { id: "edit-timeout", value: b.timeout });
  const sticky = el("input", { id: "edit-stickysession", value: b.stickysession, placeholder: "COOKIE|param, - to clear" });
  const nofail = el("input", { id: "edit-nofailover", type: "checkbox", checked: b.nofailover });
  const force = el("input", { id: "edit-forcerecovery", type: "checkbox", checked: b.forcerecovery });
  const save = async (ev) => {
    ev.preventDefault();
    const body = {};
    if (method.value !== b.lbmethod) body.lbmethod = method.value;
    if (Number(max.value) !== b.maxattempts) body.maxattempts = Number(max.value);
    if (timeout.value !== b.timeout) body.timeout = timeout.value;
    if (sticky.value !== b.stickysession) body.stickysession = sticky.value;
    if (nofail.checked !== b.nofailover) body.nofailover = nofail.checked;
    if (force.checked !== b.forcerecovery) body.forcerecovery = force.checked;
    if (Object.keys(body).length === 0) { editing = null; render(); return; }
    try {
      await call("PATCH", api + "/" + encodeURIComponent(b.name), body, b.etag);
      editing = null;
      say("Saved balancer://" + b.name);
      await refresh();
    } catch (e) { say(e.message, true); }
  };
  return el("form", { class: "edit-balancer", on: { submit: save } },
    field("Method", method), field("Failover attempts", max), field("Timeout", timeout), field("Sticky session", sticky),
    field("Disable failover", nofail), field("Force recovery", force),
    el("button", { type: "submit", text: "Save" }), " ",
    el("button", { type: "button", on: { click: () => { editing = null; render(); } }, text: "Cancel" }));
}

function addForm(b) {
  const url = el("input", { id: "add-url", placeholder: "http://10.0.0.5:8080", required: true });
  const route = el("input", { id: "add-route", maxlength: 63 });
  const lf = el("input", { id: "add-loadfactor", type: "number", min: 1, max: 100, step: "0.01", value: 1 });
  const enabled = el("input", { id: "add-enabled", type: "checkbox" });
  const save = async (ev) => {
    ev.preventDefault();
    const body = { url: url.value, loadfactor: Number(lf.value) };
    if (route.value) body.route = route.value;
    if (enabled.checked) body.status = "-D";
    try {
      await call("POST", api + "/" + encodeURIComponent(b.name) + "/members", body, b.etag);
      editing = null;
      say("Added " + url.value);
      await refresh();
    } catch (e) { say(e.message, true); }
  };
  return el("form", { class: "add-member", on: { submit: save } },
    field("URL", url), field("Route", route), field("Load factor", lf), field("Enabled now", enabled),
    el("button", { type: "submit", text: "Add" }), " ",
    el("button", { type: "button", on: { click: () => { editing = null; render(); } }, text: "Cancel" }));
}

function balancerSection(b) {
  const sec = el("section", { class: "balancer", "data-balancer": b.name });
  sec.append(el("h2", {}, "LoadBalancer Status for ", el("span", { class: "name", text: "balancer://" + b.name }), b.locked ? " (locked: nonce=None)" : ""));
  const head = ["MaxMembers", "StickySession", "DisableFailover", "Timeout", "FailoverAttempts", "Method"];
  sec.append(el("table", { class: "settings" },
    el("thead", {}, el("tr", {}, ...head.map((h) => el("th", { text: h })))),
    el("tbody", {}, el("tr", {},
      el("td", { text: b.max_members + " [" + b.members.length + " Used]" }),
      el("td", { text: b.stickysession || "(None)" }),
      el("td", { text: b.nofailover ? "On" : "Off" }),
      el("td", { text: b.timeout }),
      el("td", { text: b.maxattempts }),
      el("td", { text: b.lbmethod })))));
  if (!b.locked) {
    sec.append(el("p", {},
      el("button", { class: "edit-balancer-open", type: "button", on: { click: () => { editing = "b:" + b.name; render(); } }, text: "Edit balancer settings" }), " ",
      el("button", { class: "add-member-open", type: "button", disabled: b.members.length >= b.max_members, on: { click: () => { editing = "add:" + b.name; render(); } }, text: "Add member" })));
  }
  if (editing === "b:" + b.name) sec.append(balancerForm(b));
  if (editing === "add:" + b.name) sec.append(addForm(b));
  const fleet = Boolean(lastData.fleet);
  const cols = ["Worker URL", "Route", "RouteRedir", "Factor", "Set", "Status", "Elected", "Busy", "Load", "To", "From", "Health", ...(fleet ? ["Fleet"] : []), ""];
  const body = el("tbody");
  for (const m of b.members) {
    body.append(memberRow(b, m, fleet));
    if (editing === "m:" + b.name + ":" + m.id) body.append(memberForm(b, m, cols.length));
  }
  sec.append(el("table", { class: "members" }, el("thead", {}, el("tr", {}, ...cols.map((h) => el("th", { text: h })))), body));
  return sec;
}

function render() {
  if (!lastData) return;
  document.getElementById("server").textContent = lastData.server_name;
  document.getElementById("persist").textContent = "Balancer changes will " + (lastData.persist ? "" : "NOT ") + "be persisted on restart.";
  const f = lastData.fleet, line = document.getElementById("fleet");
  line.hidden = !f;
  line.textContent = f ? fleetLine(f) : "";
  line.title = f ? f.instances.map((i) => i.instance + " at revision " + i.revision).join(", ") : "";
  line.className = f && !(f.connected && f.synced) ? "bad" : "";
  const main = document.getElementById("balancers");
  main.replaceChildren(...lastData.balancers.map(balancerSection));
  if (editing && editing.startsWith("m:")) {
    const input = document.getElementById("edit-loadfactor");
    if (input) input.focus();
  }
}

async function refresh() {
  try {
    lastData = await call("GET", api);
    document.body.setAttribute("data-loaded", "true");
    render();
  } catch (e) { say(e.message, true); }
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem("sluice-token", document.getElementById("token").value);
    document.getElementById("token-form").hidden = true;
    refresh();
  });
  refresh();
  setInterval(() => { if (!editing) refresh(); }, 3000);
});
