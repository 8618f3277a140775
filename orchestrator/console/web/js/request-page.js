// One request (申请详情): what it asks, its quota, the actions its state and the signed-in role allow, and its
// timeline — approvals with comments, placement with its explanation, provisioning steps, retirement.
import { api, attempt, can, el, fmtTime, render, route, showError, state, table, waitJob } from "./core.js";
import {
  badge, COMMENTERS, CREATORS, decisionForm, DR_LABEL, OPERATORS, placementView, RESOURCE_LABEL, timeline, unitName, units,
} from "./requests-shared.js";

function actionButton(label, testid, path, cls, busyText, confirmText) {
  return el("button", {
    type: "button", class: cls || null, "data-testid": testid,
    onclick: async (ev) => {
      const b = ev.target;
      if (confirmText && b.dataset.armed !== "yes") {  // an irreversible action asks once more, in the page
        b.dataset.armed = "yes";
        b.dataset.label = b.textContent;
        b.textContent = confirmText;
        b.setAttribute("data-testid", testid + "-confirm");
        b.disabled = true;  // a double-click's second click lands on a disabled button, not on the confirmation
        setTimeout(() => { b.disabled = false; }, 1000);
        const cancel = el("button", {
          type: "button", "data-testid": testid + "-cancel",
          onclick: () => {
            b.dataset.armed = "";
            b.textContent = b.dataset.label;
            b.setAttribute("data-testid", testid);
            cancel.remove();
          },
        }, "取消 Cancel");
        b.after(cancel);
        return;
      }
      const text = b.dataset.label || b.textContent;
      b.disabled = true;
      b.textContent = busyText || "处理中… / working…";
      const done = await attempt(() => api(path, { method: "POST" }));
      if (done && done.job) await follow(done.job, b, busyText);  // provisioning/retirement: a background job
      b.disabled = false;
      b.textContent = text;
      if (done !== undefined) await reload();
    },
  }, label);
}

const reload = () => render();
const JOB_TEXT = { queued: "排队中 queued", running: "执行中 running" };

/** Poll a background job (core.tasks) until it has finished, showing its state on the button. */
async function follow(job, b, busyText) {
  const j = await waitJob(job, (st) => { b.textContent = `${busyText || "处理中… / working…"} ${JOB_TEXT[st] || st}`; });
  if (j && j.status === "failed") showError("后台任务失败 / the background job failed: " + (j.error || ""));
}

/** What the signed-in role may do to a request in this state (the API decides; this only offers). */
function actions(r) {
  const base = `/api/v1/requests/${r.id}`;
  const role = state.me.role;
  const out = [];
  if (r.status === "draft" && can(CREATORS)) out.push(actionButton("提交审批 Submit", "submit", base + "/submit"));
  if (can(OPERATORS)) {
    if (r.status === "approved") out.push(actionButton("调度 Schedule", "schedule", base + "/schedule"));
    if (r.status === "failed") out.push(actionButton("重新调度 Reschedule", "schedule", base + "/schedule"));
    if (r.status === "scheduled") out.push(actionButton("开通 Provision", "provision", base + "/provision", null, "开通中… / provisioning…"));
    if (["provisioning", "retiring", "failed"].includes(r.status)) {
      out.push(actionButton("继续 Resume", "resume", base + "/resume", "secondary", "继续中… / resuming…"));
    }
    if (["active", "failed"].includes(r.status)) {
      out.push(actionButton("退役 Retire", "retire", base + "/retire", "danger", "退役中… / retiring…",
        "确认退役：删除它在云上创建的一切 / Confirm: delete everything it created"));
    }
  }
  const approver = r.status === "submitted" && (
    role === "admin" || (role === "sub_cloud_chief" && !r.first_level_done && r.approver_unit_id === state.me.unit_id)
    || (role === "cloud_chief_office" && r.first_level_done));
  return { buttons: out, approver };
}

function stepsView(steps) {
  if (!steps.length) return el("p", { class: "hint", "data-testid": "steps" }, "尚未开通 / not provisioned yet");
  const byCloud = new Map();
  for (const s of steps) { if (!byCloud.has(s.cloud)) byCloud.set(s.cloud, []); byCloud.get(s.cloud).push(s); }
  return el("div", { "data-testid": "steps" }, [...byCloud.entries()].map(([cloud, rows]) => el("div", {},
    el("h4", {}, `${cloud} · 运行状态 run ${rows[0].run_status}`),
    table([
      { label: "#", value: (s) => String(s.seq), num: true },
      { label: "步骤 Step", value: (s) => s.key },
      { label: "名称 Name", value: (s) => s.name },
      { label: "状态 State", value: (s) => el("span", { class: s.error ? "bad" : null }, s.status) },
      { label: "云上 ID Cloud id", value: (s) => s.cloud_id || "—" },
      { label: "错误 Error", value: (s) => s.error || "" },
      { label: "更新时间 Updated", value: (s) => fmtTime(s.updated_at) },
    ], rows, { label: `${cloud} 开通步骤 provisioning steps`, rowTestId: "step-row" }))));
}

