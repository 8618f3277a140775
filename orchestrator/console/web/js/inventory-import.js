// The import wizard (导入向导): choose a kind → upload a CSV/XLSX file → the dry run's per-row, per-field diff with
// errors highlighted → apply (only when the dry run had no error; the API writes all rows or none) → result.
import { ApiError, api, attempt, el, showError, waitJob } from "./core.js";
import { INV, fieldsOf, fileButtons, kinds } from "./inventory-common.js";

const ACTION = {
  create: "新建 create", update: "更新 update", unchanged: "不变 unchanged", error: "错误 error",
};

const STEPS = ["选择类型 Choose kind", "上传文件 Upload", "预览差异 Dry run", "应用 Apply"];

function steps(current) {
  return el("ol", { class: "inv-steps", "aria-label": "步骤 / steps" },
    STEPS.map((s, i) => el("li", { "aria-current": i === current ? "step" : null, class: i < current ? "done" : null }, s)));
}

/** A large file is imported by a background job (202): its result is the report, also when it was refused. */
async function fromJob(job) {
  const j = await waitJob(job);
  if (j && j.status === "succeeded") return j.result;
  if (j && j.result && j.result.report) return j.result.report;
  throw new Error("后台导入失败 / the import job failed: " + ((j && j.error) || ""));
}

/** Send the file to the import API; the report whether it passed (200) or not (422 with the report beside). */
async function send(kindName, file, message, dryRun) {
  const body = new FormData();
  body.append("file", file, file.name);
  const qs = new URLSearchParams({ dry_run: String(dryRun) });
  if (message) qs.set("message", message);
  try {
    const got = await api(`${INV}/${kindName}/import?${qs}`, { method: "POST", body });
    return got && got.job ? await fromJob(got.job) : got;
  } catch (e) {
    if (e instanceof ApiError && e.body && e.body.report) return e.body.report;
    throw e;
  }
}

const counts = (c) => `新建 create ${c.create} · 更新 update ${c.update} · 不变 unchanged ${c.unchanged} · 错误 error ${c.error}`;

/** The per-row, per-field diff: a column per field that any row changes or has a problem in. */
function diffTable(kind, report) {
  const fields = fieldsOf(kind);
  const used = new Set();
  for (const r of report.rows) {
    Object.keys(r.changes).forEach((f) => used.add(f));
    r.problems.forEach((p) => p.field && fields.has(p.field) && used.add(p.field));
  }
  const cols = [...kind.columns, ...kind.links].filter((f) => used.has(f.field) && f.field !== "code");
  const head = el("tr", {},
    el("th", { scope: "col" }, "行 Row"), el("th", { scope: "col" }, "编码 Code"), el("th", { scope: "col" }, "动作 Action"),
    cols.map((f) => el("th", { scope: "col", "data-field": f.field }, f.zh, el("br"), el("small", {}, f.en))),
    el("th", { scope: "col" }, "其他问题 Other problems"), el("th", { scope: "col" }, "提示 Notices"));
  const body = report.rows.map((r) => {
    const bad = r.action === "error";
    const cells = cols.map((f) => {
      const problems = r.problems.filter((p) => p.field === f.field);
      const change = r.changes[f.field];
      const parts = [];
      if (change && (r.action === "create" || change.before === "")) {
        parts.push(el("ins", { class: "inv-change" }, change.after));
      } else if (change) {
        parts.push(el("span", { class: "inv-change" },
          change.before === "" ? el("span", { class: "hint" }, "（空）") : el("del", {}, change.before), " → ",
          change.after === "" ? el("span", { class: "hint" }, "（空）") : el("ins", {}, change.after)));
      }
      for (const p of problems) parts.push(el("span", { class: "inv-cell-message" }, "⚠ ", p.message));
      return el("td", { class: problems.length ? "inv-cell-error" : null, "data-field": f.field,
        "data-error": problems.length ? "true" : null }, parts);
    });
    const other = r.problems.filter((p) => !p.field || !fields.has(p.field));
    const codeProblems = r.problems.filter((p) => p.field === "code");
    return el("tr", { class: bad ? "inv-row-error" : null, "data-testid": "inv-diff-row", "data-row": r.row, "data-action": r.action },
      el("th", { scope: "row" }, String(r.row)),
      el("td", { class: codeProblems.length ? "inv-cell-error" : null, "data-field": "code",
        "data-error": codeProblems.length ? "true" : null },
        r.code || "—", codeProblems.map((p) => el("span", { class: "inv-cell-message" }, "⚠ ", p.message))),
      el("td", { class: `inv-action-${r.action}` }, ACTION[r.action] || r.action),
      cells,
      el("td", { class: other.length ? "inv-cell-error" : null }, other.map((p) => el("div", { class: "inv-cell-message" }, "⚠ ", p.message))),
      el("td", { class: "hint" }, r.notices.map((p) => el("div", {}, p.message))));
  });
  return el("div", { class: "inv-scroll" },
    el("table", { class: "grid inv-diff", "aria-label": "预览差异 / dry-run diff", "data-testid": "inv-diff" },
      el("thead", {}, head), el("tbody", {}, body)));
}

