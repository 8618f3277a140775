// The cloud-chief office page: reads the JSON APIs with the token kept in sessionStorage; no data in the HTML.
"use strict";

const TOKEN_KEY = "yunwang.office.token";
const SVG_NS = "http://www.w3.org/2000/svg";
const SHORT = {
  systems_migrated: "系统上云 Systems",
  networks_interconnected: "专网打通 Networks",
  items_docked: "事项对接 Items",
  horizontal_access: "横向接入 Access",
  cloud_network_utilisation: "云网统筹 Utilisation",
};
const PART = { numerator: "分子 numerator", denominator: "分母 denominator", excluded: "排除 excluded" };
const REASON = { classified: "涉密 classified", retired: "退役 retired", exempt: "豁免 exempt" };
const state = { asOf: null, month: "", rates: [] };

const $ = (id) => document.getElementById(id);
const token = () => sessionStorage.getItem(TOKEN_KEY);
const pct = (x) => (x === null || x === undefined ? "—" : (x * 100).toFixed(2) + "%");

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("data-") || k === "type" || k === "title" || k === "colspan") node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(c === null || c === undefined ? "" : String(c)));
  return node;
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function showError(message) { $("error").textContent = message || ""; }

function cookie(name) {
  const hit = document.cookie.split("; ").find((c) => c.startsWith(name + "="));
  return hit ? decodeURIComponent(hit.slice(name.length + 1)) : null;
}

// A token entered here, or else the console's sign-in session (cookie, with the CSRF header on writes).
async function api(path, options) {
  const o = options || {};
  const headers = {};
  if (token()) headers.Authorization = "Bearer " + token();
  else if ((o.method || "GET") !== "GET" && cookie("yw_csrf")) headers["X-CSRF-Token"] = cookie("yw_csrf");
  const response = await fetch(path, { ...o, headers, credentials: "same-origin" });
  if (!response.ok) {
    let message = "HTTP " + response.status;
    try { message += ": " + (await response.json()).error.message; } catch (e) { /* not JSON */ }
    if (response.status === 401) signOut();
    throw new Error(message);
  }
  return response;
}

function withAsOf(path) {
  if (!state.asOf) return path;
  return path + (path.includes("?") ? "&" : "?") + "as_of=" + encodeURIComponent(state.asOf);
}

// --- month selector: "now" or the last instant of a month in China Standard Time -------------------------

function monthEnd(month) {
  const [y, m] = month.split("-").map(Number);
  const last = new Date(Date.UTC(y, m, 0)).getUTCDate();
  return `${month}-${String(last).padStart(2, "0")}T23:59:59.999999+08:00`;
}

function fillMonths() {
  const select = $("month");
  select.append(el("option", { value: "" }, "当前 Now"));
  const now = new Date(Date.now() + 8 * 3600 * 1000); // Beijing calendar
  let y = now.getUTCFullYear(), m = now.getUTCMonth() + 1;
  for (let i = 0; i < 60; i++) {
    const value = `${y}-${String(m).padStart(2, "0")}`;
    select.append(el("option", { value }, `${y}年${m}月末 / end of ${value}`));
    m -= 1;
    if (m === 0) { m = 12; y -= 1; }
  }
  select.addEventListener("change", () => { state.month = select.value; state.asOf = select.value ? monthEnd(select.value) : null; refresh(); });
}

// --- rate cards ------------------------------------------------------------------------------------------

function figure(text, key, part, filters, testid) {
  const b = el("button", { type: "button", class: "fig", "data-testid": testid, "data-key": key, "data-part": part }, text);
  b.addEventListener("click", () => drill(key, part, filters || {}));
  return b;
}

