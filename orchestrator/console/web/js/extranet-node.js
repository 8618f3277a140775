// One extranet node: state and figures, latency over 24 h, state history, devices (SSH facts, collection errors),
// SNMP interfaces, and probe-now with its progress (POST /collectors/probe, then GET probe-jobs/{id} until done).
import { api, attempt, can, el, fmtTime, num, pct, route, sparkline, table } from "./core.js";
import { LEVEL_LABEL, ms, stateBadge } from "./extranet.js";

const PROBERS = ["admin", "network_admin"];
const KINDS = [["icmp", "ICMP"], ["tcp", "TCP 端口 ports"], ["ssh", "SSH 采集 facts"], ["snmp", "SNMP"]];
const FACT_LABEL = {  // the facts shown first (collectors/device_facts.py); every other one under "all facts"
  hostname: "主机名 Hostname", vendor: "厂商 Vendor", model: "型号 Model", os: "系统 OS", version: "版本 Version",
  release: "发布 Release", patch: "补丁 Patch", serials: "序列号 Serials", uptime_seconds: "运行时长 Uptime (s)",
  cpu: "CPU 利用率 CPU %", memory: "内存利用率 Memory %", interfaces_total: "接口数 Interfaces",
  interfaces_by_protocol: "接口协议状态 Protocol states",
};
const showFact = (key, v) => {
  if (key === "serials" && Array.isArray(v)) return v.map((s) => `${s.member ?? ""}: ${s.serial ?? ""}`).join(" · ");
  if ((key === "cpu" || key === "memory") && v && typeof v === "object") return `${v.percent}%`;
  if (v && typeof v === "object") return Object.entries(v).map(([k, x]) => `${k} ${x}`).join(" · ");
  return String(v);
};
const POLL_MS = 300;

function figure(label, value, testid) {
  return el("div", { class: "card" }, el("div", {}, label), el("div", { class: "big", "data-testid": testid }, value));
}

function factList(facts) {
  if (!facts) return el("p", { class: "hint" }, "尚无采集到的信息 / no facts collected yet");
  const main = Object.keys(FACT_LABEL).filter((k) => facts[k] !== undefined && facts[k] !== null);
  return el("div", { "data-testid": "facts" },
    el("dl", { class: "xn-facts" }, main.flatMap((k) => [el("dt", {}, FACT_LABEL[k]), el("dd", {}, showFact(k, facts[k]))])),
    el("details", {}, el("summary", {}, "全部信息 / all facts (JSON)"),
      el("pre", { class: "xn-json" }, JSON.stringify(facts, null, 1))));
}

async function deviceSection(devices) {
  if (!devices.length) return el("p", { class: "hint" }, "该节点没有设备 / no devices at this node");
  const details = await Promise.all(devices.map((d) => api(`/api/v1/collectors/devices/${d.id}`)));
  return el("div", {}, details.map((d) => el("article", { class: "xn-device", "data-testid": "device", "data-id": d.id },
    el("h4", {}, `${d.code} `, el("small", {}, `${d.device_type || ""} · ${d.address || ""}`)),
    el("p", {}, "采集状态 Collection: ", el("span", { class: d.status === "ok" ? "ok" : "bad", "data-testid": "device-status" }, d.status),
      ` · 最近成功 last success ${fmtTime(d.last_success_at)}`,
      d.facts_stale ? el("span", { class: "warn" }, " · 信息已过期 facts stale") : null),
    factList(d.facts),
    d.last_error ? el("div", { class: "xn-error", "data-testid": "device-error" },
      el("p", {}, el("strong", { class: "bad" }, `采集错误 Collection error: ${d.last_error}`),
        ` · ${fmtTime(d.last_error_at)} · 连续失败 consecutive failures ${d.consecutive_failures}`),
      d.last_error_detail ? el("p", {}, d.last_error_detail) : null,
      d.last_error_excerpt ? el("details", {}, el("summary", {}, "原始输出摘录 / raw output excerpt"),
        el("pre", { "data-testid": "excerpt" }, d.last_error_excerpt)) : null) : null)));
}

