// Requests (申请): the list with filters, the catalogue of what the clouds offer, and the request form (quota left
// beside it, the DR choice explained, the API's validation errors shown at their fields).
import { api, ApiError, attempt, can, el, navigate, route, showError, state, table } from "./core.js";
import {
  badge, CREATORS, DR_LABEL, RESOURCE_LABEL, STATUS_LABEL, subtree, unitName, units,
} from "./requests-shared.js";

const READERS = ["admin", "cloud_chief_office", "sub_cloud_chief", "cloud_operator", "department_user", "auditor"];

/** The units the signed-in user may pick (its subtree when scoped), as <option>s. */
function unitOptions(map, selected, withAll) {
  const me = state.me;
  const allowed = me.scoped && me.unit_id ? subtree(map, me.unit_id) : null;
  const list = [...map.values()].filter((u) => !allowed || allowed.has(u.id));
  const opts = list.map((u) => el("option", { value: String(u.id), selected: String(u.id) === String(selected) }, `${u.name}（${u.code}）`));
  return withAll ? [el("option", { value: "" }, "全部 all"), ...opts] : opts;
}

// --- list ----------------------------------------------------------------------------------------------------

async function list(view, params, query) {
  const status = query.get("status") || "";
  const unit = query.get("unit") || "";
  const qs = new URLSearchParams({ limit: "1000" });
  if (status) qs.set("status", status);
  if (unit) qs.set("unit_id", unit);
  const [rows, map] = await Promise.all([api("/api/v1/requests?" + qs), units()]);
  const filters = el("form", { class: "rq-filters", "aria-label": "筛选 Filters", onsubmit: (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    const q = new URLSearchParams([...f.entries()].filter(([, v]) => v));
    navigate("#/requests" + (q.toString() ? "?" + q : ""));
  } },
  el("label", {}, "状态 Status", el("select", { name: "status", "data-testid": "filter-status" },
    el("option", { value: "" }, "全部 all"),
    Object.entries(STATUS_LABEL).map(([v, l]) => el("option", { value: v, selected: v === status }, l)))),
  el("label", {}, "单位 Unit", el("select", { name: "unit", "data-testid": "filter-unit" }, unitOptions(map, unit, true))),
  el("button", { type: "submit" }, "筛选 Filter"));
  rows.sort((a, b) => b.id - a.id);
  const t = table([
    { label: "编号 Code", value: (r) => el("a", { href: `#/requests/${r.id}` }, r.code) },
    { label: "标题 Title", value: (r) => r.title },
    { label: "单位 Unit", value: (r) => unitName(map, r.unit_id) },
    { label: "状态 Status", value: (r) => badge(r.status) },
    { label: "灾备 DR", value: (r) => DR_LABEL[r.dr_level] || r.dr_level },
    { label: "vCPU", value: (r) => String(r.demand.vcpus), num: true },
    { label: "内存 RAM (MB)", value: (r) => String(r.demand.ram_mb), num: true },
    { label: "云 Cloud", value: (r) => [r.primary_cloud, r.replica_cloud].filter(Boolean).join(" + ") || "—" },
    { label: "申请人 By", value: (r) => r.created_by },
  ], rows, { label: "申请列表 Requests", rowTestId: "request-row", empty: "没有符合条件的申请 / no request matches" });
  view.replaceChildren(el("section", {},
    el("h2", {}, "资源申请 ", el("small", {}, "Requests")),
    can(CREATORS) ? el("p", {}, el("a", { class: "button", href: "#/requests/new", "data-testid": "new-request" }, "新建申请 New request"),
      " ", el("a", { href: "#/catalogue" }, "申请目录 Catalogue")) : null,
    filters,
    el("p", { class: "hint", "data-testid": "request-count" }, `共 ${rows.length} 条 / ${rows.length} request(s)`),
    t));
}

// --- catalogue -------------------------------------------------------------------------------------------------