function bar(ratio, target, width) {
  const s = svg("svg", { width: "100%", viewBox: `0 0 ${width} 22`, role: "img" });
  s.append(svg("rect", { x: 0, y: 3, width, height: 16, fill: "#eef1f5" }));
  const met = target === null || (ratio !== null && ratio >= target);
  s.append(svg("rect", { x: 0, y: 3, width: (ratio || 0) * width, height: 16, fill: met ? "#2e7d32" : "#c62828" }));
  if (target !== null) s.append(svg("line", { x1: target * width - 1, x2: target * width - 1, y1: 0, y2: 22, stroke: "#111", "stroke-width": 2 }));
  return s;
}

function renderCards() {
  const cards = $("cards");
  cards.replaceChildren();
  for (const r of state.rates) {
    const o = r.overall;
    const cls = o.target === null || o.ratio === null ? "" : o.ratio >= o.target ? " met" : " below";
    const excluded = Object.values(r.excluded_counts).reduce((a, b) => a + b, 0);
    const reasons = Object.entries(r.excluded_counts).map(([k, n]) => `${REASON[k] || k} ${n}`).join(" · ");
    cards.append(
      el("div", { class: "card", "data-testid": "rate-card", "data-key": r.key },
        el("h3", {}, r.label_zh, el("small", {}, r.label_en)),
        el("div", { class: "ratio" + cls, "data-testid": "ratio" }, pct(o.ratio)),
        el("div", { class: "parts" }, "分子/分母 ",
          figure(o.numerator, r.key, "numerator", {}, "numerator"), " / ",
          figure(o.denominator, r.key, "denominator", {}, "denominator")),
        el("div", { class: "target" }, "目标 Target: ", el("span", { "data-testid": "target" }, pct(o.target))),
        bar(o.ratio, o.target, 200),
        el("div", { class: "excl", title: reasons }, "排除 Excluded: ", figure(excluded, r.key, "excluded", {}, "excluded"), " (", reasons, ")"),
      ),
    );
  }
}

// --- city chart ------------------------------------------------------------------------------------------

function renderCityChart() {
  const key = $("city-rate").value || (state.rates[0] && state.rates[0].key);
  const report = state.rates.find((r) => r.key === key);
  const box = $("city-chart");
  box.replaceChildren();
  if (!report) return;
  const rows = report.breakdowns.filter((b) => b.dimension === "city");
  const height = 26 * rows.length + 10;
  const s = svg("svg", { width: "100%", viewBox: `0 0 1000 ${height}`, role: "img", "data-testid": "city-chart" });
  rows.forEach((b, i) => {
    const y = 26 * i + 5;
    s.append(svg("text", { x: 0, y: y + 14 }, `${b.label}`));
    s.append(svg("rect", { x: 200, y, width: 640, height: 18, fill: "#eef1f5" }));
    const met = b.rate.target === null || (b.rate.ratio !== null && b.rate.ratio >= b.rate.target);
    s.append(svg("rect", { x: 200, y, width: (b.rate.ratio || 0) * 640, height: 18, fill: met ? "#2e7d32" : "#c62828" }));
    if (b.rate.target !== null) s.append(svg("line", { x1: 200 + b.rate.target * 640, x2: 200 + b.rate.target * 640, y1: y - 2, y2: y + 20, stroke: "#111", "stroke-width": 2 }));
    s.append(svg("text", { x: 850, y: y + 14 }, `${pct(b.rate.ratio)}  ${b.rate.numerator}/${b.rate.denominator}`));
  });
  box.append(s);
}

// --- rankings --------------------------------------------------------------------------------------------

const RANK_PAGE = 30;

let rankingMinItems = 3;