function interfaceTable(rows) {
  return table([
    { label: "设备 Device", value: (r) => r.device_code },
    { label: "接口 Interface", value: (r) => r.name + (r.is_uplink ? " ↑" : "") },
    { label: "状态 Oper", value: (r) => el("span", { class: r.oper_up ? "ok" : "bad" }, r.oper_up ? "up" : "down") },
    { label: "速率 Speed (Mbit/s)", value: (r) => num(r.speed_bps / 1e6), num: true },
    { label: "入 In (Mbit/s)", value: (r) => (r.in_bps === null ? "—" : num(r.in_bps / 1e6, 3)), num: true },
    { label: "出 Out (Mbit/s)", value: (r) => (r.out_bps === null ? "—" : num(r.out_bps / 1e6, 3)), num: true },
    { label: "利用率 Utilisation", value: (r) => pct(r.utilisation, 1), num: true },
    { label: "错包 Errors in/out", value: (r) => `${r.in_errors} / ${r.out_errors}`, num: true },
    { label: "采样 Sampled", value: (r) => fmtTime(r.sampled_at) },
  ], rows, { label: "SNMP 接口 / interfaces", empty: "未配置 SNMP 或尚未轮询 / SNMP not set up or not polled yet" });
}

function historySection(hist) {
  const rtts = hist.samples.map((s) => (s.ok ? s.rtt_avg_seconds : null));
  const answered = rtts.filter((v) => v !== null);
  return el("div", {},
    el("p", {}, sparkline(rtts, { label: `近${hist.hours}小时时延 / latency, last ${hist.hours} h`, width: 480, height: 60, testid: "history-line" }),
      el("span", { class: "hint" }, ` ${hist.samples.length} 次探测 / samples` +
        (answered.length ? ` · 最大 max ${ms(Math.max(...answered))} ms` : " · 均无应答 / none answered"))),
    table([
      { label: "状态 State", value: (p) => stateBadge(p.state) },
      { label: "开始 Since", value: (p) => fmtTime(p.since) },
      { label: "结束 Until", value: (p) => (p.until ? fmtTime(p.until) : "至今 / now") },
    ], hist.states, { label: "状态历史 / state history", rowTestId: "state-period", empty: "窗口内无状态记录 / no state recorded in the window" }));
}

function resultTable(job) {
  const rows = job.sweeps.flatMap((s) => (s.results || []).map((r) => ({ ...r, id: `${s.kind}-${r.target}-${r.port}` })));
  return table([
    { label: "类型 Kind", value: (r) => r.kind },
    { label: "目标 Target", value: (r) => r.target + (r.port ? `:${r.port}` : "") },
    { label: "结果 Result", value: (r) => el("span", { class: r.ok ? "ok" : "bad" }, r.ok ? "成功 ok" : `失败 ${r.error || "failed"}`) },
    { label: "时延 Latency (ms)", value: (r) => ms(r.rtt_avg_seconds), num: true },
    { label: "丢包 Loss", value: (r) => pct(r.loss_ratio, 1), num: true },
    { label: "时间 At", value: (r) => fmtTime(r.at) },
  ], rows, { label: "探测结果 / probe results", rowTestId: "probe-result" });
}