async function catalogue(view) {
  const c = await api("/api/v1/catalogue");
  const clouds = (xs) => xs.join(", ");
  const ask = (f) => (can(CREATORS) ? el("a", { href: `#/requests/new?flavor=${encodeURIComponent(f.name)}` }, "用此规格申请 Request") : "");
  view.replaceChildren(el("section", {},
    el("h2", {}, "申请目录 ", el("small", {}, "Catalogue")),
    el("p", { class: "hint" }, "各云平台当前提供的云主机类型、镜像和网络（来自云平台接口）/ what the configured clouds offer now, read from their APIs."),
    el("h3", {}, "云平台 ", el("small", {}, "Clouds")),
    table([
      { label: "云 Cloud", value: (r) => r.cloud },
      { label: "可用区 AZ", value: (r) => r.availability_zone || "—" },
      { label: "状态 State", value: (r) => (r.errors.length ? el("span", { class: "bad" }, r.errors.join("; ")) : el("span", { class: "ok" }, "可用 answering")) },
    ], c.clouds, { label: "云平台 Clouds", empty: "未配置云平台 / no cloud configured" }),
    el("h3", {}, "云主机类型 ", el("small", {}, "Flavors")),
    table([
      { label: "名称 Name", value: (r) => r.name },
      { label: "vCPU", value: (r) => String(r.vcpus), num: true },
      { label: "内存 RAM (MB)", value: (r) => String(r.ram_mb), num: true },
      { label: "系统盘 Root disk (GB)", value: (r) => String(r.disk_gb), num: true },
      { label: "提供的云 Offered by", value: (r) => clouds(r.clouds) },
      { label: "", value: ask },
    ], c.flavors, { label: "云主机类型 Flavors", rowTestId: "flavor-row" }),
    Object.keys(c.ambiguous_flavors).length ? el("p", { class: "warn" }, "规格不一致、不能申请 / ambiguous, not requestable: ",
      Object.values(c.ambiguous_flavors).join("; ")) : null,
    el("h3", {}, "镜像 ", el("small", {}, "Images")),
    table([
      { label: "名称 Name", value: (r) => r.name },
      { label: "最小磁盘 Min disk (GB)", value: (r) => String(r.min_disk_gb), num: true },
      { label: "提供的云 Offered by", value: (r) => clouds(r.clouds) },
    ], c.images, { label: "镜像 Images", rowTestId: "image-row" }),
    el("h3", {}, "网络 ", el("small", {}, "Networks")),
    el("p", { class: "hint" }, "申请中的网络为项目私有网络，经路由接到外部网络（浮动 IP 也来自外部网络）/ requested networks are project networks routed to the external network, which also gives floating IPs."),
    table([
      { label: "名称 Name", value: (r) => r.name },
      { label: "类型 Type", value: (r) => [r.external ? "外部 external" : null, r.shared ? "共享 shared" : null].filter(Boolean).join(", ") },
      { label: "提供的云 Offered by", value: (r) => clouds(r.clouds) },
    ], c.networks, { label: "网络 Networks", rowTestId: "network-row" }),
    el("h3", {}, "灾备 ", el("small", {}, "Disaster recovery")),
    drExplanation(c)));
}

function drExplanation(c) {
  return el("div", { "data-testid": "dr-explained" },
    el("ul", {}, c.dr_levels.map((d) => el("li", {}, el("strong", {}, d.label), `（${d.copies} 份 copies）：`, d.explanation))),
    el("p", { class: "hint" }, `核心站点 core sites: ${c.core_sites.join(", ")}；灾备站点 DR sites: ${c.dr_sites.join(", ")}`));
}

// --- the form --------------------------------------------------------------------------------------------------

let rowSeq = 0;
const input = (label, attrs) => {
  const id = `rq-f${++rowSeq}`;
  return el("label", { for: id }, label, el("input", { id, ...attrs }), el("span", { class: "rq-field-error", "data-error-for": attrs["data-field"] }));
};
const select = (label, attrs, options) => {
  const id = `rq-f${++rowSeq}`;
  return el("label", { for: id }, label, el("select", { id, ...attrs }, options), el("span", { class: "rq-field-error", "data-error-for": attrs["data-field"] }));
};

function serverRow(i, cat, preset) {
  const f = (name) => `bundle.servers.${i}.${name}`;
  const flavors = cat.flavors.length
    ? select("云主机类型 Flavor", { name: "flavor", "data-field": f("flavor"), required: true },
      cat.flavors.map((x) => el("option", { value: x.name, selected: x.name === preset },
        `${x.name}（${x.vcpus} vCPU, ${x.ram_mb} MB, ${x.disk_gb} GB）`)))
    : input("云主机类型 Flavor", { name: "flavor", "data-field": f("flavor"), required: true, value: preset || "" });
  const images = cat.images.length
    ? select("镜像 Image", { name: "image", "data-field": f("image"), required: true }, cat.images.map((x) => el("option", { value: x.name }, x.name)))
    : input("镜像 Image", { name: "image", "data-field": f("image"), required: true });
  const row = el("fieldset", { class: "rq-row", "data-kind": "server" },
    el("legend", {}, `云主机 Server ${i + 1}`),
    input("名称 Name", { name: "name", "data-field": f("name"), value: i ? `app${i + 1}` : "app", required: true, pattern: "[a-z][a-z0-9-]{0,39}" }),
    flavors, images,
    input("数量 Count", { name: "count", type: "number", min: 1, max: 100, value: 1, "data-field": f("count") }));
  if (!cat.flavors.length) { // no cloud tells the sizes: they must be declared
    row.append(
      input("vCPU", { name: "vcpus", type: "number", min: 1, "data-field": f("vcpus") }),
      input("内存 RAM (MB)", { name: "ram_mb", type: "number", min: 128, "data-field": f("ram_mb") }),
      input("系统盘 Disk (GB)", { name: "disk_gb", type: "number", min: 0, "data-field": f("disk_gb") }));
  }
  return row;
}

