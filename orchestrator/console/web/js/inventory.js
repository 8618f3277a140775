// Inventory pages: the kind picker, a kind's list (search, filters, sort, paging, per-kind columns) and an object's
// page (its fields, references as links, its change history). Forms: inventory-form.js; import: inventory-import.js.
import { ROLE_LABEL, api, attempt, el, fmtTime, navigate, route, showError, table } from "./core.js";
import {
  ACTION_LABEL, INV, Refs, fieldsOf, fileButtons, kindOf, kinds, kindTitle, objectHref, show,
} from "./inventory-common.js";
import { deleteButton, editForm } from "./inventory-form.js";
import { importWizard } from "./inventory-import.js";

const PAGE = 50;

// The columns each kind's list shows (the object page shows all).
const LIST_COLUMNS = {
  regions: ["code", "name", "level", "parent_id"],
  units: ["code", "name", "kind", "level", "parent_id", "region_id", "is_sub_cloud_chief"],
  rooms: ["code", "name", "owner_unit_id", "region_id", "status", "classified", "racks"],
  clouds: ["code", "name", "kind", "owner_unit_id", "region_id", "managed"],
  internet_exits: ["code", "name", "owner_unit_id", "isp", "bandwidth_mbps", "status"],
  networks: ["code", "name", "owner_unit_id", "level", "classified", "status"],
  systems: ["code", "name", "owner_unit_id", "status", "hosting", "classified", "vcpus", "memory_gb"],
  vertical_systems: ["code", "name", "scope", "owner_unit_id", "classified"],
  service_items: ["code", "name", "vertical_system_id", "docking_status", "docked_at"],
  extranet_nodes: ["code", "name", "level", "region_id", "state", "address"],
  devices: ["code", "name", "node_id", "vendor", "device_type", "mgmt_address"],
  node_access: ["code", "unit_id", "node_id", "status", "bandwidth_mbps", "connected_on"],
  determinations: ["code", "subject_kind", "subject_id", "decision", "decided_by", "decided_on", "active"],
};

const heading = (...parts) => el("h2", {}, ...parts);

// Fields an object carries beyond its kind's columns.
const EXTRA_LABEL = { created_at: "创建时间", updated_at: "更新时间", facts: "设备信息", facts_at: "采集时间" };

// --- the kind picker ---------------------------------------------------------------------------------------

async function picker(view) {
  const all = [...(await kinds()).values()];
  const totals = await Promise.all(all.map((k) => api(`${INV}/${k.name}?limit=1`).then((p) => p.total)));
  view.replaceChildren(el("section", {},
    heading("资源清单 ", el("small", {}, "Inventory")),
    el("p", { class: "hint" }, "选择资源类型 / choose a kind. ",
      all.some((k) => k.writable) ? el("a", { href: "#/import" }, "导入向导 / Import wizard") : null),
    el("ul", { class: "inv-kinds", "aria-label": "资源类型 / kinds" },
      all.map((k, i) => el("li", {},
        el("a", { class: "card", href: `#/inventory/${k.name}`, "data-testid": `inv-kind-${k.name}` },
          el("div", {}, k.zh), el("div", { class: "hint" }, k.en),
          el("div", { class: "big" }, String(totals[i]))))))));
}

// --- a kind's list -----------------------------------------------------------------------------------------

function listHash(kind, query) {
  const qs = [...query].filter(([, v]) => v !== "").map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join("&");
  return `#/inventory/${kind}` + (qs ? "?" + qs : "");
}

function filterControls(kind, query) {
  const fields = kind.columns.filter((f) => f.type === "enum" || f.type === "boolean");
  return fields.map((f) => {
    const options = f.type === "boolean"
      ? [["true", "是 yes"], ["false", "否 no"]]
      : f.enum.map((e) => [e.value, e.zh ? `${e.zh} ${e.value}` : e.value]);
    return el("label", {}, `${f.zh} ${f.en}`,
      el("select", { name: f.field, "data-testid": `inv-filter-${f.field}` },
        el("option", { value: "" }, "全部 all"),
        options.map(([v, text]) => el("option", { value: v, selected: query.get(f.field) === v }, text))));
  });
}

// Reference filters: the referenced object's code in the form, its id in the query (`owner_unit_id=12`).
function referenceFilters(cols, query, refs) {
  return cols.filter((f) => f.type === "reference").map((f) => {
    const id = query.get(f.field);
    const known = id ? refs.get(f.ref, Number(id)) : null;
    return el("label", {}, `${f.zh} ${f.en}`,
      el("input", { name: f.field, "data-ref": f.ref, "data-testid": `inv-filter-${f.field}`, size: 14,
        placeholder: "编码 code", value: known ? known.code : (id ? `#${id}` : "") }));
  });
}

