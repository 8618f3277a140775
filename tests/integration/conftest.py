"""Which integration tests may run at the same time (scripts/test.sh: `pytest tests/integration -n 3 --dist loadgroup`).

Most integration tests spend their time waiting (servers starting, workers polling, probes timing out), each on its own
free 127.0.0.1 ports, tmp dirs, databases, broker queues and namespaces, so xdist runs them side by side. Tests that
share one resource form one group, which one worker runs one test after the other, as before:

- `testnet`: the shared test network (yw-net, snmpd's counters, the fixed yw-d* namespaces of the delay router)
  and the ICMP accuracy tests, which must not compete with other probes;
- `openstack`: the local OpenStack's own services run on the same cores (one provisioning at a time, as before);
- `browser`: Chromium and the module-scoped servers of tests/integration/web (one browser at a time);
- `broker-default-queue`: the tests whose `yunwang worker` consumes the app's fixed `default` queue (imports,
  reports, provisioning by a worker). Two of them at once would take each other's messages, and a worker on one
  test's database cannot find the other test's job;
- a module whose fixtures are module-scoped (one demo, one OIDC provider set-up) stays on one worker, so its
  expensive set-up runs once, not once per worker.

The groups are made here, by path, in the controller's scheduler (`pytest_xdist_make_scheduler`), not with
`@pytest.mark.xdist_group`: pytest-xdist 3.8 marks a group by rewriting `item._nodeid`, which pytest 9 no longer
reads (its node id is `item._id`), so under pytest 9 `--dist loadgroup` silently runs every test on its own.

Tests marked `alone` measure wall-clock speed (a page must load within N seconds): scripts/test.sh runs them after
the others, one at a time, so two other tests' servers do not share the cores with them (`-m "not alone"`, then
`-m alone`). Run without xdist (`pytest tests/integration`), none of this changes anything.
"""

from __future__ import annotations

from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

GROUPS = {  # node id prefix (path under tests/integration) → group
    "testnet/": "testnet",
    "openstack/": "openstack",
    "web/": "browser",
    "test_docs_examples.py": "docs-examples",
    "auth/test_oidc_sign_on.py": "oidc",
    "tasks/test_import_tasks.py": "broker-default-queue",
    "tasks/test_report_tasks.py": "broker-default-queue",
    "tasks/test_provision_worker.py": "broker-default-queue",
}
PREFIX = "tests/integration/"


def group_of(nodeid: str) -> str | None:
    """The group of a test by its node id (`tests/integration/web/test_x.py::test_y[p]`), None when it has none."""
    if not nodeid.startswith(PREFIX):
        return None
    rel = nodeid[len(PREFIX) :]
    for prefix, group in GROUPS.items():
        if rel.startswith(prefix) and (prefix.endswith("/") or rel[len(prefix) :].startswith("::")):
            return group
    return None


class ByResource(LoadScopeScheduling):  # type: ignore[misc]
    """xdist's scope scheduling where a scope is a resource group (or the single test when it shares none).
    The biggest units go out first (xdist's default `--loadscope-reorder`), so the long groups start at once."""

    def _split_scope(self, nodeid: str) -> str:
        return group_of(nodeid) or nodeid


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> LoadScopeScheduling | None:
    if config.getvalue("dist") == "loadgroup":
        return ByResource(config, log)
    return None
