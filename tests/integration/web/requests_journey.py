"""The Requests/Approvals journey in a real Chromium against a real yunwang, shared by the in-memory-cloud test
(test_console_requests.py) and the local-OpenStack one (test_console_requests_openstack.py).

A department user creates and submits a request through the form → the sub-cloud chief approves it in the inbox
with a comment → the office approves (by keyboard) → an operator schedules and provisions → the request page shows
it active with its steps → retire → retired. Figures on the pages are compared with the API's and with values
counted by hand from the world's numbers (`Figures`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from core.db import Database
from core.enums import Role
from core.identity import create_token
from core.wiring import services
from orchestrator.app.factory import create_app
from orchestrator.provisioning.api import CLOUDS
from orchestrator.provisioning.clouds import Clouds
from orchestrator.provisioning.driver import FlavorSize, InMemoryDriver, NetworkInfo
from orchestrator.requests import api as requests_api
from tests.builders import Inv
from tests.integration.web.test_console import unlabelled_controls

ARTEFACTS = Path(__file__).resolve().parents[3] / "var" / "test" / "screenshots"
RESOURCES = ("vcpus", "ram_mb", "disk_gb", "instances", "floating_ips")
# The unit quotas every world sets (the county unit under the city's sub-cloud-chief unit).
CITY_LIMITS = {"vcpus": 40, "ram_mb": 81920, "disk_gb": 1000, "instances": 10, "floating_ips": 4}
COUNTY_LIMITS = {"vcpus": 16, "ram_mb": 32768, "disk_gb": 500, "instances": 6, "floating_ips": 2}

# --- the in-memory clouds (a uvicorn factory: `tests.integration.web.requests_journey:memory_cloud_app`) ---------
MEMORY_FLAVORS = {"m1.small": FlavorSize(1, 2048, 20), "m1.medium": FlavorSize(2, 4096, 40)}
MEMORY_IMAGES = ("kylin-v10", "cirros")
MEMORY_CLOUDS = {  # clouds.yaml name → (availability zone, hosts)
    "gov-nanning": (
        "gov-nanning-az",
        {"nn-host-1": {"VCPU": (64.0, 0), "MEMORY_MB": (131072.0, 0), "DISK_GB": (4000.0, 0)}},
    ),
    "gov-guilin": (
        "gov-guilin-az",
        {"gl-host-1": {"VCPU": (64.0, 0), "MEMORY_MB": (131072.0, 0), "DISK_GB": (4000.0, 0)}},
    ),
    "gov-wuzhou": (
        "gov-wuzhou-az",
        {"wz-host-1": {"VCPU": (16.0, 0), "MEMORY_MB": (32768.0, 0), "DISK_GB": (1000.0, 0)}},
    ),
    "industry-x": (
        "industry-az",
        {"ix-host-1": {"VCPU": (64.0, 0), "MEMORY_MB": (131072.0, 0), "DISK_GB": (4000.0, 0)}},
    ),
}


def memory_cloud_app() -> FastAPI:
    """The real app whose clouds are in-memory drivers (flavors, images, an external network each)."""
    app = create_app()
    drivers = {
        name: InMemoryDriver(
            name,
            az,
            hosts=hosts,
            flavors=MEMORY_FLAVORS,
            images=MEMORY_IMAGES,
            networks=[NetworkInfo("public", f"{name}-public", external=True)],
        )
        for name, (az, hosts) in MEMORY_CLOUDS.items()
    }
    clouds = Clouds.of(drivers)
    services(app).provide(CLOUDS, clouds)
    requests_api.provide_clouds(app, clouds)
    return app


# --- the world ----------------------------------------------------------------------------------------------------


@dataclass
class World:
    url: str
    ids: dict[str, int]
    tokens: dict[str, str]
    timings: dict[str, float] = field(default_factory=dict)

    def h(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def get(self, who: str, path: str) -> Any:
        r = httpx.get(self.url + path, headers=self.h(who), timeout=120)
        assert r.status_code == 200, (path, r.status_code, r.text)
        return r.json()

    def post(self, who: str, path: str, body: Any = None) -> Any:
        r = httpx.post(self.url + path, json=body, headers=self.h(who), timeout=600)
        assert r.status_code in (200, 201), (path, r.status_code, r.text)
        return r.json()


def build_inventory(
    db_url: str, unit_code: str = "XN-ZWFW", industry: bool = True
) -> tuple[dict[str, int], dict[str, str]]:
    """Region → city → county; Nanning core, Guilin and Wuzhou DR gov clouds (and an industry cloud); tokens."""
    db = Database(db_url)
    with db.session() as s:
        inv = Inv(s)
        ids = inv.basic()  # gov-nanning at 南宁核心
        inv.set("units", ids["county_unit"], code=unit_code)
        inv.set("clouds", ids["cloud"], name="南宁核心政务云")
        ids["guilin_cloud"] = inv.cloud(
            ids["region"], name="桂林灾备政务云", site="桂林灾备", clouds_yaml_name="gov-guilin"
        )
        if industry:
            ids["wuzhou_cloud"] = inv.cloud(
                ids["region"], name="梧州灾备政务云", site="梧州灾备", clouds_yaml_name="gov-wuzhou"
            )
            ids["industry_cloud"] = inv.cloud(
                ids["region"], kind="industry_cloud", name="某行业云", site="南宁", clouds_yaml_name="industry-x"
            )
        ids["system"] = inv.system(ids["county_unit"], ids["room"], name="不动产登记系统")
    with db.session() as s:
        tokens = {
            "dept": create_token(s, "兴宁区-张工", Role.DEPARTMENT_USER, ids["county_unit"]),
            "chief": create_token(s, "南宁市-分云长-李", Role.SUB_CLOUD_CHIEF, ids["city_unit"]),
            "office": create_token(s, "云长办-王", Role.CLOUD_CHIEF_OFFICE),
            "operator": create_token(s, "运维-赵", Role.CLOUD_OPERATOR),
        }
    db.dispose()
    return ids, tokens


def set_quotas(w: World) -> None:
    for unit, limits in (("city_unit", CITY_LIMITS), ("county_unit", COUNTY_LIMITS)):
        r = httpx.put(f"{w.url}/api/v1/quotas/{w.ids[unit]}", json=limits, headers=w.h("office"), timeout=30)
        assert r.status_code == 200, r.text


def provision_prior(w: World, flavor: str, image: str) -> int:
    """An earlier request of the county unit, provisioned through the API: one server of `flavor`, no DR."""
    body = {
        "title": "既有系统 earlier request",
        "unit_id": w.ids["county_unit"],
        "bundle": {"servers": [{"name": "old", "flavor": flavor, "image": image}]},
    }
    rid: int = w.post("dept", "/api/v1/requests", body)["id"]
    w.post("dept", f"/api/v1/requests/{rid}/submit")
    w.post("chief", f"/api/v1/requests/{rid}/approve", {"comment": "同意"})
    w.post("office", f"/api/v1/requests/{rid}/approve", {"comment": "同意"})
    w.post("operator", f"/api/v1/requests/{rid}/schedule")
    assert w.post("operator", f"/api/v1/requests/{rid}/provision")["status"] == "active"
    return rid


# --- the journey ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    """What the journey's request asks and what the county unit has left, counted by hand."""

    flavor: str
    image: str
    servers: int
    volume_gb: int
    floating_ips: int
    demand: dict[str, int]  # the request, replicas counted
    before: dict[str, int]  # the unit's quota left before approval
    after: dict[str, int]  # … once it is reserved (approved) and while it is active
    steps_per_cloud: int
    primary: str = "gov-nanning"
    replica: str = "gov-guilin"


