// The console's shared parts: the API call, DOM building, formatting, the hash router and the role navigation.
// Every page module imports from here; none keeps its own copy of these.

export const TOKEN_KEY = "yunwang.console.token";
export const state = { me: null };

export const $ = (id) => document.getElementById(id);

/** Build an element: attributes (class, data-*, aria-*, for, …) then children (nodes or text). */
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
    else if (k in node && !k.includes("-") && k !== "list") node[k] = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/** A table: columns [{label, value(row) → text|Node, num?}] over rows; rows get data-testid when given. */
export function table(columns, rows, opts) {
  const o = opts || {};
  const head = el("tr", {}, columns.map((c) => el("th", { scope: "col" }, c.label)));
  const body = rows.map((r) =>
    el("tr", { "data-testid": o.rowTestId || null, "data-id": r.id ?? null },
      columns.map((c) => el("td", { class: c.num ? "num" : null }, c.value(r)))));
  const t = el("table", { class: "grid", "aria-label": o.label || null }, el("thead", {}, head), el("tbody", {}, body));
  if (!rows.length) t.append(el("caption", { class: "hint" }, o.empty || "暂无 / nothing yet"));
  return t;
}

export function showError(message) { $("error").textContent = message || ""; }

function cookie(name) {
  const hit = document.cookie.split("; ").find((c) => c.startsWith(name + "="));
  return hit ? decodeURIComponent(hit.slice(name.length + 1)) : null;
}

/** Thrown by api(): the HTTP status and the API's one error body ({error: {message, problems}}). */
export class ApiError extends Error {
  constructor(status, body) {
    const err = (body && body.error) || {};
    super(`HTTP ${status}: ${err.message || "请求失败 / request failed"}`);
    this.status = status;
    this.problems = err.details || [];
    this.body = body; // the whole error body (an import's 422 carries its per-row report beside the error)
  }
}

/**
 * Call the API as the signed-in user: the session cookie (with the CSRF header on writes) or, when one was
 * entered, an API token kept in sessionStorage. JSON bodies are sent as JSON; FormData as multipart.
 * Returns the parsed JSON (or the Response when opts.raw).
 */
export async function api(path, opts) {
  const o = opts || {};
  const method = (o.method || "GET").toUpperCase();
  const headers = { Accept: "application/json", ...(o.headers || {}) };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = "Bearer " + token;
  if (method !== "GET" && method !== "HEAD") {
    const csrf = cookie("yw_csrf");
    if (csrf) headers["X-CSRF-Token"] = csrf;
  }
  let body = o.body;
  if (body !== undefined && !(body instanceof FormData) && typeof body !== "string") {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(body);
  }
  const response = await fetch(path, { method, headers, body, credentials: "same-origin" });
  if (o.raw && response.ok) return response;
  let data = null;
  const text = await response.text();
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
  if (!response.ok) {
    if (response.status === 401 && !o.quiet) signedOut();
    throw new ApiError(response.status, data);
  }
  return data;
}

/** Run an async action and show its failure in the alert line (the API's message, problems listed). */
export async function attempt(action) {
  showError("");
  try {
    return await action();
  } catch (e) {
    const detail = (e.problems || []).map((p) => [p.field, p.message].filter(Boolean).join(": ")).join("; ");
    showError(e.message + (detail ? " — " + detail : ""));
    return undefined;
  }
}

/** Poll a background job (core.tasks: provisioning, a large import…) until it has finished; `onStatus(status)`
 * while it runs. The finished job, or undefined when it could not be read 10 times running (the error is shown). */
export async function waitJob(job, onStatus) {
  let j = job;
  let misses = 0; // a poll that failed (a restart behind nginx, a dropped connection) is tried again, 10 times
  while (!["succeeded", "failed"].includes(j.status)) {
    if (onStatus) onStatus(j.status);
    await new Promise((ok) => setTimeout(ok, 500 * (misses + 1)));
    const next = await attempt(() => api(job.url));
    if (next === undefined) {
      if (++misses >= 10) return undefined;
      continue;
    }
    misses = 0;
    j = next;
  }
  return j;
}