function volumeRow(i) {
  const f = (name) => `bundle.volumes.${i}.${name}`;
  return el("fieldset", { class: "rq-row", "data-kind": "volume" },
    el("legend", {}, `云硬盘 Volume ${i + 1}`),
    input("名称 Name", { name: "name", "data-field": f("name"), value: `data${i ? i + 1 : ""}`, required: true }),
    input("容量 Size (GB)", { name: "size_gb", type: "number", min: 1, value: 100, "data-field": f("size_gb") }),
    input("挂载到云主机 Attach to (e.g. app-1)", { name: "attach_to", "data-field": f("attach_to") }));
}

const num = (v) => (v === "" || v === null || v === undefined ? undefined : Number(v));

/** The form's values as the create API's body (empty fields left out). */
function bodyOf(form) {
  const rows = (kind) => [...form.querySelectorAll(`fieldset[data-kind=${kind}]`)];
  const val = (fs, name) => { const x = fs.querySelector(`[name=${name}]`); return x ? x.value.trim() : ""; };
  const servers = rows("server").map((fs) => {
    const s = { name: val(fs, "name"), flavor: val(fs, "flavor"), image: val(fs, "image"), count: num(val(fs, "count")) || 1 };
    for (const k of ["vcpus", "ram_mb", "disk_gb"]) if (num(val(fs, k)) !== undefined) s[k] = num(val(fs, k));
    return s;
  });
  const volumes = rows("volume").map((fs) => {
    const v = { name: val(fs, "name"), size_gb: num(val(fs, "size_gb")) };
    if (val(fs, "attach_to")) v.attach_to = val(fs, "attach_to");
    return v;
  });
  const f = new FormData(form);
  const bundle = { servers, volumes };
  if (f.get("net_name")) bundle.networks = [{ name: f.get("net_name").trim(), cidr: f.get("net_cidr").trim() }];
  const ports = String(f.get("ports") || "").split(/[,\s]+/).filter(Boolean);
  if (ports.length) {
    bundle.security_groups = [{ name: "web", rules: ports.map((p) => ({ protocol: "tcp", port_min: Number(p), port_max: Number(p) })) }];
  }
  bundle.floating_ips = num(f.get("floating_ips")) || 0;
  const body = {
    title: String(f.get("title") || "").trim(), unit_id: Number(f.get("unit_id")), dr_level: f.get("dr_level"),
    target_hosting: f.get("target_hosting"), bundle,
  };
  if (f.get("system_id")) body.system_id = Number(f.get("system_id"));
  if (String(f.get("justification") || "").trim()) body.justification = String(f.get("justification")).trim();
  return body;
}

/** What the bundle asks for, counted like the API does (the API's own figure is on the saved draft). */
function estimate(body, cat) {
  const sizes = Object.fromEntries(cat.flavors.map((x) => [x.name, x]));
  const copies = body.dr_level === "none" ? 1 : 2;
  const d = { vcpus: 0, ram_mb: 0, disk_gb: 0, instances: 0, floating_ips: body.bundle.floating_ips || 0 };
  for (const s of body.bundle.servers) {
    const z = sizes[s.flavor] || { vcpus: s.vcpus || 0, ram_mb: s.ram_mb || 0, disk_gb: s.disk_gb || 0 };
    d.vcpus += z.vcpus * s.count; d.ram_mb += z.ram_mb * s.count; d.disk_gb += z.disk_gb * s.count; d.instances += s.count;
  }
  for (const v of body.bundle.volumes) d.disk_gb += v.size_gb || 0;
  for (const k of Object.keys(d)) d[k] *= copies;
  return d;
}

const fmtLimit = (x) => (x === null || x === undefined ? "不限 no limit" : String(x));

