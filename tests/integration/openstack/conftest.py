"""The local two-region OpenStack (tests/env/setup-50-openstack.sh): clouds.yaml, drivers and leftover checks."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.provisioning import runs as provision_module
from orchestrator.provisioning.openstack import CloudRegistry
from orchestrator.provisioning.runs import RetryPolicy
from tests.integration.openstack.os_helpers import everything_in

pytestmark = [pytest.mark.integration]
CLOUDS = ("gov-nanning", "gov-guilin")


@pytest.fixture(scope="session")
def clouds_yaml() -> Path:
    path = os.environ.get("YUNWANG_TEST_CLOUDS_YAML")
    if not path or not Path(path).is_file():
        if os.environ.get("CI") == "true":
            pytest.fail("CI must run the OpenStack tests, but YUNWANG_TEST_CLOUDS_YAML is not set")
        pytest.skip("local OpenStack not running: YUNWANG_TEST_CLOUDS_YAML unset (tests/env/setup-50-openstack.sh)")
    return Path(path)


@pytest.fixture(scope="session")
def cloud_registry(clouds_yaml: Path) -> CloudRegistry:
    return CloudRegistry(clouds_yaml, api_timeout=30)


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Same policy shape as production, shorter waits (keeps fault tests fast)."""
    monkeypatch.setattr(provision_module, "RETRY", RetryPolicy(attempts=5, initial_s=0.2, max_s=1.0))


@pytest.fixture
def request_id() -> str:
    return "T-" + uuid.uuid4().hex[:10]


@pytest.fixture
def project() -> str:
    return "yw-test-" + uuid.uuid4().hex[:8]


@pytest.fixture
def variant(clouds_yaml: Path, tmp_path: Path) -> Callable[..., CloudRegistry]:
    """A clouds.yaml variant of one entry (e.g. endpoint overrides pointing at a fault proxy)."""

    def make(cloud: str, api_timeout: float = 30, **changes: Any) -> CloudRegistry:
        data = yaml.safe_load(clouds_yaml.read_text())
        entry = data["clouds"][cloud]
        for k, v in changes.items():
            if k == "auth_url":
                entry["auth"]["auth_url"] = v
            else:
                entry[k] = v
        path = tmp_path / f"clouds-{uuid.uuid4().hex[:6]}.yaml"
        path.write_text(yaml.safe_dump({"clouds": {cloud: entry}}))
        return CloudRegistry(path, api_timeout=api_timeout)

    return make


@pytest.fixture
def cleanup(cloud_registry: CloudRegistry) -> Iterator[list[tuple[str, str]]]:
    """(cloud, project name) pairs whose projects are removed after the test (test hygiene only)."""
    made: list[tuple[str, str]] = []
    yield made
    for cloud, name in made:
        conn = cloud_registry.driver(cloud).admin()
        p = conn.identity.find_project(name, domain_id="default")
        if p is not None:
            for o in everything_in(cloud_registry.driver(cloud), p.id):
                with contextlib.suppress(Exception):
                    cloud_registry.driver(cloud).delete(o.kind, p.id, o)
            conn.identity.delete_project(p.id, ignore_missing=True)