const BEIJING = new Intl.DateTimeFormat("zh-CN", {
  timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit",
  hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
});

/** An API time (with offset) shown in Beijing time, e.g. 2026/12/01 09:30:00. */
export function fmtTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : BEIJING.format(d);
}

export const pct = (x, digits) => (x === null || x === undefined ? "—" : (x * 100).toFixed(digits ?? 2) + "%");
export const num = (x, digits) => (x === null || x === undefined ? "—" : Number(x).toFixed(digits ?? 0));

// --- routes and navigation ---------------------------------------------------------------------------------

const ROUTES = [];
const NAV = [];

/**
 * Register a view: pattern like "requests/:id" (matched against the hash after "#/"); render(view, params,
 * query) fills the <main> element. `nav` = {label, roles} adds a link for those roles (all when omitted).
 */
export function route(pattern, render, nav) {
  const names = [];
  const rx = new RegExp("^" + pattern.replace(/:([a-z_]+)/g, (_, n) => { names.push(n); return "([^/]+)"; }) + "$");
  ROUTES.push({ rx, names, render, pattern, roles: nav && nav.roles });
  if (nav) NAV.push({ pattern, ...nav });
}

export function navigate(hash) { location.hash = hash; }

function parseHash() {
  const raw = decodeURIComponent(location.hash.replace(/^#\/?/, ""));
  const [path, qs] = raw.split("?");
  return { path: path.replace(/\/$/, ""), query: new URLSearchParams(qs || "") };
}

export async function render() {
  if (!state.me) return;
  const { path, query } = parseHash();
  const view = $("view");
  for (const r of ROUTES) {
    const m = r.rx.exec(path);
    if (!m) continue;
    const params = Object.fromEntries(r.names.map((n, i) => [n, m[i + 1]]));
    // One current link: the longest nav target the path is (or is under), so #/extranet/nodes is not also #/extranet.
    const links = [...$("nav").querySelectorAll("a")];
    const under = (t) => t === path || (t && path.startsWith(t + "/"));
    const best = links.map((a) => a.getAttribute("href").slice(2)).filter(under).sort((x, y) => y.length - x.length)[0];
    for (const a of links) {
      if (best !== undefined && a.getAttribute("href").slice(2) === best) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    showError("");
    view.replaceChildren(el("p", { class: "hint" }, "加载中… / loading…"));
    document.body.dataset.loaded = "";
    const ok = await attempt(async () => {
      if (!can(r.roles)) {  // a link kept from another role: say so instead of the API's 403
        view.replaceChildren(el("section", {}, el("h2", {}, "无权访问 ", el("small", {}, "Not for your role")),
          el("p", { "data-testid": "not-allowed" }, `${ROLE_LABEL[state.me.role] || state.me.role} 不能打开此页 / your role cannot open this page`),
          el("p", {}, el("a", { href: "#/" }, "返回首页 / Home"))));
        return true;
      }
      await r.render(view, params, query);
      return true;
    });
    if (!ok) {  // the reason is in the alert line; the view must not keep saying "loading"
      view.replaceChildren(el("section", {}, el("h2", {}, "无法显示 ", el("small", {}, "Cannot show this page")),
        el("p", {}, $("error").textContent), el("p", {}, el("a", { href: "#/" }, "返回首页 / Home"))));
    }
    document.body.dataset.loaded = path || "home";
    const h = view.querySelector("h2");
    document.title = (h ? h.textContent + " · " : "") + "云网统筹控制台 / yunwang console";
    view.focus();
    return;
  }
  view.replaceChildren(el("section", {}, el("h2", {}, "页面不存在 ", el("small", {}, "Not found")),
    el("p", {}, el("a", { href: "#/" }, "返回首页 / Home"))));
  document.body.dataset.loaded = "404";
}

/** Whether the signed-in role may see a nav entry / action. */
export function can(roles) { return !roles || (state.me && roles.includes(state.me.role)); }

function buildNav() {
  const nav = $("nav");
  nav.replaceChildren(...NAV.filter((n) => can(n.roles)).map((n) => el("a", { href: "#/" + n.pattern }, n.label)));
  nav.append(el("a", { href: "/office" }, "指标 Rates"));
  nav.hidden = false;
}

export const ROLE_LABEL = {
  admin: "系统管理员 Admin",
  cloud_chief_office: "云长制办公室 Cloud-chief office",
  sub_cloud_chief: "分云长 Sub-cloud-chief",
  cloud_operator: "云运维 Cloud operator",
  network_admin: "外网管理员 Network admin",
  department_user: "部门用户 Department user",
  auditor: "审计员 Auditor",
};

async function whoAmI() {
  try {
    state.me = await api("/api/v1/me", { quiet: true });
  } catch (e) {
    state.me = null;
    if (e.status !== 401) showError(e.message);
  }
  return state.me;
}

function signedIn() {
  const me = state.me;
  $("sign-in").hidden = true;
  $("who").hidden = false;
  $("who-name").textContent = `${me.name} · ${ROLE_LABEL[me.role] || me.role}` + (me.unit_name ? ` · ${me.unit_name}` : "");
  $("view").hidden = false;
  buildNav();
  render();
}

export function signedOut() {
  state.me = null;
  sessionStorage.removeItem(TOKEN_KEY);
  $("sign-in").hidden = false;
  $("who").hidden = true;
  $("nav").hidden = true;
  $("view").hidden = true;
  $("view").replaceChildren();  // nothing of the previous user's pages stays in the document
  document.body.dataset.loaded = "signed-out";
  $("login-username").focus();
}

export async function start() {
  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const form = new FormData(ev.target);
    const ok = await attempt(() => api("/auth/login", {
      method: "POST", quiet: true, body: { username: form.get("username"), password: form.get("password") },
    }));
    ev.target.reset();
    if (ok !== undefined && await whoAmI()) signedIn();
  });
  $("token-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
    $("token").value = "";
    if (await whoAmI()) signedIn();
    else { sessionStorage.removeItem(TOKEN_KEY); showError("令牌无效 / invalid token"); }
  });
  $("sign-out").addEventListener("click", async () => {
    if (!sessionStorage.getItem(TOKEN_KEY)) await attempt(() => api("/auth/logout", { method: "POST", quiet: true }));
    signedOut();
  });
  window.addEventListener("hashchange", render);
  if (await whoAmI()) signedIn();
  else signedOut();
}