function bundleView(b) {
  const lines = [
    ...b.servers.map((s) => `云主机 server ${s.name} × ${s.count}: ${s.flavor}（${s.vcpus} vCPU, ${s.ram_mb} MB, ${s.disk_gb ?? "?"} GB）· 镜像 image ${s.image}`),
    ...(b.volumes || []).map((v) => `云硬盘 volume ${v.name}: ${v.size_gb} GB` + (v.attach_to ? ` → ${v.attach_to}` : "")),
    ...(b.networks || []).map((n) => `网络 network ${n.name}: ${n.cidr}`),
    ...(b.security_groups || []).map((g) => `安全组 security group ${g.name}: ` + g.rules.map((x) => `${x.protocol} ${x.port_min}-${x.port_max}`).join(", ")),
  ];
  if (b.floating_ips) lines.push(`浮动 IP floating IPs: ${b.floating_ips}`);
  return el("ul", { "data-testid": "bundle" }, lines.map((t) => el("li", {}, t)));
}

async function page(view, params) {
  const id = params.id;
  const [r, events, steps, map] = await Promise.all([
    api(`/api/v1/requests/${id}`), api(`/api/v1/requests/${id}/events`), api(`/api/v1/requests/${id}/steps`), units(),
  ]);
  const quota = await api(`/api/v1/quotas/${r.unit_id}`);
  const { buttons, approver } = actions(r);
  let placement = null;
  if (r.placement) {
    placement = el("div", {}, el("p", { class: "hint" }, "调度时的决定与理由 / the decision and its reasons, as stored when it was scheduled"),
      placementView(r.placement));
  } else if (["submitted", "approved"].includes(r.status)) {
    const preview = await api(`/api/v1/requests/${id}/placement-preview`);
    placement = el("div", {}, el("p", { class: "hint" }, `预览：按当前容量（${preview.candidates} 个候选）将如何调度，未保存 / preview over the ${preview.candidates} current candidates; nothing is stored`),
      placementView(preview.placement, "placement-preview"));
  }
  const demand = table([
    { label: "资源 Resource", value: (k) => RESOURCE_LABEL[k] },
    { label: "本申请 This request", value: (k) => el("span", { "data-testid": `demand-${k}` }, String(r.demand[k])), num: true },
    { label: "单位剩余 Unit's quota left now", value: (k) => el("span", { "data-testid": `left-${k}` }, quota.headroom[k] === null || quota.headroom[k] === undefined ? "不限 no limit" : String(quota.headroom[k])), num: true },
  ], Object.keys(RESOURCE_LABEL), { label: "资源与配额 Demand and quota" });
  const resources = r.resources && r.resources.length ? table([
    { label: "云 Cloud", value: (x) => x.cloud }, { label: "类型 Kind", value: (x) => x.kind },
    { label: "名称 Name", value: (x) => x.name }, { label: "ID", value: (x) => x.id },
  ], r.resources, { label: "已开通资源 Resources", rowTestId: "resource-row" }) : null;
  view.replaceChildren(
    el("section", {},
      el("h2", {}, `${r.code} ${r.title} `, badge(r.status)),
      el("p", {}, `单位 Unit: ${unitName(map, r.unit_id)} · 灾备 DR: ${DR_LABEL[r.dr_level] || r.dr_level} · 申请人 By: ${r.created_by}`,
        r.first_level_done ? " · 初审已通过 first level done" : "",
        r.primary_cloud ? ` · 主用 primary ${r.primary_cloud}/${r.primary_az}` : "",
        r.replica_cloud ? ` · 副本 replica ${r.replica_cloud}/${r.replica_az}` : ""),
      r.failure_reason ? el("p", { class: "bad", "data-testid": "failure" }, "失败原因 / why: " + r.failure_reason) : null,
      r.office_review ? el("p", { class: "warn" }, "须云长制办公室审定 / the office decides: " + r.office_review) : null,
      buttons.length ? el("div", { class: "rq-buttons", "data-testid": "actions" }, buttons) : null,
      approver ? decisionForm(r, { approve: true, reject: true, comment: true }, reload)
        : can(COMMENTERS) ? decisionForm(r, { comment: true }, reload) : null),
    el("section", {}, el("h3", {}, "申请内容 ", el("small", {}, "What it asks")), bundleView(r.bundle), demand,
      r.justification ? el("p", {}, "理由 Justification: " + r.justification) : null),
    el("section", {}, el("h3", {}, "动态 ", el("small", {}, "Timeline")), timeline(events)),
    placement ? el("section", {}, el("h3", {}, "调度 ", el("small", {}, "Placement")), placement) : null,
    el("section", {}, el("h3", {}, "开通步骤 ", el("small", {}, "Provisioning steps")), stepsView(steps),
      resources ? el("h4", {}, "已开通资源 Resources on the clouds") : null, resources));
}

route("requests/:id", page);
