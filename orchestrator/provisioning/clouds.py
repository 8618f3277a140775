"""The configured clouds: the one place that opens clouds.yaml (a `CloudRegistry`, lazily, once per app/CLI).

The app, the CLIs, the request routes, the capacity sweep and the flavor catalogue all reach their drivers through
a `Clouds`; unit tests hand a `Clouds.of(drivers)` (in-memory drivers) to the app instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from threading import Lock
from typing import TYPE_CHECKING

from core.errors import Conflict, Problem
from orchestrator.provisioning.driver import CloudDriver, FlavorSize, InMemoryDriver

if TYPE_CHECKING:  # openstacksdk is imported only when a registry is opened
    from orchestrator.provisioning.openstack import CloudRegistry

DriverFor = Callable[[str], CloudDriver]

# The plain demo's clouds (`yunwang demo` without a clouds.yaml): the demo inventory's gov-cloud sites, simulated in
# memory. Nothing is created anywhere; the state lives in the process and is gone at restart (docs/demo.md).
IN_MEMORY_LABEL = "内存模拟云 in-memory demo cloud — nothing is created anywhere"
DEMO_CLOUDS: dict[str, str] = {
    "gov-nanning": "gov-nanning-az",
    "gov-guilin": "gov-guilin-az",
    "gov-wuzhou": "gov-wuzhou-az",
}
DEMO_FLAVORS: dict[str, FlavorSize] = {  # the local OpenStack's two (tests/env/openstack/seed.py) and two larger
    "m1.tiny": FlavorSize(1, 512, 1),
    "m1.small": FlavorSize(1, 2048, 20),
    "m1.medium": FlavorSize(2, 4096, 40),
    "m1.large": FlavorSize(4, 8192, 80),
}
DEMO_HOST = {"VCPU": (256.0, 0), "MEMORY_MB": (1048576.0, 0), "DISK_GB": (20000.0, 0)}


class Clouds:
    """The clouds of one clouds.yaml (None: no clouds configured); drivers are created on first use."""

    def __init__(self, path: Path | None, api_timeout: float = 60.0) -> None:
        self.path = path
        self.api_timeout = api_timeout
        self._driver: DriverFor | None = None
        self._names: Callable[[], list[str]] | None = None
        self._registry: CloudRegistry | None = None
        self._lock = Lock()
        self.label: str | None = None  # set on simulated clouds (IN_MEMORY_LABEL); None: the real ones

    @classmethod
    def in_memory_demo(cls) -> Clouds:
        """The plain demo's clouds: DEMO_CLOUDS simulated by `InMemoryDriver`s (two hosts each, DEMO_FLAVORS)."""
        drivers = {
            name: InMemoryDriver(
                name,
                az,
                instances_quota=1000,
                hosts={f"{name}-host-{i}": DEMO_HOST for i in (1, 2)},
                flavors=DEMO_FLAVORS,
            )
            for name, az in DEMO_CLOUDS.items()
        }
        c = cls.of(drivers)
        c.label = IN_MEMORY_LABEL
        return c

    @classmethod
    def of(cls, drivers: Mapping[str, CloudDriver]) -> Clouds:
        """Clouds made of given drivers (unit tests: in-memory drivers), in name order."""
        c = cls(None)
        c._driver, c._names = drivers.__getitem__, lambda: sorted(drivers)
        return c

    @property
    def configured(self) -> bool:
        return self._driver is not None or self.path is not None

    def registry(self) -> CloudRegistry:
        """The clouds.yaml registry itself (the CLIs); Conflict when no clouds.yaml is configured."""
        with self._lock:
            if self._registry is None:
                if self.path is None:
                    raise Conflict(
                        "no clouds.yaml configured", [Problem("set YUNWANG_CLOUDS_YAML", field="clouds_yaml")]
                    )
                from orchestrator.provisioning.openstack import CloudRegistry

                self._registry = CloudRegistry(self.path, api_timeout=self.api_timeout)
            return self._registry

    def _open(self) -> tuple[DriverFor, Callable[[], list[str]]]:
        if self._driver is None or self._names is None:
            reg = self.registry()
            self._driver, self._names = reg.driver, reg.names
        return self._driver, self._names

    def driver_for(self) -> DriverFor:
        """The driver lookup by clouds.yaml name (Conflict when no clouds are configured; KeyError: unknown cloud)."""
        return self._open()[0]

    def names(self) -> list[str]:
        return self._open()[1]()

    def drivers(self) -> list[CloudDriver]:
        """One driver per configured cloud (Conflict when none are configured)."""
        driver, names = self._open()
        return [driver(n) for n in names()]

    def availability_zone(self, cloud: str) -> str | None:
        """A cloud's availability zone from clouds.yaml (`yunwang.availability_zone`); None when unknown."""
        if not self.configured:
            return None
        try:
            return self.driver_for()(cloud).availability_zone
        except (KeyError, Conflict):
            return None