function reportView(kind, report) {
  return [
    el("p", { "data-testid": "inv-import-counts" }, el("b", {}, report.ok ? "无错误 no errors" : "有错误 has errors"), " · ", counts(report.counts)),
    report.header_note ? el("p", { class: "hint" }, report.header_note) : null,
    report.problems.length
      ? el("ul", { class: "bad", "data-testid": "inv-file-problems" }, report.problems.map((p) => el("li", {}, p.message)))
      : null,
    report.rows.length ? diffTable(kind, report) : null,
  ];
}

export async function importWizard(view, _params, query) {
  const writable = [...(await kinds()).values()].filter((k) => k.writable);
  if (!writable.length) {
    view.replaceChildren(el("section", {}, el("h2", {}, "导入向导 ", el("small", {}, "Import wizard")),
      el("p", { class: "bad" }, "本角色不能导入 / your role cannot import")));
    return;
  }
  let kind = writable.find((k) => k.name === query.get("kind")) || writable.find((k) => k.name === "systems") || writable[0];
  let dryRun = null; // {file, report} of the last dry run

  const stepBox = el("div", {}, steps(0));
  const files = el("div", {});
  const result = el("section", { id: "inv-import-result", tabindex: "-1", "aria-live": "polite", "aria-labelledby": "inv-result-title", hidden: true });
  const kindSelect = el("select", { id: "inv-import-kind", name: "kind", "data-testid": "inv-import-kind" },
    writable.map((k) => el("option", { value: k.name, selected: k === kind }, `${k.zh} ${k.en}`)));
  const fileInput = el("input", { id: "inv-import-file", name: "file", type: "file", accept: ".xlsx,.csv", required: true,
    "aria-describedby": "inv-import-file-hint", "data-testid": "inv-import-file" });
  const message = el("input", { id: "inv-import-message", name: "message", maxLength: 500, "data-testid": "inv-import-message" });
  const runButton = el("button", { type: "submit", "data-testid": "inv-dry-run" }, "预览差异 Dry run");

  const reset = () => {
    dryRun = null;
    result.hidden = true;
    result.replaceChildren();
    stepBox.replaceChildren(steps(fileInput.files.length ? 1 : 0));
  };
  const showFiles = () => files.replaceChildren(fileButtons(kind));
  kindSelect.addEventListener("change", () => {
    kind = writable.find((k) => k.name === kindSelect.value);
    showFiles();
    reset();
  });
  fileInput.addEventListener("change", reset);

  function showResult(title, nodes, step) {
    stepBox.replaceChildren(steps(step));
    result.replaceChildren(el("h2", { id: "inv-result-title" }, ...title), ...nodes.filter(Boolean));
    result.hidden = false;
    result.focus();
  }

  async function apply() {
    const { file } = dryRun;
    const report = await attempt(() => send(kind.name, file, message.value.trim(), false));
    if (!report) return;
    if (report.applied) {
      showResult(["导入完成 ", el("small", {}, "Applied")], [
        el("p", { class: "ok", "data-testid": "inv-import-applied" }, `已写入 written: ${counts(report.counts)}`),
        el("p", {}, el("a", { href: `#/inventory/${kind.name}` }, `查看${kind.zh} / view ${kind.en}`)),
      ], 4);
      dryRun = null;
    } else {
      showResult(["导入未执行 ", el("small", {}, "Not applied — nothing was written")], reportView(kind, report), 2);
    }
  }

  const form = el("form", { class: "inv-import-form", "aria-label": "导入 / import" },
    el("label", { for: "inv-import-kind" }, "1. 资源类型 Kind"), kindSelect,
    el("label", { for: "inv-import-file" }, "2. 文件 File (.xlsx / .csv)"), fileInput,
    el("span", { id: "inv-import-file-hint", class: "hint" },
      "第一张工作表；表头可在标题行之下；长编码请设为文本 / first worksheet; header may sit below title rows; keep long codes as text"),
    el("label", { for: "inv-import-message" }, "变更说明 Message"), message,
    runButton);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const file = fileInput.files[0];
    if (!file) { showError("请选择文件 / choose a file"); fileInput.focus(); return; }
    runButton.disabled = true;
    const report = await attempt(() => send(kind.name, file, message.value.trim(), true));
    runButton.disabled = false;
    if (!report) return;
    dryRun = { file, report };
    const applyButton = el("button", { type: "button", "data-testid": "inv-apply", disabled: !report.ok,
      "aria-describedby": "inv-apply-hint", onclick: () => apply() }, "应用导入 Apply");
    showResult(["3. 预览差异 ", el("small", {}, `Dry run: ${file.name}`)], [
      ...reportView(kind, report),
      el("div", { class: "inv-actions" }, applyButton,
        el("span", { id: "inv-apply-hint", class: report.ok ? "hint" : "bad", "data-testid": "inv-apply-hint" },
          report.ok ? "全部行将一次写入（全部或全不）/ all rows are written at once (all or nothing)"
            : "有错误，不能应用；请修改文件后重新预览 / errors: fix the file and run the dry run again")),
    ], 2);
  });

  showFiles();
  view.replaceChildren(
    el("section", {},
      el("h2", {}, "导入向导 ", el("small", {}, "Import wizard")),
      stepBox,
      el("p", { class: "hint" }, "先预览（不写入任何数据），无错误后再应用；任何一行出错则整个文件都不写入。/ ",
        "Dry run first (writes nothing); apply when it shows no error — any wrong row writes nothing at all."),
      form,
      el("h3", {}, "模板与导出 ", el("small", {}, "Template and export")),
      files),
    result);
}