function probeSection(nodeId, reload) {
  const out = el("div", { "aria-live": "polite" });
  const checks = KINDS.map(([k, text]) => el("label", { class: "xn-check" },
    el("input", { type: "checkbox", name: "kind", value: k, checked: k === "icmp" || k === "tcp" }), text));
  const subtree = el("label", { class: "xn-check" }, el("input", { type: "checkbox", name: "subtree" }), "含下级节点 / with the nodes below");
  const button = el("button", { type: "submit", "data-testid": "probe-now" }, "立即探测 Probe now");
  const form = el("form", { "aria-label": "立即探测 / probe now" },
    el("fieldset", { class: "xn-kinds" }, el("legend", {}, "探测类型 / kinds"), checks), subtree, button);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const data = new FormData(form);
    button.disabled = true;
    await attempt(async () => {
      let job = await api("/api/v1/collectors/probe", {
        method: "POST", body: { node_id: Number(nodeId), subtree: data.get("subtree") === "on", kinds: data.getAll("kind") },
      });
      const bar = el("progress", { id: "xn-progress", class: "xn-progress", max: job.progress.total, value: job.progress.done, "aria-label": "探测进度 / probe progress" });
      const text = el("span", { "data-testid": "probe-progress" });
      const status = el("span", { "data-testid": "probe-status" });
      const show = () => {
        bar.max = job.progress.total || 1;
        bar.value = job.progress.done;
        text.textContent = `${job.progress.done} / ${job.progress.total}` + (job.progress.current ? ` · ${job.progress.current}` : "");
        status.textContent = job.status;
        status.className = job.status === "succeeded" ? "ok" : job.status === "failed" ? "bad" : "";
      };
      show();
      out.replaceChildren(el("p", {}, el("label", { for: "xn-progress" }, "进度 Progress "), bar, " ", text, " · ", status));
      while (job.status === "queued" || job.status === "running") {
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        if (!out.isConnected) return;
        job = await api(`/api/v1/collectors/probe-jobs/${job.job_id}`);
        show();
      }
      if (job.error) out.append(el("p", { class: "bad" }, job.error));
      out.append(resultTable(job));
      document.body.dataset.probe = job.status;
      await reload();
    });
    button.disabled = false;
  });
  return el("section", { "aria-labelledby": "xn-probe-title" },
    el("h3", { id: "xn-probe-title" }, "立即探测 ", el("small", {}, "Probe now")), form, out);
}

async function nodePage(view, params) {
  const id = Number(params.id);
  const summary = el("div", {});
  const load = async () => {
    const [nodes, av, hist, devices, ifaces] = await Promise.all([
      api(`/api/v1/collectors/nodes?node_id=${id}`),
      api(`/api/v1/collectors/availability?node_id=${id}`),
      api(`/api/v1/collectors/nodes/${id}/history?hours=24`),
      api(`/api/v1/collectors/devices?node_id=${id}`),
      api(`/api/v1/collectors/snmp/interfaces?node_id=${id}`),
    ]);
    const n = nodes.find((x) => x.id === id);
    if (!n) throw new Error("无此节点 / no such extranet node");
    const a = av[0] || {};
    summary.replaceChildren(
      el("p", {}, stateBadge(n.state), ` 自 since ${fmtTime(n.state_since)} · ${LEVEL_LABEL[n.level] || n.level}`,
        ` · ${[n.city, n.county].filter(Boolean).join(" ")} · 地址 address ${n.address || "—"}`,
        ` · 最近探测 probed ${fmtTime(n.probed_at)}${n.vantage ? ` (${n.vantage})` : ""}`),
      el("div", { class: "cards" },
        figure("时延 Latency (ms)", ms(n.rtt_avg_seconds), "latency"),
        figure("丢包 Loss", pct(n.loss_ratio, 1), "loss"),
        figure("可用率 1天 / 1 d", pct(a["1d"]), "av-1d"),
        figure("可用率 7天 / 7 d", pct(a["7d"]), "av-7d"),
        figure("可用率 30天 / 30 d", pct(a["30d"]), "av-30d")),
      el("h3", {}, "近24小时 ", el("small", {}, "Last 24 hours")), historySection(hist),
      el("h3", {}, "设备 ", el("small", {}, "Devices (SSH facts, collection errors)")), await deviceSection(devices),
      el("h3", {}, "接口 ", el("small", {}, "Interfaces (SNMP)")), interfaceTable(ifaces));
    title.replaceChildren(`${n.code} ${n.name || ""} `, el("small", {}, "Extranet node"));
  };
  const title = el("h2", {}, "节点 ", el("small", {}, "Extranet node"));
  await load();
  view.replaceChildren(el("section", {}, title,
    el("p", {}, el("a", { href: "#/extranet/nodes" }, "← 节点列表 / node list"), " · ",
      el("a", { href: "#/extranet" }, "覆盖地图 / coverage map")),
    summary, can(PROBERS) ? probeSection(id, load) : null));
}

route("extranet/nodes/:id", nodePage);
