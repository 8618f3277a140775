// Create/edit forms generated from the kinds' field metadata (enum → select, reference → code search, dates and
// times, booleans), the API's validation errors shown at their fields, and delete behind a confirmation dialog.
import { ApiError, api, attempt, el, navigate, showError } from "./core.js";
import { INV, Refs, kindOf, objectHref } from "./inventory-common.js";

const HOUR = 3600 * 1000;

/** An API time (with offset) as the Beijing wall time a datetime-local input shows: 2024-03-01T10:00. */
function toBeijingInput(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "" : new Date(d.getTime() + 8 * HOUR).toISOString().slice(0, 19);
}

function labelText(f, creating) {
  return [f.zh, " ", el("small", {}, f.en), creating && f.required ? el("span", { class: "inv-req", title: "必填 required" }, " *") : null];
}

let searchTimer = 0;

/** A reference input: the referenced object's code, with a list of matches (code or name) as you type. */
function referenceInput(f, id, code) {
  const list = el("datalist", { id: `${id}-options` });
  const input = el("input", {
    id, name: f.field, list: null, autocomplete: "off", value: code || "",
    placeholder: "编码或名称 code or name", "data-testid": `inv-input-${f.field}`,
  });
  input.setAttribute("list", list.id);
  input.addEventListener("input", () => {
    clearTimeout(searchTimer);
    const text = input.value.trim();
    if (!text) return;
    searchTimer = setTimeout(async () => {
      try {
        const page = await api(`${INV}/${f.ref}?q=${encodeURIComponent(text)}&limit=20`);
        list.replaceChildren(...page.items.map((o) => el("option", { value: o.code }, o.name || o.code)));
      } catch (e) { /* the search is a convenience; the code is checked on saving */ }
    }, 250);
  });
  return [input, list];
}

function control(f, value, refs, creating) {
  const id = `inv-f-${f.field}`;
  const common = { id, name: f.field, "data-testid": `inv-input-${f.field}`, required: creating && f.required };
  switch (f.type) {
    case "enum": {
      // an empty choice: the default for a new object, or empty where the field may be empty
      const blank = (creating ? !f.required : f.nullable) || value === null || value === undefined;
      return el("select", common,
        blank ? el("option", { value: "" }, creating ? "（默认 default）" : "（空 empty）") : null,
        f.enum.map((e) => el("option", { value: e.value, selected: value === e.value }, e.zh ? `${e.zh} ${e.value}` : e.value)));
    }
    case "boolean":
      if (!f.nullable) return el("input", { ...common, type: "checkbox", checked: Boolean(value), required: false });
      return el("select", common, el("option", { value: "" }, "（空 empty）"),
        el("option", { value: "true", selected: value === true }, "是 yes"),
        el("option", { value: "false", selected: value === false }, "否 no"));
    case "integer":
    case "number":
      return el("input", { ...common, type: "number", min: "0", step: f.type === "integer" ? "1" : "any", value: value ?? "" });
    case "date":
      return el("input", { ...common, type: "date", value: value || "" });
    case "datetime":
      return el("input", { ...common, type: "datetime-local", step: "1", value: toBeijingInput(value), "aria-describedby": `${id}-tz` });
    case "reference":
      return referenceInput(f, id, refs.get(f.ref, value)?.code || (value ? `#${value}` : ""));
    case "references":
      return el("input", { ...common, value: (value || []).map((v) => refs.get(f.ref, v)?.code || `#${v}`).join(";"),
        placeholder: "编码，以 ; 分隔 / codes joined by ;" });
    default:
      return (f.max_length === null && f.type === "text")
        ? el("textarea", { ...common, rows: 3 }, value ?? "")
        : el("input", { ...common, maxLength: f.max_length || null, value: value ?? "" });
  }
}

