"""Server sizes come from the flavor: a request's declared vCPUs, RAM and root disk must be the flavor's real
size (or are filled in from it), so quota, approval and placement count what the cloud will really allocate.

The flavor table is read from the clouds (every clouds.yaml entry's flavors, cached `TTL_S`); a flavor name with
different sizes in two clouds is refused at creation. With no cloud configured or reachable, vCPUs and RAM must be
declared; provisioning still compares them with the target cloud's flavor before creating anything
(`orchestrator.provisioning.runs.size_mismatch`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from core.errors import Problem
from orchestrator.provisioning.driver import CloudError, FlavorSize
from orchestrator.requests.lifecycle import Bundle

log = logging.getLogger("yunwang.flavors")
TTL_S = 300.0
FlavorTable = Mapping[str, FlavorSize]
SIZE_FIELDS = (("vcpus", "vcpus"), ("ram_mb", "ram_mb"), ("disk_gb", "disk_gb"))


def merge(tables: Iterable[tuple[str, Mapping[str, FlavorSize]]]) -> tuple[dict[str, FlavorSize], dict[str, str]]:
    """One table from every cloud's; (table, flavor → why it is ambiguous) for names whose sizes differ."""
    table: dict[str, FlavorSize] = {}
    seen: dict[str, str] = {}
    ambiguous: dict[str, str] = {}
    for cloud, flavors in tables:
        for name, size in flavors.items():
            if name in table and table[name] != size:
                ambiguous[name] = f"flavor {name!r} differs between clouds {seen[name]} and {cloud}"
            else:
                table.setdefault(name, size)
                seen.setdefault(name, cloud)
    for name in ambiguous:
        table.pop(name, None)
    return table, ambiguous


def resolve_bundle(
    bundle: Bundle, table: FlavorTable | None, ambiguous: Mapping[str, str] | None = None
) -> tuple[Bundle, list[Problem]]:
    """The bundle with every server's sizes taken from its flavor, and the problems (declared ≠ real, unknown
    flavor). `table` None: no flavor table available, so vCPUs and RAM must be declared."""
    problems: list[Problem] = []
    servers = []
    for i, s in enumerate(bundle.servers):
        where = f"bundle.servers[{i}]"
        if table is None:
            for name in ("vcpus", "ram_mb"):
                if getattr(s, name) is None:
                    problems.append(
                        Problem(
                            "请填写规格，或配置云平台以读取云主机类型 / declare it, or configure clouds.yaml so the "
                            "flavor's size can be read",
                            field=f"{where}.{name}",
                        )
                    )
            servers.append(s)
            continue
        real = table.get(s.flavor)
        if real is None:
            why = (ambiguous or {}).get(s.flavor) or "no cloud offers this flavor / 云平台没有该云主机类型"
            problems.append(Problem(why, field=f"{where}.flavor", value=s.flavor))
            servers.append(s)
            continue
        for name, attr in SIZE_FIELDS:
            declared, actual = getattr(s, name), getattr(real, attr)
            if declared is not None and declared != actual:
                problems.append(
                    Problem(
                        f"与云主机类型 {s.flavor} 的规格不符 / flavor {s.flavor} has {name} {actual}",
                        field=f"{where}.{name}",
                        value=declared,
                    )
                )
        servers.append(s.model_copy(update={"vcpus": real.vcpus, "ram_mb": real.ram_mb, "disk_gb": real.disk_gb}))
    return bundle.model_copy(update={"servers": servers}), problems


class CloudFlavors:
    """The flavor table of a set of clouds, cached; `table()` is None when no cloud answered."""

    def __init__(self, drivers: Callable[[], list[Any]], ttl_s: float = TTL_S) -> None:
        self._drivers = drivers
        self._ttl = ttl_s
        self._lock = threading.Lock()
        self._cached: tuple[float, dict[str, FlavorSize] | None, dict[str, str]] | None = None

    def __call__(self) -> tuple[dict[str, FlavorSize] | None, dict[str, str]]:
        with self._lock:
            if self._cached is not None and time.monotonic() - self._cached[0] < self._ttl:
                return self._cached[1], self._cached[2]
        got: list[tuple[str, Mapping[str, FlavorSize]]] = []
        for d in self._drivers():
            lister = getattr(d, "flavors", None)
            if not callable(lister):
                continue
            try:
                flavors = lister()
            except CloudError as exc:
                log.warning("flavors of %s unavailable: %s", d.cloud, exc.message)
                continue
            if isinstance(flavors, Mapping):
                got.append((d.cloud, flavors))
        table, ambiguous = merge(got) if got else (None, {})
        with self._lock:
            self._cached = (time.monotonic(), table, ambiguous)
        return table, ambiguous


FlavorCatalog = Callable[[], tuple[Mapping[str, FlavorSize] | None, Mapping[str, str]]]


def no_flavors() -> tuple[None, dict[str, str]]:
    """The catalogue when no clouds are configured: no table (sizes must be declared)."""
    return None, {}


def flavor_table(catalog: FlavorCatalog) -> tuple[dict[str, FlavorSize] | None, dict[str, str]]:
    """A copy of the catalogue's current table and its ambiguous names."""
    table, ambiguous = catalog()
    return (dict(table) if table is not None else None), dict(ambiguous)
