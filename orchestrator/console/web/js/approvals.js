// Approvals (待我审批): what waits for the signed-in approver's level — the sub-cloud chief's first level (its unit's
// line), the office's final level — each with the quota impact, a placement preview and the history; decide here.
import { api, el, render, route, state } from "./core.js";
import { decisionForm, DR_LABEL, impactTable, placementView, timeline, unitName, units } from "./requests-shared.js";

const LEVEL = { first: "初审（分云长）first level (sub-cloud chief)", final: "终审（云长制办公室）final (cloud-chief office)" };

async function item(it, map, rerender) {
  const r = it.request;
  const [events, preview] = await Promise.all([
    api(`/api/v1/requests/${r.id}/events`), api(`/api/v1/requests/${r.id}/placement-preview`),
  ]);
  return el("article", { class: "rq-inbox-item", "data-testid": "inbox-item", "data-id": r.id, "aria-labelledby": `rq-h-${r.id}` },
    el("h3", { id: `rq-h-${r.id}` }, el("a", { href: `#/requests/${r.id}` }, r.code), ` ${r.title}`),
    el("p", {}, `${unitName(map, r.unit_id)} · ${LEVEL[it.level]} · 灾备 DR: ${DR_LABEL[r.dr_level] || r.dr_level} · 申请人 By: ${r.created_by}`),
    it.fits ? null : el("p", { class: "bad" }, "超出配额：批准将被拒绝 / over quota: approval will be refused"),
    r.office_review ? el("p", { class: "warn" }, r.office_review) : null,
    el("h4", {}, "配额影响 Quota impact"), impactTable(it.quota, map),
    el("h4", {}, "调度预览 Placement preview", el("small", {}, `（${preview.candidates} 个候选 candidates，未保存 nothing stored）`)),
    placementView(preview.placement, "placement-preview"),
    el("details", {}, el("summary", {}, `历史 History (${events.length})`), timeline(events)),
    decisionForm(r, { approve: true, reject: true, comment: true }, rerender));
}

async function inbox(view) {
  const [items, map] = await Promise.all([api("/api/v1/requests/inbox"), units()]);
  const rerender = () => render();
  const articles = await Promise.all(items.map((it) => item(it, map, rerender)));
  view.replaceChildren(el("section", {},
    el("h2", {}, "待我审批 ", el("small", {}, "Waiting for me")),
    el("p", { class: "hint", "data-testid": "inbox-count" },
      `${state.me.role === "sub_cloud_chief" ? "本单位及下级单位的初审" : state.me.role === "cloud_chief_office" ? "初审已通过、待终审" : "两级"}：共 ${items.length} 条 / ${items.length} waiting`),
    items.length ? articles : el("p", {}, "没有待审批的申请 / nothing waits for you")));
}

route("approvals", inbox, { label: "待我审批 Approvals", roles: ["admin", "sub_cloud_chief", "cloud_chief_office"] });