def shot(page: Any, name: str) -> None:
    """The whole page: the viewport grown to the page's height for the shot, then put back. (Playwright's
    full_page shot leaves Debian's Chromium clicking off target afterwards.)"""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": size["width"], "height": max(height, size["height"])})
    page.screenshot(path=str(ARTEFACTS / f"requests-{name}.png"))
    page.set_viewport_size(size)


def timed(w: World, name: str, page: Any, go: Callable[[], None], loaded: str) -> None:
    """Run `go` (a navigation) and record how long until the view says it finished rendering."""
    t0 = time.monotonic()
    go()
    page.wait_for_selector(f"body[data-loaded='{loaded}']", timeout=30_000)
    w.timings[name] = time.monotonic() - t0


def open_as(browser: Any, w: World, who: str) -> Any:
    from tests.integration.web.test_console import sign_in_with_token

    page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    page.on("pageerror", lambda e: print(f"page error ({who}): {e}"))  # shown in the test output when a step fails
    sign_in_with_token(page, w.url, w.tokens[who])
    return page


def texts(page: Any, selector: str) -> list[str]:
    return [t.strip() for t in page.locator(selector).all_inner_texts()]


def run(browser: Any, w: World, f: Figures, shots: bool = True) -> int:
    """The whole journey; returns the request id."""
    rid = department_user(browser, w, f, shots)
    sub_cloud_chief(browser, w, f, rid, shots)
    office_by_keyboard(browser, w, rid, shots)
    operator(browser, w, f, rid, shots)
    return rid