/** A field's form value as the API wants it (undefined: leave unset). Codes are looked up in one call each. */
async function readValue(f, form) {
  const input = form.elements.namedItem(f.field);
  if (!input) return undefined;
  if (f.type === "boolean" && input.type === "checkbox") return input.checked;
  const raw = input.value.trim();
  switch (f.type) {
    case "enum": return raw === "" ? null : raw;
    case "boolean": return raw === "" ? null : raw === "true";
    case "integer": return raw === "" ? null : Number.parseInt(raw, 10);
    case "number": return raw === "" ? null : Number(raw);
    case "date": return raw === "" ? null : raw;
    case "datetime": return raw === "" ? null : `${raw.length === 16 ? raw + ":00" : raw}+08:00`;
    case "reference": {
      if (raw === "") return null;
      if (/^#\d+$/.test(raw)) return Number(raw.slice(1));
      const page = await api(`${INV}/${f.ref}?code=${encodeURIComponent(raw)}&limit=1`);
      if (!page.items.length) throw new FieldError(f.field, `未找到编码 '${raw}' / no ${f.ref} with this code`);
      return page.items[0].id;
    }
    case "references": {
      const codes = raw.split(/[;；]/).map((c) => c.trim()).filter(Boolean);
      const ids = codes.filter((c) => /^#\d+$/.test(c)).map((c) => Number(c.slice(1)));
      const named = codes.filter((c) => !/^#\d+$/.test(c));
      if (named.length) {
        const page = await api(`${INV}/${f.ref}?code__in=${named.map(encodeURIComponent).join(",")}&limit=1000`);
        const found = new Map(page.items.map((o) => [o.code, o.id]));
        const unknown = named.filter((c) => !found.has(c));
        if (unknown.length) throw new FieldError(f.field, `未找到编码 / unknown codes: ${unknown.join(", ")}`);
        ids.push(...named.map((c) => found.get(c)));
      }
      return ids;
    }
    default: return raw === "" ? null : raw;
  }
}

/** Whether a form value differs from the stored one (times compared as instants). */
function changed(f, value, stored) {
  if (f.type === "datetime" && value && stored) return Date.parse(value) !== Date.parse(stored);
  return JSON.stringify(value) !== JSON.stringify(stored ?? (f.type === "references" ? [] : null));
}

class FieldError extends Error {
  constructor(field, message) { super(message); this.field = field; }
}

function clearErrors(form) {
  for (const e of form.querySelectorAll(".inv-field-error")) e.textContent = "";
  for (const e of form.querySelectorAll("[aria-invalid]")) e.removeAttribute("aria-invalid");
}

/** Show problems at their fields; returns the ones no field of the form names. */
function showProblems(form, problems) {
  const rest = [];
  for (const p of problems) {
    const name = String(p.field || "").replace(/^(create|update)\[\d+\]\./, "");
    const slot = name && form.querySelector(`[data-error-for="${CSS.escape(name)}"]`);
    if (!slot) { rest.push(p); continue; }
    slot.textContent = (slot.textContent ? slot.textContent + "；" : "") + p.message;
    form.querySelector(`#inv-f-${CSS.escape(name)}`)?.setAttribute("aria-invalid", "true");
  }
  const first = form.querySelector("[aria-invalid=true]");
  if (first) first.focus();
  return rest;
}

/** The create (id null) or edit form of a kind. */
export async function editForm(view, kindName, id) {
  const kind = await kindOf(kindName);
  const creating = id === null;
  const obj = creating ? {} : await api(`${INV}/${kind.name}/${id}`);
  const refs = new Refs();
  if (!creating) await refs.resolveObjects(kind, [obj]);
  const fields = [...kind.columns, ...kind.links];
  if (!kind.writable) {
    view.replaceChildren(el("section", {}, el("h2", {}, `${kind.zh} `, el("small", {}, kind.en)),
      el("p", { class: "bad" }, "本角色不能修改此类资源 / your role cannot change this kind")));
    return;
  }
  const rows = fields.map((f) => {
    const id_ = `inv-f-${f.field}`;
    const errId = `${id_}-error`;
    const ctl = control(f, obj[f.field], refs, creating);
    const main = Array.isArray(ctl) ? ctl[0] : ctl;
    main.setAttribute("aria-describedby", [main.getAttribute("aria-describedby"), errId].filter(Boolean).join(" "));
    return el("div", { class: "inv-form-row", "data-field": f.field },
      el("label", { for: id_ }, labelText(f, creating)),
      ctl,
      f.type === "datetime" ? el("span", { class: "hint", id: `${id_}-tz` }, "北京时间 Beijing time") : null,
      el("span", { class: "inv-field-error", id: errId, "data-error-for": f.field, "aria-live": "polite" }));
  });
  const form = el("form", { class: "inv-form", novalidate: true, "aria-label": `${kind.zh}表单 / ${kind.en} form` },
    rows,
    el("div", { class: "inv-form-row" },
      el("label", { for: "inv-message" }, "变更说明 ", el("small", {}, "Message (change log)")),
      el("input", { id: "inv-message", name: "_message", maxLength: 500, "data-testid": "inv-message" })),
    el("div", { class: "inv-actions" },
      el("button", { type: "submit", "data-testid": "inv-save" }, creating ? "创建 Create" : "保存 Save"),
      el("a", { href: creating ? `#/inventory/${kind.name}` : objectHref(kind.name, id) }, "取消 Cancel")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    showError("");
    const body = {};
    try {
      for (const f of fields) {
        const v = await readValue(f, form);
        if (v === undefined) continue;
        if (creating) {
          if (v !== null && !(Array.isArray(v) && !v.length)) body[f.field] = v;
        } else if (changed(f, v, obj[f.field])) {
          body[f.field] = v;
        }
      }
      const message = form.elements.namedItem("_message").value.trim();
      const qs = message ? `?message=${encodeURIComponent(message)}` : "";
      if (!creating && !Object.keys(body).length) { navigate(objectHref(kind.name, id)); return; }
      const saved = await api(`${INV}/${kind.name}${creating ? "" : "/" + id}${qs}`,
        { method: creating ? "POST" : "PATCH", body });
      navigate(objectHref(kind.name, saved.id));
    } catch (e) {
      if (e instanceof FieldError) { showProblems(form, [{ field: e.field, message: e.message }]); return; }
      if (!(e instanceof ApiError)) { showError(e.message); return; }
      const rest = showProblems(form, e.problems);
      showError(e.message + (rest.length ? " — " + rest.map((p) => [p.field, p.message].filter(Boolean).join(": ")).join("; ") : ""));
    }
  });
  view.replaceChildren(el("section", {},
    el("h2", {}, creating ? `新建${kind.zh} ` : `编辑${kind.zh} ${obj.code || "#" + id} `,
      el("small", {}, creating ? `New (${kind.en})` : `Edit (${kind.en})`)),
    creating ? el("p", { class: "hint" }, "* 为新建必填 / * required for a new object") : null,
    form));
}

/** A delete button that asks for confirmation in a modal dialog (Esc or 取消 cancels). */
export function deleteButton(kind, obj) {
  const dialog = el("dialog", { class: "inv-dialog", "aria-labelledby": "inv-del-title", "data-testid": "inv-delete-dialog" },
    el("h3", { id: "inv-del-title" }, `删除${kind.zh} ${obj.code || "#" + obj.id}？ `, el("small", {}, "Delete?")),
    el("p", {}, "删除会记入变更日志；被引用或被认定的对象不能删除。/ The deletion is logged; objects in use cannot be deleted."),
    el("form", { method: "dialog" },
      el("button", { type: "submit", value: "cancel", class: "secondary", autofocus: true }, "取消 Cancel"),
      el("button", { type: "submit", value: "delete", class: "danger", "data-testid": "inv-delete-confirm" }, "确认删除 Delete")));
  dialog.addEventListener("close", async () => {
    if (dialog.returnValue !== "delete") return;
    const done = await attempt(() => api(`${INV}/${kind.name}/${obj.id}`, { method: "DELETE" }).then(() => true));
    if (done) navigate(`#/inventory/${kind.name}`);
  });
  const button = el("button", { type: "button", class: "danger", "data-testid": "inv-delete",
    onclick: () => { dialog.returnValue = ""; dialog.showModal(); } }, "删除 Delete");
  return el("span", {}, button, dialog);
}
