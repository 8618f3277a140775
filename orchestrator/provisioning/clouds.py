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
from orchestrator.provisioning.driver import CloudDriver

if TYPE_CHECKING:  # openstacksdk is imported only when a registry is opened
    from orchestrator.provisioning.openstack import CloudRegistry

DriverFor = Callable[[str], CloudDriver]


class Clouds:
    """The clouds of one clouds.yaml (None: no clouds configured); drivers are created on first use."""

    def __init__(self, path: Path | None, api_timeout: float = 60.0) -> None:
        self.path = path
        self.api_timeout = api_timeout
        self._driver: DriverFor | None = None
        self._names: Callable[[], list[str]] | None = None
        self._registry: CloudRegistry | None = None
        self._lock = Lock()

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