def department_user(browser: Any, w: World, f: Figures, shots: bool) -> int:
    """The department user: catalogue, then the form (a bad first try shows the API's errors at the fields)."""
    page = open_as(browser, w, "dept")
    timed(w, "catalogue", page, lambda: page.goto(w.url + "/#/catalogue"), "catalogue")
    catalogue = w.get("dept", "/api/v1/catalogue")
    assert texts(page, "[data-testid=flavor-row] td:first-child") == [x["name"] for x in catalogue["flavors"]]
    assert f.image in texts(page, "[data-testid=image-row] td:first-child")
    assert "异地灾备" in page.inner_text("[data-testid=dr-explained]")
    assert unlabelled_controls(page) == []
    if shots:
        shot(page, "catalogue")

    timed(w, "form", page, lambda: page.goto(w.url + "/#/requests/new"), "requests/new")
    for k in RESOURCES:  # quota left beside the form: the API's headroom, counted by hand
        assert page.inner_text(f"[data-testid=quota-panel] [data-testid=left-{k}]") == str(f.before[k]), k
    page.fill("fieldset[data-kind=server] input[name=name]", "App!")  # not a valid name; the title left empty
    page.click("[data-testid=save-draft]")
    page.wait_for_selector("[data-error-for='bundle.servers.0.name']:not(:empty)")
    assert page.inner_text("[data-error-for=title]") != ""
    assert page.get_attribute("[data-field=title]", "aria-invalid") == "true"
    assert w.get("dept", "/api/v1/requests?status=draft") == []  # nothing written
    assert unlabelled_controls(page) == []
    if shots:
        shot(page, "form-errors")

    page.fill("[data-field=title]", "不动产登记系统上云")
    page.select_option("#rq-system", str(w.ids["system"]))
    page.check("input[name=dr_level][value=remote_dr]")
    page.fill("fieldset[data-kind=server] input[name=name]", "app")
    page.select_option("fieldset[data-kind=server] select[name=flavor]", f.flavor)
    page.select_option("fieldset[data-kind=server] select[name=image]", f.image)
    page.fill("fieldset[data-kind=server] input[name=count]", str(f.servers))
    page.click("text=添加云硬盘 Add volume")
    page.fill("fieldset[data-kind=volume] input[name=size_gb]", str(f.volume_gb))
    page.fill("fieldset[data-kind=volume] input[name=attach_to]", "app-1")
    page.fill("input[name=ports]", "443")
    page.fill("input[name=floating_ips]", str(f.floating_ips))
    for k in RESOURCES:  # the form's estimate of what is left after it
        assert page.inner_text(f"[data-testid=quota-panel] [data-testid=after-{k}]") == str(f.after[k]), k
    if shots:
        shot(page, "form")
    page.click("[data-testid=save-submit]")
    try:
        page.wait_for_selector("body[data-loaded^='requests/']:not([data-loaded='requests/new'])")
    except Exception:
        shot(page, "failure")
        raise
    rid = int(page.evaluate("location.hash").rsplit("/", 1)[1])
    req = w.get("dept", f"/api/v1/requests/{rid}")
    assert req["status"] == "submitted" and req["demand"] == f.demand
    for k in RESOURCES:
        assert page.inner_text(f"[data-testid=demand-{k}]") == str(f.demand[k]), k
    assert "已提交" in page.inner_text("h2 [data-testid=status]")
    timed(w, "list", page, lambda: page.goto(w.url + "/#/requests?status=submitted"), "requests")
    assert texts(page, "[data-testid=request-row] td:first-child") == [req["code"]]
    assert unlabelled_controls(page) == []
    if shots:
        shot(page, "list")
    page.close()
    return rid


