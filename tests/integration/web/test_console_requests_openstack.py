"""The Requests/Approvals journey once on the local two-region OpenStack (tests/env/setup-50-openstack.sh): a real
yunwang with YUNWANG_CLOUDS_YAML set, Debian's Chromium, request → two approvals → provisioned on gov-nanning with
its DR replica on gov-guilin → retired, nothing of it left in either cloud. Skipped when the OpenStack is not
running, failed under CI=true (like tests/integration/openstack)."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.app import schema as dbschema
from tests.integration.web import requests_journey as journey
from tests.live_server import LiveServer

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::Warning")]
CLOUDS = ("gov-nanning", "gov-guilin")

# Counted by hand: 2 × m1.tiny (1 vCPU, 512 MB, 1 GB root disk) + a 1 GB volume, no floating IP, remote DR: per site
# 2 vCPU, 1024 MB, 2 + 1 = 3 GB, 2 servers. The county unit (limits 16 / 32768 / 500 / 6 / 2) runs nothing yet.
OPENSTACK = journey.Figures(
    flavor="m1.tiny",
    image="cirros-fake",
    servers=2,
    volume_gb=1,
    floating_ips=0,
    demand={"vcpus": 4, "ram_mb": 2048, "disk_gb": 6, "instances": 4, "floating_ips": 0},
    before={"vcpus": 16, "ram_mb": 32768, "disk_gb": 500, "instances": 6, "floating_ips": 2},
    after={"vcpus": 12, "ram_mb": 30720, "disk_gb": 494, "instances": 2, "floating_ips": 2},
    # project, network, subnet, router, security group, 2 servers, volume, attachment
    steps_per_cloud=9,
)


@pytest.fixture(scope="module")
def clouds_yaml() -> Path:
    path = os.environ.get("YUNWANG_TEST_CLOUDS_YAML")
    if not path or not Path(path).is_file():
        if os.environ.get("CI") == "true":
            pytest.fail("CI must run the OpenStack tests, but YUNWANG_TEST_CLOUDS_YAML is not set")
        pytest.skip("local OpenStack not running: YUNWANG_TEST_CLOUDS_YAML unset (tests/env/setup-50-openstack.sh)")
    return Path(path)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, clouds_yaml: Path) -> Iterator[journey.World]:
    work = tmp_path_factory.mktemp("requests-console-openstack")
    url = f"sqlite:///{work / 'yunwang.db'}"
    dbschema.upgrade(url)
    unit_code = "TC" + uuid.uuid4().hex[:8].upper()  # its own project yw-tc… in both clouds
    ids, tokens = journey.build_inventory(url, unit_code=unit_code, industry=False)
    env = {"YUNWANG_CLOUDS_YAML": str(clouds_yaml), "YUNWANG_APPROVAL_AUTO_ENABLED": "false"}
    server = LiveServer.start(url, work, env=env)
    try:
        w = journey.World(server.url, ids, tokens)
        journey.set_quotas(w)
        assert w.post("operator", "/api/v1/clouds/sweep") == {"clouds": 2, "failures": 0}
        yield w
    finally:
        server.stop()
        remove_project(clouds_yaml, f"yw-{unit_code}".lower())


def remove_project(clouds_yaml: Path, name: str) -> None:
    """Test hygiene: whatever is left of the unit's project in either cloud, and the project."""
    from orchestrator.provisioning.openstack import CloudRegistry
    from tests.integration.openstack.os_helpers import everything_in

    reg = CloudRegistry(clouds_yaml, api_timeout=30)
    for cloud in CLOUDS:
        conn = reg.driver(cloud).admin()
        project = conn.identity.find_project(name, domain_id="default")
        if project is None:
            continue
        for o in everything_in(reg.driver(cloud), project.id):
            with contextlib.suppress(Exception):
                reg.driver(cloud).delete(o.kind, project.id, o)
        conn.identity.delete_project(project.id, ignore_missing=True)


def test_request_journey_on_the_local_openstack(world: journey.World, browser: Any, clouds_yaml: Path) -> None:
    from orchestrator.provisioning.openstack import CloudRegistry
    from tests.integration.openstack.os_helpers import owned_by

    rid = journey.run(browser, world, OPENSTACK, shots=False)
    journey.write_timings(world, "requests-openstack", bound_s=10.0)
    code = world.get("operator", f"/api/v1/requests/{rid}")["code"]
    reg = CloudRegistry(clouds_yaml, api_timeout=30)
    unit = world.get("operator", f"/api/v1/inventory/units/{world.ids['county_unit']}")
    for cloud in CLOUDS:  # nothing of the request is left in either cloud
        driver = reg.driver(cloud)
        project = driver.admin().identity.find_project(f"yw-{unit['code']}".lower(), domain_id="default")
        assert project is not None
        assert owned_by(driver, project.id, code) == []