/** The unit's quota beside the form: limit and left (the API's), this request and left after (estimates). */
function quotaPanel(quota) {
  return table([
    { label: "资源 Resource", value: (k) => RESOURCE_LABEL[k] },
    { label: "额度 Limit", value: (k) => fmtLimit(quota.limits[k]), num: true },
    { label: "剩余 Left", value: (k) => el("span", { "data-testid": `left-${k}` }, fmtLimit(quota.headroom[k])), num: true },
    { label: "本申请（估算）This request (est.)", value: (k) => el("span", { "data-testid": `asks-${k}` }), num: true },
    { label: "申请后剩余 Left after", value: (k) => el("span", { "data-testid": `after-${k}` }), num: true },
  ], Object.keys(RESOURCE_LABEL), { label: "单位配额 Unit quota" });
}

/** Update the estimate cells in place (no re-layout while the user is clicking). */
function updateEstimate(box, quota, demand) {
  for (const k of Object.keys(RESOURCE_LABEL)) {
    const left = quota.headroom[k];
    box.querySelector(`[data-testid=asks-${k}]`).textContent = String(demand[k]);
    const after = box.querySelector(`[data-testid=after-${k}]`);
    after.textContent = left === null || left === undefined ? "不限 no limit" : String(left - demand[k]);
    after.classList.toggle("bad", left !== null && left !== undefined && left - demand[k] < 0);
  }
}

/** Show the API's problems at their fields; the rest in the form's error list. */
export function showProblems(form, err) {
  for (const s of form.querySelectorAll(".rq-field-error")) s.textContent = "";
  for (const x of form.querySelectorAll("[aria-invalid]")) x.removeAttribute("aria-invalid");
  const rest = [];
  for (const p of err.problems || []) {
    const field = String(p.field || "").replace(/\[(\d+)\]/g, ".$1");
    const slot = field && form.querySelector(`[data-error-for="${CSS.escape(field)}"]`);
    if (slot) {
      slot.textContent = p.message;
      const control = form.querySelector(`[data-field="${CSS.escape(field)}"]`);
      if (control) control.setAttribute("aria-invalid", "true");
    } else {
      rest.push(`${field || "—"}: ${p.message}`);
    }
  }
  const list = form.querySelector("[data-testid=form-errors]");
  list.replaceChildren(...rest.map((t) => el("li", {}, t)));
  showError(err.message);
  const first = form.querySelector("[aria-invalid]");
  if (first) first.focus();
}

