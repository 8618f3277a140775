// The landing page: who you are and, by role, what needs you (requests waiting, nodes down) with links onward.
import { api, can, el, route, state, ROLE_LABEL } from "./core.js";

const REQUEST_READERS = ["admin", "cloud_chief_office", "sub_cloud_chief", "cloud_operator", "department_user", "auditor"];

function card(title, figure, href, testid) {
  return el("a", { class: "card", href, "data-testid": testid },
    el("div", {}, title), el("div", { class: "big" }, figure));
}

async function requestCards() {
  const counts = await api("/api/v1/requests/counts");
  const count = (statuses) => statuses.reduce((sum, s) => sum + (counts[s] || 0), 0);
  return [
    card("进行中的申请 / open requests", count(["draft", "submitted", "approved", "scheduled", "provisioning", "retiring"]),
      "#/requests", "home-open-requests"),
    card("开通失败 / failed provisioning", count(["failed"]), "#/requests?status=failed", "home-failed"),
  ];
}

async function nodeCards() {
  const nodes = await api("/api/v1/collectors/nodes");
  const count = (s) => nodes.filter((n) => n.state === s).length;
  return [
    card("外网节点离线 / extranet nodes down", count("down"), "#/extranet/nodes?state=down", "home-nodes-down"),
    card("外网节点总数 / extranet nodes", nodes.length, "#/extranet/nodes", "home-nodes"),
  ];
}

async function home(view) {
  const me = state.me;
  const cards = [];
  if (can(REQUEST_READERS)) cards.push(...(await requestCards()));
  cards.push(...(await nodeCards()));
  view.replaceChildren(
    el("section", {},
      el("h2", {}, "首页 ", el("small", {}, "Home")),
      el("p", {}, `${me.name} · ${ROLE_LABEL[me.role] || me.role}`, me.unit_name ? ` · ${me.unit_name}（含下级单位 / and the units below it）` : ""),
      el("div", { class: "cards" }, cards)));
}

route("", home);