function renderRanking(tableId, rows, keys, filterName, testid, showAll) {
  const table = $(tableId);
  const shown = showAll ? rows : rows.slice(0, RANK_PAGE);
  table.replaceChildren(
    el("tr", {}, el("th", {}, "排名 Rank"), el("th", {}, "名称 Name"), el("th", {}, "综合得分 Score"), ...keys.map((k) => el("th", {}, SHORT[k] || k)), el("th", {}, "说明 Note")),
  );
  let apart = false;
  for (const row of shown) {
    if (row.too_few && !apart) {  // listed apart: scored on too few items to be ranked
      apart = true;
      table.append(el("tr", { class: "apart", "data-testid": "too-few-heading" },
        el("th", { colspan: keys.length + 4 }, `样本过少，不参与排名（少于${rankingMinItems}项）/ too few items to rank (< ${rankingMinItems})`)));
    }
    const cells = keys.map((k) => {
      const r = row.rates[k];
      if (!r) return el("td", { class: "num" }, "—");
      const below = r.target !== null && r.ratio !== null && r.ratio < r.target;
      return el("td", { class: "num" + (below ? " below" : "") }, pct(r.ratio), " ",
        figure(`${r.numerator}/${r.denominator}`, k, "denominator", { [filterName]: row.key }, "rank-fig"));
    });
    table.append(
      el("tr", { "data-testid": testid, "data-key": row.key },
        el("td", { class: "num", "data-testid": "rank" }, row.rank === null ? "—" : row.rank),
        el("td", { "data-testid": "name" }, row.label),
        el("td", { class: "num", "data-testid": "score" }, pct(row.score)),
        ...cells,
        el("td", { "data-testid": "rank-note" }, row.note || "")),
    );
  }
  if (shown.length < rows.length) {
    const more = el("button", { type: "button", "data-testid": "show-all" }, `显示全部 ${rows.length} 项 / show all ${rows.length}`);
    more.addEventListener("click", () => renderRanking(tableId, rows, keys, filterName, testid, true));
    table.append(el("tr", {}, el("td", { colspan: keys.length + 4 }, more)));
  }
}

// --- drill-down ------------------------------------------------------------------------------------------

async function drill(key, part, filters) {
  const params = new URLSearchParams({ part, limit: "500" });
  for (const [k, v] of Object.entries(filters)) params.set(k, v);
  try {
    const page = await (await api(withAsOf(`/api/v1/rates/${key}/items?${params}`))).json();
    const report = state.rates.find((r) => r.key === key);
    const where = Object.values(filters).join(" ");
    $("drill-title").textContent = `${report ? report.label_zh : key} · ${PART[part]}${where ? " · " + where : ""}`;
    $("drill-total").textContent = `共 ${page.total} 项 / ${page.total} items` + (page.total > page.items.length ? `（显示前 ${page.items.length} 项 / first ${page.items.length} shown）` : "");
    const table = $("drill-items");
    table.replaceChildren(el("tr", {},
      ...["编码 Code", "名称 Name", "单位 Unit", "地市 City", "状态 Status", "归类 Category", "认定 Decision"].map((h) => el("th", {}, h))));
    for (const it of page.items) {
      const decision = it.decision ? `${it.decision} · ${it.decided_by || ""} · ${it.decided_on || ""}` : (it.reason ? REASON[it.reason] || it.reason : "");
      table.append(el("tr", { "data-testid": "drill-row", "data-code": it.code },
        el("td", {}, it.code), el("td", {}, it.name), el("td", {}, it.unit_name), el("td", {}, it.city_name),
        el("td", {}, it.status), el("td", {}, it.category), el("td", {}, decision)));
    }
    $("drill").hidden = false;
    $("drill").scrollIntoView({ block: "nearest" });
  } catch (e) { showError(e.message); }
}

// --- reports ---------------------------------------------------------------------------------------------

async function download(path, filename, open) {
  try {
    const blob = await (await api(path)).blob();
    const url = URL.createObjectURL(blob);
    if (open) window.open(url, "_blank");
    else { const a = el("a", { href: url, download: filename }); document.body.append(a); a.click(); a.remove(); }
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  } catch (e) { showError(e.message); }
}