async function newRequest(view, params, query) {
  if (!can(CREATORS)) {  // the API would refuse it anyway; a read-only role is not shown a form it cannot send
    view.replaceChildren(el("section", {}, el("h2", {}, "新建申请 ", el("small", {}, "New request")),
      el("p", { "data-testid": "not-allowed" }, "您的角色不能新建申请 / your role cannot create requests")));
    return;
  }
  const [cat, map] = await Promise.all([api("/api/v1/catalogue"), units()]);
  const me = state.me;
  const startUnit = me.unit_id || [...map.keys()][0];
  const systemsSel = el("select", { id: "rq-system", name: "system_id", "data-field": "system_id" }, el("option", { value: "" }, "（不关联 none）"));
  const quotaBox = el("div", { "data-testid": "quota-panel" });
  const servers = el("div", {}, serverRow(0, cat, query.get("flavor")));
  const volumes = el("div", {});
  const form = el("form", { class: "stack rq-form", novalidate: true, "aria-label": "新建申请 New request" });
  const drRadios = cat.dr_levels.map((d) => el("label", { class: "rq-radio" },
    el("input", { type: "radio", name: "dr_level", value: d.value, checked: d.value === "none" }),
    `${d.label}（${d.copies} 份 copies）`, el("span", { class: "hint" }, d.explanation)));
  let quota = null;
  const refresh = () => { if (quota) updateEstimate(quotaBox, quota, estimate(bodyOf(form), cat)); };
  const loadUnit = async (unitId) => {
    quota = await api(`/api/v1/quotas/${unitId}`);
    quotaBox.replaceChildren(el("h3", {}, "配额 ", el("small", {}, "Quota of the unit")), quotaPanel(quota),
      el("p", { class: "hint" }, "“剩余”为所在单位及各上级额度中最紧的一项，已扣除已开通和已批准待开通的资源 / ‘left’ is under the tightest limit on the unit's path, after provisioned and approved-but-not-yet-provisioned resources."));
    const line = new Set(subtree(map, Number(unitId)));
    for (let u = map.get(Number(unitId)); u && u.parent_id; u = map.get(u.parent_id)) line.add(u.parent_id);
    const systems = await api("/api/v1/inventory/systems?limit=1000&sort=code&owner_unit_id__in=" + [...line].join(","));
    systemsSel.replaceChildren(el("option", { value: "" }, "（不关联 none）"),
      ...systems.items.map((s) => el("option", { value: String(s.id) }, `${s.name}（${s.code}）`)));
    refresh();
  };
  form.append(
    input("标题 Title", { name: "title", "data-field": "title", required: true, maxLength: 200, size: 50 }),
    select("申请单位 Unit", { name: "unit_id", "data-field": "unit_id", onchange: (ev) => attempt(() => loadUnit(ev.target.value)) },
      unitOptions(map, startUnit, false)),
    el("label", { for: "rq-system" }, "信息系统（可选）System (optional)", systemsSel, el("span", { class: "rq-field-error", "data-error-for": "system_id" })),
    select("承载方式 Hosting", { name: "target_hosting", "data-field": "target_hosting" },
      [el("option", { value: "gov_cloud" }, "政务云 gov cloud"), el("option", { value: "sub_cloud" }, "基于政务云的子云 sub-cloud on the gov cloud")]),
    el("fieldset", { class: "rq-dr", "data-testid": "dr-choice" }, el("legend", {}, "灾备 Disaster recovery (DR)"), drRadios,
      el("p", { class: "hint" }, `核心站点 core sites: ${cat.core_sites.join(", ")}；灾备站点 DR sites: ${cat.dr_sites.join(", ")}`),
      el("span", { class: "rq-field-error", "data-error-for": "dr_level" })),
    servers,
    el("button", { type: "button", class: "secondary", onclick: () => { servers.append(serverRow(servers.children.length, cat)); refresh(); } }, "添加云主机 Add server"),
    volumes,
    el("button", { type: "button", class: "secondary", onclick: () => { volumes.append(volumeRow(volumes.children.length)); refresh(); } }, "添加云硬盘 Add volume"),
    el("fieldset", { class: "rq-row" }, el("legend", {}, "网络 Network"),
      input("网络名 Name", { name: "net_name", "data-field": "bundle.networks.0.name", value: "biz" }),
      input("网段 CIDR", { name: "net_cidr", "data-field": "bundle.networks.0.cidr", value: "10.20.0.0/24" }),
      input("开放 TCP 端口 Open TCP ports (443, 80)", { name: "ports", "data-field": "bundle.security_groups" }),
      input("浮动 IP 数 Floating IPs", { name: "floating_ips", type: "number", min: 0, value: 0, "data-field": "bundle.floating_ips" })),
    el("label", { for: "rq-justification" }, "理由 Justification", el("textarea", { id: "rq-justification", name: "justification", rows: 3, maxLength: 2000 })),
    el("ul", { class: "bad", "data-testid": "form-errors" }),
    el("div", { class: "rq-buttons" },
      el("button", { type: "submit", name: "save", value: "draft", "data-testid": "save-draft" }, "保存草稿 Save draft"),
      el("button", { type: "submit", name: "save", value: "submit", "data-testid": "save-submit" }, "保存并提交 Save and submit")));
  form.addEventListener("input", refresh);
  form.addEventListener("change", refresh);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const andSubmit = ev.submitter && ev.submitter.value === "submit";
    showError("");
    let created;
    try {
      created = await api("/api/v1/requests", { method: "POST", body: bodyOf(form) });
      if (andSubmit) await api(`/api/v1/requests/${created.id}/submit`, { method: "POST" });
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      if (created) { navigate(`#/requests/${created.id}`); showError(e.message); return; }
      showProblems(form, e);
      return;
    }
    navigate(`#/requests/${created.id}`);
  });
  view.replaceChildren(el("section", {},
    el("h2", {}, "新建申请 ", el("small", {}, "New request")),
    el("p", { class: "hint" }, "云主机的 vCPU、内存和系统盘按所选类型计算；配额按所在单位及各上级单位检查 / server sizes come from the flavor; quota is checked for the unit and every unit above it."),
    el("div", { class: "rq-columns" }, form, el("aside", {}, quotaBox))));
  await loadUnit(startUnit);
}

route("requests", list, { label: "申请 Requests", roles: READERS });
route("requests/new", newRequest);
route("catalogue", catalogue, { label: "申请目录 Catalogue", roles: ["admin", "department_user", "sub_cloud_chief", "cloud_operator", "cloud_chief_office"] });