/** The form's query: reference codes looked up to ids (null when a code is unknown, reported in the alert line). */
async function formQuery(form) {
  const next = new URLSearchParams();
  for (const [k, v] of new FormData(form)) {
    const text = String(v).trim();
    if (text === "") continue;
    const ref = form.elements.namedItem(k).dataset?.ref;
    if (!ref || /^#\d+$/.test(text)) { next.set(k, ref ? text.slice(1) : text); continue; }
    const page = await api(`${INV}/${ref}?code=${encodeURIComponent(text)}&limit=1`);
    if (!page.items.length) { showError(`未找到编码 '${text}' / unknown code`); return null; }
    next.set(k, String(page.items[0].id));
  }
  return next;
}

function sortControl(kind, cols, query) {
  const options = [el("option", { value: "" }, "默认（编号）default (id)")];
  for (const f of cols) {
    options.push(el("option", { value: f.field, selected: query.get("sort") === f.field }, `${f.zh} ↑`));
    options.push(el("option", { value: "-" + f.field, selected: query.get("sort") === "-" + f.field }, `${f.zh} ↓`));
  }
  return el("label", {}, "排序 Sort", el("select", { name: "sort", "data-testid": "inv-sort" }, options));
}

async function list(view, params, query) {
  const kind = await kindOf(params.kind);
  const fields = fieldsOf(kind);
  const cols = (LIST_COLUMNS[kind.name] || kind.columns.slice(0, 6).map((f) => f.field)).map((n) => fields.get(n));
  const offset = Math.max(0, parseInt(query.get("offset") || "0", 10) || 0);
  const api_q = new URLSearchParams();
  for (const [k, v] of query) if (k !== "offset" && v !== "") api_q.set(k, v);
  api_q.set("limit", String(PAGE));
  api_q.set("offset", String(offset));
  const page = await api(`${INV}/${kind.name}?${api_q}`);
  const refs = new Refs();
  const filtered = Object.fromEntries(cols.filter((f) => f.type === "reference" && /^\d+$/.test(query.get(f.field) || ""))
    .map((f) => [f.field, Number(query.get(f.field))]));
  await refs.resolveObjects(kind, [...page.items, filtered]);

  const form = el("form", { class: "inv-search", role: "search", "aria-label": `搜索${kind.zh} / search ${kind.en}` },
    el("label", {}, `搜索（${kind.search_fields.map((n) => fields.get(n)?.zh || n).join("、")}）Search`,
      el("input", { name: "q", type: "search", value: query.get("q") || "", "data-testid": "inv-q" })),
    filterControls(kind, query),
    referenceFilters(cols, query, refs),
    sortControl(kind, cols, query),
    el("button", { type: "submit", "data-testid": "inv-search" }, "查询 Search"),
    el("button", { type: "button", class: "secondary", onclick: () => navigate(`#/inventory/${kind.name}`) }, "清除 Clear"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const next = await attempt(() => formQuery(form));
    if (next) navigate(listHash(kind.name, next));
  });

  const columns = cols.map((f) => ({
    label: el("span", {}, f.zh, el("br"), el("small", {}, f.en)),
    num: f.type === "integer" || f.type === "number",
    value: (o) => (f.field === "code"
      ? el("a", { href: objectHref(kind.name, o.id) }, o.code)
      : show(f, o[f.field], refs, o)),
  }));
  if (!cols.some((f) => f.field === "code")) {
    columns.unshift({ label: "编号 ID", value: (o) => el("a", { href: objectHref(kind.name, o.id) }, `#${o.id}`) });
  }

  const last = Math.min(offset + page.items.length, page.total);
  const pageLink = (text, to, disabled, testid) => el("button", {
    type: "button", class: "secondary", disabled, "data-testid": testid,
    onclick: () => { const q = new URLSearchParams(query); q.set("offset", String(to)); navigate(listHash(kind.name, q)); },
  }, text);

  view.replaceChildren(el("section", {},
    heading(kindTitle(kind)),
    el("div", { class: "inv-actions" },
      el("a", { href: "#/inventory" }, "← 全部类型 / all kinds"),
      kind.writable ? el("a", { class: "inv-button", href: `#/inventory/${kind.name}/new`, "data-testid": "inv-new" }, "新建 Create") : null,
      kind.writable ? el("a", { class: "inv-button secondary", href: `#/import?kind=${kind.name}` }, "导入 Import") : null,
      fileButtons(kind)),
    form,
    el("p", { class: "hint", "data-testid": "inv-total", "aria-live": "polite" },
      page.total ? `第 ${offset + 1}–${last} 条，共 ${page.total} 条 / rows ${offset + 1}–${last} of ${page.total}`
        : "无匹配 / no match"),
    table(columns, page.items, { label: `${kind.zh} / ${kind.en}`, rowTestId: "inv-row", empty: "无匹配 / no match" }),
    el("nav", { class: "inv-pager", "aria-label": "分页 / pages" },
      pageLink("← 上一页 Previous", Math.max(0, offset - PAGE), offset === 0, "inv-prev"),
      pageLink("下一页 Next →", offset + PAGE, offset + PAGE >= page.total, "inv-next"))));
}

// --- an object's page --------------------------------------------------------------------------------------

function changedFields(entry) {
  const before = entry.before || {};
  const after = entry.after || {};
  const names = [...new Set([...Object.keys(before), ...Object.keys(after)])];
  return names.filter((n) => JSON.stringify(before[n] ?? null) !== JSON.stringify(after[n] ?? null));
}

function historyTable(kind, fields, entries, refs) {
  return table([
    { label: "时间 When", value: (c) => el("time", { datetime: c.at }, fmtTime(c.at)) },
    { label: "操作人 Who", value: (c) => `${c.actor}${c.actor_role ? `（${ROLE_LABEL[c.actor_role] || c.actor_role}）` : ""}` },
    { label: "操作 Action", value: (c) => ACTION_LABEL[c.action] || c.action },
    {
      label: "变更 Changes（原值 → 新值 before → after）",
      value: (c) => {
        const names = changedFields(c).filter((n) => n !== "id");
        if (c.action !== "update") {
          return el("details", {}, el("summary", {}, `${names.length} 个字段 / fields`),
            el("dl", { class: "inv-dl" }, names.map((n) => [el("dt", {}, fields.get(n)?.zh || n),
              el("dd", {}, show(fields.get(n), (c.after || c.before)[n], refs, c.after || c.before))])));
        }
        return el("ul", { class: "inv-diff" }, names.map((n) => el("li", { "data-field": n },
          el("b", {}, `${fields.get(n)?.zh || n} `), el("small", {}, n), "： ",
          el("del", {}, show(fields.get(n), c.before[n], refs, c.before)), " → ",
          el("ins", {}, show(fields.get(n), c.after[n], refs, c.after)))));
      },
    },
    { label: "说明 Message", value: (c) => c.message || "" },
  ], entries, { label: "变更历史 / change history", rowTestId: "inv-history-row" });
}

async function objectPage(view, params) {
  const kind = await kindOf(params.kind);
  const fields = fieldsOf(kind);
  const id = Number(params.id);
  const [obj, history] = await Promise.all([
    api(`${INV}/${kind.name}/${id}`),
    api(`${INV}/${kind.name}/${id}/changes`).catch((e) => (e.status === 404 ? { items: [], total: 0 } : Promise.reject(e))),
  ]);
  // SQLite may give a deleted object's id to a new one: entries up to the latest deletion are that earlier object's.
  const gone = history.items.findIndex((c) => c.action === "delete");
  if (gone >= 0) history.items = history.items.slice(0, gone);
  const refs = new Refs();
  await refs.resolveObjects(kind, [obj, ...history.items.flatMap((c) => [c.before, c.after])]);

  const shown = [...kind.columns, ...kind.links];
  const rest = Object.keys(obj).filter((n) => !fields.has(n) && n !== "id");
  const named = (f) => {
    const value = show(f, obj[f.field], refs, obj);
    const target = f.type === "reference" ? refs.get(f.ref, obj[f.field]) : null;
    return target && target.name ? el("span", {}, value, " ", el("small", {}, target.name)) : value;
  };
  const rows = [
    ...shown.map((f) => [el("span", {}, f.zh, " ", el("small", {}, f.en)), named(f), f.field]),
    ...rest.map((n) => [el("span", {}, EXTRA_LABEL[n] || "", " ", el("small", {}, n)),
      /_at$/.test(n) ? fmtTime(obj[n]) : show(null, obj[n], refs, obj), n]),
  ];
  view.replaceChildren(
    el("section", {},
      heading(`${kind.zh} `, el("span", { "data-testid": "inv-object-code" }, obj.code || `#${id}`), " ",
        el("small", {}, obj.name || kind.en)),
      el("div", { class: "inv-actions" },
        el("a", { href: `#/inventory/${kind.name}` }, `← ${kind.zh}列表 / ${kind.en}`),
        kind.writable ? el("a", { class: "inv-button", href: `#/inventory/${kind.name}/${id}/edit`, "data-testid": "inv-edit" }, "编辑 Edit") : null,
        kind.writable ? deleteButton(kind, obj) : null),
      el("table", { class: "grid inv-fields", "aria-label": "字段 / fields" },
        el("tbody", {}, rows.map(([label, value, name]) => el("tr", { "data-field": name },
          el("th", { scope: "row" }, label), el("td", {}, value)))))),
    el("section", { "aria-labelledby": "inv-history-title" },
      el("h2", { id: "inv-history-title" }, "变更历史 ", el("small", {}, `Change history (${history.items.length})`)),
      historyTable(kind, fields, history.items, refs)));
}

route("inventory", picker, { label: "清单 Inventory" });
route("import", importWizard, {
  label: "导入 Import",
  roles: ["admin", "cloud_chief_office", "sub_cloud_chief", "cloud_operator", "network_admin", "department_user"],
});
route("inventory/:kind", list);
route("inventory/:kind/new", (view, params) => editForm(view, params.kind, null));
route("inventory/:kind/:id", objectPage);
route("inventory/:kind/:id/edit", (view, params) => editForm(view, params.kind, Number(params.id)));