async function renderReports() {
  const table = $("reports");
  const list = await (await api("/api/v1/reports")).json();
  table.replaceChildren(el("tr", {}, ...["月份 Month", "统计时点 As of", "发布时间 Published", "发布人 By", "SHA-256 (XLSX)", "下载 Download"].map((h) => el("th", {}, h))));
  if (list.items.length === 0) table.append(el("tr", {}, el("td", { colspan: 6 }, "尚无已发布通报 / no report published yet")));
  for (const r of list.items) {
    const xlsx = el("button", { type: "button" }, "XLSX");
    xlsx.addEventListener("click", () => download(`/api/v1/reports/${r.month}.xlsx`, `yunwang-report-${r.month}.xlsx`, false));
    const html = el("button", { type: "button" }, "HTML（打印 print）");
    html.addEventListener("click", () => download(`/api/v1/reports/${r.month}.html`, "", true));
    table.append(el("tr", { "data-testid": "report-row", "data-month": r.month },
      el("td", {}, r.month), el("td", {}, r.as_of), el("td", {}, r.published_at), el("td", {}, r.published_by),
      el("td", { title: r.xlsx_sha256 }, r.xlsx_sha256.slice(0, 16) + "…"), el("td", {}, xlsx, " ", html)));
  }
}

function selectedMonthOrWarn() {
  if (!state.month) { showError("请先选择月份 / choose a month first"); return null; }
  return state.month;
}

// --- page ------------------------------------------------------------------------------------------------

async function refresh() {
  showError("");
  try {
    const [rates, rankings] = await Promise.all([
      api(withAsOf("/api/v1/rates")).then((r) => r.json()),
      api(withAsOf("/api/v1/reports/rankings")).then((r) => r.json()),
    ]);
    state.rates = rates;
    $("asof").textContent = state.asOf ? `截至 as of ${state.asOf}` : "当前 now";
    const citySelect = $("city-rate");
    const chosen = citySelect.value;
    citySelect.replaceChildren(...rates.map((r) => el("option", { value: r.key }, r.label_zh)));
    if (chosen) citySelect.value = chosen;
    renderCards();
    renderCityChart();
    rankingMinItems = rankings.min_items;
    $("ranking-rule").textContent = rankings.rule;
    renderRanking("unit-ranking", rankings.units, rankings.keys, "unit", "unit-rank-row");
    renderRanking("city-ranking", rankings.cities, rankings.keys, "city", "city-rank-row");
    $("drill").hidden = true;
    await renderReports();
    document.body.dataset.loaded = String(Date.now());
  } catch (e) { showError(e.message); }
}

function signIn(value) {
  sessionStorage.setItem(TOKEN_KEY, value);
  showApp();
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  $("login").hidden = false;
  $("session").hidden = true;
  $("app").hidden = true;
}

function init() {
  fillMonths();
  $("login").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const value = $("token").value.trim();
    $("token").value = "";
    if (value) signIn(value);
  });
  $("logout").addEventListener("click", signOut);
  $("city-rate").addEventListener("change", renderCityChart);
  $("drill-close").addEventListener("click", () => { $("drill").hidden = true; });
  $("draft-html").addEventListener("click", () => { const m = selectedMonthOrWarn(); if (m) download(`/api/v1/reports/${m}.html?draft=1`, "", true); });
  $("draft-xlsx").addEventListener("click", () => { const m = selectedMonthOrWarn(); if (m) download(`/api/v1/reports/${m}.xlsx?draft=1`, `yunwang-report-${m}-draft.xlsx`, false); });
  $("publish").addEventListener("click", async () => {
    const m = selectedMonthOrWarn();
    if (!m || !window.confirm(`发布 ${m} 督查通报？发布后不可更改。/ Publish ${m}? It cannot be changed afterwards.`)) return;
    try { await api(`/api/v1/reports/${m}/publish`, { method: "POST" }); await renderReports(); } catch (e) { showError(e.message); }
  });
  if (token()) signIn(token());
  else fetch("/api/v1/me", { credentials: "same-origin" }).then((r) => { if (r.ok) showApp(); }).catch(() => {});
}

// Signed in through the console (accounts, single sign-on): no token to enter.
function showApp() {
  $("login").hidden = true;
  $("session").hidden = false;
  $("app").hidden = false;
  refresh();
}

init();