// --- sparkline (added by the extranet pages; self-contained) ----------------------------------------------------

/**
 * A small inline SVG line over `values` (oldest first; null/undefined leave a gap), scaled from 0 to the
 * largest value. opts = {label (aria-label, required for a screen reader), width, height, testid}.
 */
export function sparkline(values, opts) {
  const o = opts || {};
  const w = o.width || 120, h = o.height || 24, pad = 2;
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  for (const [k, v] of Object.entries({ viewBox: `0 0 ${w} ${h}`, width: w, height: h, role: "img", class: "sparkline" })) {
    svg.setAttribute(k, v);
  }
  svg.setAttribute("aria-label", o.label || "");
  if (o.testid) svg.setAttribute("data-testid", o.testid);
  const nums = values.filter((v) => v !== null && v !== undefined);
  if (!nums.length) return svg;
  const max = Math.max(...nums) || 1;
  const step = values.length > 1 ? (w - 2 * pad) / (values.length - 1) : 0;
  const y = (v) => (h - pad - (v / max) * (h - 2 * pad)).toFixed(1);
  let d = "", open = false;
  values.forEach((v, i) => {
    if (v === null || v === undefined) { open = false; return; }
    const x = (pad + i * step).toFixed(1);
    d += (open ? "L" : "M") + x + " " + y(v);
    if (!open && (i + 1 >= values.length || values[i + 1] === null || values[i + 1] === undefined)) d += "h1";
    open = true;
  });
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", d);
  svg.append(path);
  return svg;
}
