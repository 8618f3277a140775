// Inventory pages' shared parts: the kinds' field metadata (GET /api/v1/inventory/kinds), values shown Chinese
// first, references resolved to codes in one request per referenced kind, and file downloads with the caller's auth.
import { api, attempt, el, fmtTime, state } from "./core.js";

export const INV = "/api/v1/inventory";

let cache = null; // {who, kinds: Map(name → kind)}

/** Every kind's description ({name, zh, en, columns, links, search_fields, writable}), fetched once per user. */
export async function kinds() {
  const who = state.me ? `${state.me.name}|${state.me.role}` : "";
  if (!cache || cache.who !== who) {
    const list = await api(`${INV}/kinds`);
    cache = { who, kinds: new Map(list.map((k) => [k.name, k])) };
  }
  return cache.kinds;
}

export async function kindOf(name) {
  const k = (await kinds()).get(name);
  if (!k) throw new Error(`未知的资源类型 / unknown kind: ${name}`);
  return k;
}

/** Columns and links of a kind by field name. */
export function fieldsOf(kind) {
  return new Map([...kind.columns, ...kind.links].map((f) => [f.field, f]));
}

export const kindTitle = (k) => el("span", {}, k.zh, " ", el("small", {}, k.en));

// A determination's subject_id refers to the kind its subject_kind names.
export const SUBJECT_KINDS = {
  system: "systems", network: "networks", room: "rooms", exit: "internet_exits",
  service_item: "service_items", cloud: "clouds",
};

export const ACTION_LABEL = {
  create: "新建 created", update: "修改 updated", delete: "删除 deleted", decide: "决定 decided",
};

export const objectHref = (kind, id) => `#/inventory/${kind}/${id}`;

/** Known objects of other kinds, {kind → Map(id → {id, code, name})}, filled by resolve(). */
export class Refs {
  constructor() { this.known = new Map(); }

  get(kind, id) { return this.known.get(kind)?.get(id) || null; }

  /** Look up the ids each (kind, ids) names: one list call per kind (500 ids each), only for unknown ids. */
  async resolve(wanted) {
    const calls = [];
    for (const [kind, ids] of wanted) {
      const have = this.known.get(kind) || new Map();
      this.known.set(kind, have);
      const missing = [...new Set(ids)].filter((id) => id !== null && id !== undefined && !have.has(id));
      for (let i = 0; i < missing.length; i += 500) {
        const part = missing.slice(i, i + 500);
        calls.push(api(`${INV}/${kind}?id__in=${part.join(",")}&limit=500`).then((page) => {
          for (const o of page.items) have.set(o.id, { id: o.id, code: o.code, name: o.name });
        }));
      }
    }
    await Promise.all(calls);
  }

  /** Collect and resolve every reference of these objects (kind description + objects). */
  async resolveObjects(kind, objects) {
    const wanted = new Map();
    const add = (ref, id) => { if (ref && id !== null && id !== undefined) (wanted.get(ref) || wanted.set(ref, []).get(ref)).push(id); };
    for (const o of objects) {
      if (!o) continue;
      for (const f of kind.columns) if (f.type === "reference") add(f.ref, o[f.field]);
      for (const f of kind.links) for (const id of o[f.field] || []) add(f.ref, id);
      if (kind.name === "determinations") add(SUBJECT_KINDS[o.subject_kind], o.subject_id);
    }
    await this.resolve(wanted);
  }

  /** A link to a referenced object, shown by code (name on hover); '#id' when it is out of sight. */
  link(kind, id) {
    if (id === null || id === undefined) return "—";
    const o = this.get(kind, id);
    return el("a", { href: objectHref(kind, id), title: o?.name || null }, o ? o.code : `#${id}`);
  }
}

const yesNo = (v) => (v ? "是 yes" : "否 no");

/** A field's value as shown: enums Chinese first, booleans 是/否, times in Beijing time, references as links. */
export function show(field, value, refs, obj) {
  if (field && field.field === "subject_id" && obj && SUBJECT_KINDS[obj.subject_kind]) {
    return refs.link(SUBJECT_KINDS[obj.subject_kind], value);
  }
  if (value === null || value === undefined || value === "") return "—";
  if (!field) return typeof value === "object" ? JSON.stringify(value) : String(value);
  switch (field.type) {
    case "reference": return refs.link(field.ref, value);
    case "references": {
      if (!value.length) return "—";
      const out = [];
      value.forEach((id, i) => { if (i) out.push("；"); out.push(refs.link(field.ref, id)); });
      return el("span", {}, out);
    }
    case "enum": {
      const hit = (field.enum || []).find((e) => e.value === value);
      return hit && hit.zh ? `${hit.zh} ${value}` : String(value);
    }
    case "boolean": return yesNo(value);
    case "datetime": return fmtTime(value);
    case "json": return JSON.stringify(value);
    default: return String(value);
  }
}

/** Download an API file (export, template) with the caller's credentials, saved under the server's file name. */
export async function download(path) {
  const response = await api(path, { raw: true });
  const disposition = response.headers.get("Content-Disposition") || "";
  const name = (/filename="([^"]+)"/.exec(disposition) || [])[1] || "download";
  const url = URL.createObjectURL(await response.blob());
  const a = el("a", { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/** Export and template buttons of a kind (XLSX and CSV). */
export function fileButtons(kind) {
  const b = (text, path, testid) => el("button", {
    type: "button", class: "secondary", "data-testid": testid, onclick: () => attempt(() => download(path)),
  }, text);
  return el("div", { class: "inv-files", role: "group", "aria-label": `${kind.zh}文件 / ${kind.en} files` },
    b("导出 XLSX Export", `${INV}/${kind.name}/export?format=xlsx`, "inv-export-xlsx"),
    b("导出 CSV Export", `${INV}/${kind.name}/export?format=csv`, "inv-export-csv"),
    b("下载模板 Template", `${INV}/${kind.name}/template?format=xlsx`, "inv-template"));
}
