"""The console's Requests and Approvals pages in Debian's Chromium against a real yunwang (uvicorn subprocess,
SQLite) whose clouds are the in-memory driver: request → two approvals → scheduled → provisioned → retired.
Screenshots: var/test/screenshots/requests-*.png; page timings: requests-memory-timings.txt."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.app import schema as dbschema
from tests.integration.web import requests_journey as journey
from tests.integration.web.test_console import unlabelled_controls
from tests.live_server import LiveServer

pytestmark = pytest.mark.integration
FACTORY = "tests.integration.web.requests_journey:memory_cloud_app"
ENV = {"YUNWANG_APPROVAL_AUTO_ENABLED": "false", "YUNWANG_LOG_LEVEL": "WARNING"}

# Counted by hand: the request asks 2 × m1.medium (2 vCPU, 4096 MB, 40 GB root disk) + a 100 GB volume + 1 floating
# IP per site, remote DR (two sites): per site 4 vCPU, 8192 MB, 80 + 100 = 180 GB, 2 servers, 1 floating IP.
# The county unit (limits 16 / 32768 / 500 / 6 / 2) already runs one m1.small (1 vCPU, 2048 MB, 20 GB).
MEMORY = journey.Figures(
    flavor="m1.medium",
    image="kylin-v10",
    servers=2,
    volume_gb=100,
    floating_ips=1,
    demand={"vcpus": 8, "ram_mb": 16384, "disk_gb": 360, "instances": 4, "floating_ips": 2},
    before={"vcpus": 15, "ram_mb": 30720, "disk_gb": 480, "instances": 5, "floating_ips": 2},
    after={"vcpus": 7, "ram_mb": 14336, "disk_gb": 120, "instances": 1, "floating_ips": 0},
    # project, network, subnet, router, security group, 2 servers, volume, attachment, floating IP
    steps_per_cloud=10,
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[journey.World]:
    work: Path = tmp_path_factory.mktemp("requests-console")
    url = f"sqlite:///{work / 'yunwang.db'}"
    dbschema.upgrade(url)
    ids, tokens = journey.build_inventory(url)
    server = LiveServer.start(url, work, factory=FACTORY, env=ENV)
    try:
        w = journey.World(server.url, ids, tokens)
        journey.set_quotas(w)
        sweep = w.post("operator", "/api/v1/clouds/sweep")  # capacity samples of the four in-memory clouds
        assert sweep == {"clouds": 4, "failures": 0}
        journey.provision_prior(w, "m1.small", "cirros")
        yield w
    finally:
        server.stop()


def test_request_two_approvals_provisioned_and_retired_in_the_console(world: journey.World, browser: Any) -> None:
    journey.run(browser, world, MEMORY)
    journey.write_timings(world, "requests-memory")


def test_a_failed_provisioning_shows_why_and_is_retired_from_its_page(world: journey.World, browser: Any) -> None:
    w = world
    body = {  # an image no cloud offers: the in-memory clouds refuse the server, provisioning rolls back
        "title": "镜像不存在的申请 / an image no cloud has",
        "unit_id": w.ids["county_unit"],
        "bundle": {"servers": [{"name": "web", "flavor": "m1.small", "image": "ubuntu-22.04"}]},
    }
    rid = w.post("dept", "/api/v1/requests", body)["id"]
    w.post("dept", f"/api/v1/requests/{rid}/submit")
    w.post("chief", f"/api/v1/requests/{rid}/approve", {"comment": "同意"})
    w.post("office", f"/api/v1/requests/{rid}/approve", {"comment": "同意"})
    w.post("operator", f"/api/v1/requests/{rid}/schedule")
    failed = w.post("operator", f"/api/v1/requests/{rid}/provision")
    assert failed["status"] == "failed"
    assert "image 'ubuntu-22.04' not found" in failed["failure_reason"]

    page = journey.open_as(browser, w, "operator")
    page.goto(w.url + f"/#/requests/{rid}")
    page.wait_for_selector(f"body[data-loaded='requests/{rid}']")
    assert failed["failure_reason"] in page.inner_text("[data-testid=failure]")
    assert sorted(page.locator("[data-testid=actions] button").evaluate_all("bs => bs.map(b => b.dataset.testid)")) == [
        "resume",
        "retire",
        "schedule",
    ]
    assert "失败 failed" in journey.texts(page, "[data-testid=timeline] li strong")
    assert unlabelled_controls(page) == []
    page.click("[data-testid=resume]")  # nothing is left to roll back: it stays failed, nothing changes
    page.wait_for_selector(f"body[data-loaded='requests/{rid}'] [data-testid=resume]")
    assert w.get("operator", f"/api/v1/requests/{rid}")["status"] == "failed"
    journey.shot(page, "page-failed")
    page.dblclick("[data-testid=retire]")  # a double-click only asks (its second click meets a disabled button)
    page.wait_for_timeout(500)
    assert w.get("operator", f"/api/v1/requests/{rid}")["status"] == "failed"
    page.click("[data-testid=retire-cancel]")
    page.click("[data-testid=retire]")
    page.click("[data-testid=retire-confirm]")  # enabled after a second
    page.wait_for_selector("h2 [data-testid=status]:has-text('已退役')")
    assert w.get("operator", f"/api/v1/requests/{rid}")["status"] == "retired"
    page.close()


def test_a_role_that_cannot_create_requests_is_not_shown_the_form(world: journey.World, browser: Any) -> None:
    page = journey.open_as(browser, world, "operator")  # cloud operators schedule and provision, never request
    page.goto(world.url + "/#/requests/new")
    page.wait_for_selector("body[data-loaded='requests/new'] [data-testid=not-allowed]")
    assert page.locator("form[aria-label*='New request']").count() == 0
    page.goto(world.url + "/#/requests")
    page.wait_for_selector("body[data-loaded=requests]")
    assert page.locator("[data-testid=new-request]").count() == 0
    assert page.locator("nav a[aria-current=page]").count() == 1  # one current link (was two under a prefix)
    page.goto(world.url + "/#/approvals")  # a link kept from another role: a plain answer, not the API's 403
    page.wait_for_selector("body[data-loaded=approvals] [data-testid=not-allowed]")
    assert "HTTP 403" not in page.inner_text("#view")
    page.click("#sign-out")
    page.wait_for_selector("body[data-loaded=signed-out]")
    assert page.inner_html("#view") == ""  # nothing of the signed-out user's pages stays in the document
    page.close()
