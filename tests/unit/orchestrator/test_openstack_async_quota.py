"""Nova's own quota recheck: the API accepted the server (202), then the server went to ERROR with "Quota exceeded".

Seen on the real local OpenStack (CI run of 2026-12-01: `server f-3 went to ERROR: Quota exceeded for instances:
Requested 1, but already used 2 of 2 instances`). It is the cloud's quota, like a synchronous 403, so it must be
worded as such and never retried. A test double stands in for the project connection (unit test).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from openstack import exceptions as os_exc

from orchestrator.provisioning.driver import CloudError, CloudObject
from orchestrator.provisioning.openstack import OpenStackDriver
from orchestrator.provisioning.plan import ResourceKind


class _Compute:
    def __init__(self, fault: str) -> None:
        self.fault = fault

    def get_server(self, server_id: str) -> Any:
        return SimpleNamespace(id=server_id, fault={"message": self.fault}, status="ERROR")

    def wait_for_server(self, server: Any, **_: Any) -> Any:
        raise os_exc.ResourceFailure("server went to ERROR")


def _failing_wait(fault: str) -> CloudError:
    d = OpenStackDriver("gov-nanning", Path("/nonexistent/clouds.yaml"), {}, 1.0, 1.0)
    d._scoped["pid"] = SimpleNamespace(compute=_Compute(fault))
    obj = CloudObject(ResourceKind.SERVER, "srv-3", "f-3", "pid", "mark", "BUILD", {})
    with pytest.raises(CloudError) as err:
        d.wait_ready(ResourceKind.SERVER, "pid", obj)
    return err.value


def test_a_quota_fault_after_202_is_the_clouds_quota_and_never_retried() -> None:
    err = _failing_wait("Quota exceeded for instances: Requested 1, but already used 2 of 2 instances")
    assert err.quota and not err.transient
    assert "云平台自身配额不足" in err.message and "instances" in err.message and "f-3" in err.message


def test_any_other_fault_stays_a_plain_error() -> None:
    err = _failing_wait("No valid host was found.")
    assert not err.quota
    assert err.message == "gov-nanning: server f-3 went to ERROR: No valid host was found."
