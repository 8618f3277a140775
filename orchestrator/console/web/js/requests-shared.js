// Requests and approvals: the parts both pages show — labels, the unit names, the quota impact table, the placement
// explanation, the history (events) and the approve/reject/comment form.
import { api, attempt, el, fmtTime, table } from "./core.js";

export const STATUS_LABEL = {
  draft: "草稿 draft", submitted: "已提交 submitted", approved: "已批准 approved", scheduled: "已调度 scheduled",
  provisioning: "开通中 provisioning", active: "运行中 active", retiring: "退役中 retiring", retired: "已退役 retired",
  rejected: "已驳回 rejected", failed: "失败 failed",
};
export const DR_LABEL = { none: "不做灾备 none", remote_dr: "异地灾备 remote DR", active_active: "双活 active-active" };
export const EVENT_LABEL = {
  created: "创建 created", submitted: "提交 submitted", first_approved: "初审通过 first-level approved",
  approved: "终审通过 approved", auto_approved: "自动审批 auto-approved", rejected: "驳回 rejected",
  scheduled: "调度 scheduled", provisioning: "开通 provisioning", active: "已开通 active", failed: "失败 failed",
  retiring: "退役 retiring", retired: "已退役 retired", comment: "评论 comment",
  placement_refused: "调度被拒 placement refused", interrupted: "中断 interrupted",
};
export const RESOURCE_LABEL = {
  vcpus: "vCPU", ram_mb: "内存 RAM (MB)", disk_gb: "磁盘 disk (GB)", instances: "云主机 servers",
  floating_ips: "浮动 IP floating IPs",
};
export const CREATORS = ["admin", "department_user", "sub_cloud_chief"];
export const OPERATORS = ["admin", "cloud_operator"];
export const COMMENTERS = ["admin", "cloud_chief_office", "cloud_operator", "sub_cloud_chief", "department_user"];

export const badge = (status) => el("span", { class: "badge rq-" + status, "data-testid": "status" }, STATUS_LABEL[status] || status);

let unitsCache = null;
/** Every unit (id → {id, code, name, parent_id}), read once per page load. */
export async function units() {
  if (!unitsCache) {
    const page = await api("/api/v1/inventory/units?limit=1000&sort=code");
    unitsCache = new Map(page.items.map((u) => [u.id, u]));
  }
  return unitsCache;
}
export const unitName = (map, id) => (map.get(id) ? map.get(id).name : `#${id}`);

/** The units at and below `root` (the scope of a department user or sub-cloud chief). */
export function subtree(map, root) {
  const out = new Set([root]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const u of map.values()) if (u.parent_id && out.has(u.parent_id) && !out.has(u.id)) { out.add(u.id); grew = true; }
  }
  return out;
}

const show = (x) => (x === null || x === undefined ? "不限 no limit" : String(x));

/** The quota impact rows of the API (before / asks / after, the binding unit) as a table. */
export function impactTable(rows, unitMap, testid) {
  const t = table([
    { label: "资源 Resource", value: (r) => RESOURCE_LABEL[r.resource] || r.resource },
    { label: "剩余（审批前）Left before", value: (r) => show(r.before), num: true },
    { label: "本申请 This request", value: (r) => String(r.demand), num: true },
    { label: "剩余（审批后）Left after", value: (r) => el("span", { class: r.fits ? null : "bad" }, show(r.after)), num: true },
    { label: "约束单位 Binding limit of", value: (r) => (r.unit_id ? unitName(unitMap, r.unit_id) : "—") },
  ], rows, { label: "配额影响 Quota impact" });
  t.dataset.testid = testid || "quota-impact";
  return t;
}

function choiceText(c) {
  if (!c) return "—";
  const scores = Object.entries(c.scores).map(([k, v]) => `${k} ${v}`).join(", ");
  return `${c.cloud} · ${c.az} · ${c.site}（得分 score ${c.total}: ${scores}）`;
}

/** A placement explanation (engine's Decision.explain): chosen slots, the ranking and every removal with its reason. */
export function placementView(p, testid) {
  const box = el("div", { class: "rq-placement", "data-testid": testid || "placement" });
  if (p.ok) {
    box.append(el("p", {}, el("strong", {}, "主用 Primary: "), el("span", { "data-testid": "placement-primary" }, choiceText(p.primary))));
    if (p.replica) box.append(el("p", {}, el("strong", {}, "灾备副本 Replica: "), el("span", { "data-testid": "placement-replica" }, choiceText(p.replica))));
  } else {
    box.append(el("p", { class: "bad", "data-testid": "placement-error" }, "无法调度 / cannot place: " + p.error));
  }
  if (p.ranking && p.ranking.length) {
    box.append(el("h4", {}, "候选排名 Ranking of the candidates that passed"),
      table([
        { label: "候选 Candidate", value: (r) => r.candidate },
        { label: "总分 Score", value: (r) => String(r.total), num: true },
      ], p.ranking, { label: "候选排名 Ranking" }));
  }
  if (p.removed && p.removed.length) {
    box.append(el("h4", {}, `被排除的候选 Removed candidates (${p.removed.length})`),
      table([
        { label: "候选 Candidate", value: (r) => r.candidate },
        { label: "规则 Filter", value: (r) => r.filter },
        { label: "原因 Why", value: (r) => r.reason },
      ], p.removed, { label: "被排除的候选 Removed candidates" }));
  }
  return box;
}

/** A request's events, oldest first, as a timeline. */
export function timeline(events, testid) {
  return el("ol", { class: "timeline", "data-testid": testid || "timeline" },
    events.map((e) => el("li", { "data-kind": e.kind },
      el("time", { datetime: e.at }, fmtTime(e.at)),
      el("strong", {}, EVENT_LABEL[e.kind] || e.kind), " · ",
      el("span", {}, e.actor + (e.actor_role ? `（${e.actor_role}）` : "")),
      e.message ? el("div", { class: "rq-message" }, e.message) : null)));
}

/** A comment box and the decision buttons for one request; `after()` runs once the API accepted the action. */
export function decisionForm(req, { approve, reject, comment }, after) {
  const id = `rq-comment-${req.id}`;
  const text = el("textarea", { id, rows: 2, cols: 60, maxLength: 2000, "data-testid": "comment" });
  const act = (label, cls, testid, run) => el("button", {
    type: "button", class: cls, "data-testid": testid,
    onclick: async (ev) => {
      ev.target.disabled = true;
      const done = await attempt(() => run(text.value.trim()));
      ev.target.disabled = false;
      if (done !== undefined) await after(done);
    },
  }, label);
  const buttons = [];
  if (approve) buttons.push(act("批准 Approve", null, "approve", (c) =>
    api(`/api/v1/requests/${req.id}/approve`, { method: "POST", body: c ? { comment: c } : {} })));
  if (reject) buttons.push(act("驳回 Reject", "danger", "reject", (c) =>
    api(`/api/v1/requests/${req.id}/reject`, { method: "POST", body: { comment: c } })));
  if (comment) buttons.push(act("仅评论 Comment only", "secondary", "comment-only", (c) =>
    api(`/api/v1/requests/${req.id}/comments`, { method: "POST", body: { text: c } })));
  return el("div", { class: "rq-decide" },
    el("label", { for: id }, "意见 / Comment" + (reject ? "（驳回必填 / required to reject）" : "")), text,
    el("div", { class: "rq-buttons" }, buttons));
}