def sub_cloud_chief(browser: Any, w: World, f: Figures, rid: int, shots: bool) -> None:
    """The sub-cloud chief: the inbox with quota impact and placement preview; approve with a comment."""
    page = open_as(browser, w, "chief")
    timed(w, "inbox", page, lambda: page.goto(w.url + "/#/approvals"), "approvals")
    item = page.locator(f"[data-testid=inbox-item][data-id='{rid}']")
    [api_item] = [x for x in w.get("chief", "/api/v1/requests/inbox") if x["request"]["id"] == rid]
    rows = item.locator("[data-testid=quota-impact] tbody tr")
    for i, q in enumerate(api_item["quota"]):
        cells = [c.strip() for c in rows.nth(i).locator("td").all_inner_texts()]
        assert cells[1:4] == [str(q["before"]), str(q["demand"]), str(q["after"])], (q, cells)
        assert (q["before"], q["demand"], q["after"]) == (
            f.before[q["resource"]],
            f.demand[q["resource"]],
            f.after[q["resource"]],
        )
    assert f.primary in item.locator("[data-testid=placement-primary]").inner_text()
    assert f.replica in item.locator("[data-testid=placement-replica]").inner_text()
    assert unlabelled_controls(page) == []
    if shots:
        shot(page, "inbox-chief")
    item.locator("[data-testid=comment]").fill("同意，请按灾备要求部署 / agreed")
    item.locator("[data-testid=approve]").click()
    page.wait_for_selector("[data-testid=inbox-count]:has-text('共 0 条')")
    page.close()


def office_by_keyboard(browser: Any, w: World, rid: int, shots: bool) -> None:
    """The office: the chief's comment in the history; final approval, by keyboard."""
    page = open_as(browser, w, "office")
    timed(w, "inbox-office", page, lambda: page.goto(w.url + "/#/approvals"), "approvals")
    item = page.locator(f"[data-testid=inbox-item][data-id='{rid}']")
    history = item.locator("details").text_content() or ""
    assert "同意，请按灾备要求部署" in history  # the chief's comment in the history
    assert unlabelled_controls(page) == []
    if shots:
        shot(page, "inbox-office")
    item.locator("[data-testid=comment]").focus()
    page.keyboard.type("终审同意 / final approval")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.dataset.testid") == "approve"
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-testid=inbox-count]:has-text('共 0 条')")
    assert w.get("office", f"/api/v1/requests/{rid}")["status"] == "approved"
    page.close()


def operator(browser: Any, w: World, f: Figures, rid: int, shots: bool) -> None:
    """The operator: schedule (placement explained), provision, see the steps; retire."""
    page = open_as(browser, w, "operator")
    timed(w, "request", page, lambda: page.goto(w.url + f"/#/requests/{rid}"), f"requests/{rid}")
    assert "终审同意" in page.inner_text("[data-testid=timeline]")
    page.click("[data-testid=schedule]")
    page.wait_for_selector("[data-testid=provision]")
    placement = w.get("operator", f"/api/v1/requests/{rid}")["placement"]
    shown = page.inner_text("[data-testid=placement]")
    for r in placement["removed"]:  # every cloud considered and not chosen, with why
        assert r["candidate"] in shown and r["reason"] in shown
    page.click("[data-testid=provision]")
    page.wait_for_selector("h2 [data-testid=status]:has-text('运行中')", timeout=600_000)
    steps = w.get("operator", f"/api/v1/requests/{rid}/steps")
    assert len(steps) == 2 * f.steps_per_cloud
    assert page.locator("[data-testid=step-row]").count() == len(steps)
    assert {s["status"] for s in steps if s["owned"]} == {"ready"}
    for k in RESOURCES:  # the unit's quota while it is active: provisioned usage, counted by hand
        assert page.inner_text(f"[data-testid=left-{k}]") == str(f.after[k]), k
    assert unlabelled_controls(page) == []
    if shots:
        shot(page, "page-active")
    page.click("[data-testid=retire]")
    assert w.get("operator", f"/api/v1/requests/{rid}")["status"] != "retired"  # the first click only asks
    page.click("[data-testid=retire-confirm]")
    page.wait_for_selector("h2 [data-testid=status]:has-text('已退役')", timeout=600_000)
    for k in RESOURCES:
        assert page.inner_text(f"[data-testid=left-{k}]") == str(f.before[k]), k
    kinds = [e["kind"] for e in w.get("operator", f"/api/v1/requests/{rid}/events")]
    assert kinds == [
        "created",
        "submitted",
        "first_approved",
        "approved",
        "scheduled",
        "provisioning",
        "active",
        "retiring",
        "retired",
    ]
    assert texts(page, "[data-testid=timeline] li strong")[-1] == "已退役 retired"
    if shots:
        shot(page, "page-retired")
    page.close()


def write_timings(w: World, name: str, bound_s: float = 3.0) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    lines = [f"{k}\t{v * 1000:.0f} ms" for k, v in w.timings.items()]
    (ARTEFACTS / f"{name}-timings.txt").write_text("\n".join(lines) + "\n")
    slow = {k: v for k, v in w.timings.items() if v > bound_s}
    assert not slow, f"pages slower than {bound_s} s: {slow}"
