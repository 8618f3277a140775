"""The cloud adapter's contract: the verbs provisioning, capacity and drift need, and the in-memory driver.

`orchestrator.provisioning.openstack.OpenStackDriver` implements `CloudDriver` against a real OpenStack (the only openstacksdk
user); `InMemoryDriver` implements it in memory for unit tests and for the plain demo's clouds, labelled
"内存模拟云 in-memory demo cloud" wherever they show (`Clouds.in_memory_demo`); it never stands in for the real one
in integration tests of provisioning. Every resource yunwang creates carries a *marker* (description or metadata)
naming the request, the cloud and the step key, so provisioning can look before it creates.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from orchestrator.provisioning.plan import ResourceKind

MARKER_PREFIX = "yunwang:"
_MARKER_RE = re.compile(r"^yunwang:req=(?P<req>[^;]+);cloud=(?P<cloud>[^;]+);key=(?P<key>.+)$")


def marker(request_id: str, cloud: str, key: str) -> str:
    """The ownership marker stored on a resource (≤ 255 characters)."""
    text = f"{MARKER_PREFIX}req={request_id};cloud={cloud};key={key}"
    if len(text) > 255:
        raise ValueError("marker too long")
    return text


def parse_marker(text: str | None) -> tuple[str, str, str] | None:
    """(request_id, cloud, key) from a marker, or None when the text is not one."""
    m = _MARKER_RE.match(text or "")
    return (m["req"], m["cloud"], m["key"]) if m else None


class CloudError(Exception):
    """A failed cloud call. `transient` errors may succeed when retried; `quota` errors (the cloud's own quota
    refused it) never are, whatever their status; `message` never holds secrets."""

    def __init__(
        self, message: str, *, transient: bool = False, quota: bool = False, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient
        self.quota = quota
        self.status = status

    def __str__(self) -> str:
        return self.message


class TransientCloudError(CloudError):
    """5xx, 429, clearing 409 conflicts, timeouts, refused connections: worth retrying with back-off."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message, transient=True, status=status)


@dataclass(frozen=True)
class CloudObject:
    """A resource as the cloud reports it."""

    kind: ResourceKind
    cloud_id: str
    name: str
    project_id: str | None
    marker: str | None = None
    status: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def owner(self) -> tuple[str, str, str] | None:
        return parse_marker(self.marker)


@dataclass(frozen=True)
class FlavorSize:
    """A flavor's real size in one cloud."""

    vcpus: int
    ram_mb: int
    disk_gb: int


@dataclass(frozen=True)
class ImageInfo:
    """An image a cloud offers to every project (public or community, active): the request form's catalogue."""

    name: str
    id: str
    min_disk_gb: int = 0


@dataclass(frozen=True)
class NetworkInfo:
    """A network a cloud offers to every project: external (routers' gateways, floating IPs) or shared."""

    name: str
    id: str
    external: bool = False
    shared: bool = False


# The project quotas yunwang reads (and, in managed mode, changes): Nova's and Cinder's names.
QUOTA_KEYS = ("instances", "cores", "ram", "volumes", "gigabytes")


@dataclass(frozen=True)
class HostCapacity:
    """One hypervisor's resources: class → (effective total, used)."""

    host: str
    resources: dict[str, tuple[float, int]]


@dataclass(frozen=True)
class CloudCapacity:
    cloud: str
    availability_zone: str | None
    hosts: tuple[HostCapacity, ...]

    def totals(self) -> dict[str, tuple[float, int]]:
        out: dict[str, tuple[float, int]] = {}
        for h in self.hosts:
            for rc, (total, used) in h.resources.items():
                t, u = out.get(rc, (0.0, 0))
                out[rc] = (t + total, u + used)
        return out


class CloudDriver(Protocol):
    """What yunwang asks of one cloud (one clouds.yaml entry)."""

    @property
    def cloud(self) -> str: ...

    @property
    def availability_zone(self) -> str | None: ...

    def ensure_project(self, name: str, unit_code: str) -> tuple[str, bool]:
        """The project's id, creating it when missing; (id, created)."""
        ...

    def set_quota(self, project_id: str, quota: Mapping[str, int]) -> None:
        """Set project quota limits (QUOTA_KEYS and Neutron's); only managed quota mode calls it."""
        ...

    def flavor(self, name: str) -> FlavorSize | None:
        """The flavor's real size; CloudError when the cloud has no such flavor, None when it cannot tell."""
        ...

    def flavors(self) -> dict[str, FlavorSize]:
        """Every flavor the cloud offers, by name; CloudError when it cannot tell."""
        ...

    def images(self) -> list[ImageInfo]:
        """The images every project may boot (public or community, active), by name."""
        ...

    def networks(self) -> list[NetworkInfo]:
        """The networks offered to every project: external ones (gateways, floating IPs) and shared ones."""
        ...

    def find(self, kind: ResourceKind, project_id: str, mark: str, spec: Mapping[str, Any]) -> CloudObject | None:
        """The resource of this kind carrying `mark` (for attachments: the attachment `spec` describes)."""
        ...

    def create(self, kind: ResourceKind, project_id: str, mark: str, spec: Mapping[str, Any]) -> CloudObject: ...

    def wait_ready(self, kind: ResourceKind, project_id: str, obj: CloudObject) -> CloudObject:
        """Wait until usable (server ACTIVE, volume available); raises CloudError on ERROR."""
        ...

    def delete(self, kind: ResourceKind, project_id: str, obj: CloudObject) -> None:
        """Delete and wait until gone; a resource already gone is not an error."""
        ...

    def list_resources(self, project_ids: Iterable[str]) -> list[CloudObject]:
        """Servers, volumes, networks, subnets, routers, security groups and floating IPs of these projects."""
        ...

    def capacity(self) -> CloudCapacity: ...

    def quota_usage(self, project_id: str) -> dict[str, tuple[int, int]]:
        """The project's quotas (QUOTA_KEYS): (in use, limit); a limit of -1 is unlimited."""
        ...


# --- in-memory driver (unit tests) ----------------------------------------------------------------------------

Fault = Callable[[str, ResourceKind | None], CloudError | None]


class InMemoryDriver:
    """A faithful-enough cloud in memory: markers, quotas (instances; cores and ram when it knows the flavors;
    volumes, gigabytes), idempotent deletes, injectable faults. Without a `flavors` table every flavor exists
    and its size is unknown (None); without `images` every image boots and none is listed; `networks` are the
    external/shared networks it lists.

    `fault(op, kind)` is called before every operation ("create", "delete", "find", "wait", ...); returning a
    CloudError makes the call raise it. `created_count[kind]` counts successful creates (duplicate detection).
    """

    def __init__(
        self,
        cloud: str = "mem",
        availability_zone: str | None = "mem-az",
        instances_quota: int = 100,
        hosts: Mapping[str, Mapping[str, tuple[float, int]]] | None = None,
        flavors: Mapping[str, FlavorSize] | None = None,
        images: Iterable[str] | None = None,
        networks: Iterable[NetworkInfo] = (),
    ) -> None:
        self._cloud = cloud
        self._az = availability_zone
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.projects: dict[str, str] = {}  # name -> id
        self.quotas: dict[str, dict[str, int]] = {}
        self.objects: dict[str, CloudObject] = {}
        self.default_instances = instances_quota
        self.fault: Fault | None = None
        self.created_count: dict[ResourceKind, int] = {}
        self.hosts = hosts or {"mem-host-1": {"VCPU": (16.0, 0), "MEMORY_MB": (32768.0, 0), "DISK_GB": (500.0, 0)}}
        self.flavor_table = dict(flavors) if flavors is not None else None
        self.image_names = tuple(images) if images is not None else None
        self.offered_networks = tuple(networks)
        self.calls: dict[str, int] = {}  # operation -> how many times it was called (retry checks)

    @property
    def cloud(self) -> str:
        return self._cloud

    @property
    def availability_zone(self) -> str | None:
        return self._az

    def _check(self, op: str, kind: ResourceKind | None = None) -> None:
        self.calls[op] = self.calls.get(op, 0) + 1
        if self.fault is not None:
            err = self.fault(op, kind)
            if err is not None:
                raise err

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids):06d}"

    def ensure_project(self, name: str, unit_code: str) -> tuple[str, bool]:
        self._check("ensure_project", ResourceKind.PROJECT)
        with self._lock:
            if name in self.projects:
                return self.projects[name], False
            pid = self._new_id("proj")
            self.projects[name] = pid
            return pid, True

    def set_quota(self, project_id: str, quota: Mapping[str, int]) -> None:
        self._check("set_quota", ResourceKind.PROJECT)
        self.quotas.setdefault(project_id, {}).update(quota)

    def flavor(self, name: str) -> FlavorSize | None:
        self._check("flavor", None)
        if self.flavor_table is None:
            return None
        if name not in self.flavor_table:
            raise CloudError(f"{self._cloud}: flavor {name!r} not found", status=404)
        return self.flavor_table[name]

    def flavors(self) -> dict[str, FlavorSize]:
        """Every flavor, by name; CloudError when this cloud has no flavor table (sizes unknown)."""
        self._check("flavors", None)
        if self.flavor_table is None:
            raise CloudError(f"{self._cloud}: flavor sizes unknown")
        return dict(self.flavor_table)

    def images(self) -> list[ImageInfo]:
        self._check("images", None)
        return [ImageInfo(name, f"img-{name}") for name in sorted(self.image_names or ())]

    def networks(self) -> list[NetworkInfo]:
        self._check("networks", None)
        return sorted(self.offered_networks, key=lambda n: n.name)

    def _limit(self, project_id: str, key: str) -> int:
        default = {"instances": self.default_instances}.get(key, -1)
        return self.quotas.get(project_id, {}).get(key, default)

    def _used(self, project_id: str) -> dict[str, int]:
        used = dict.fromkeys(QUOTA_KEYS, 0)
        for o in self.objects.values():
            if o.project_id != project_id:
                continue
            if o.kind == ResourceKind.SERVER:
                used["instances"] += 1
                size = (self.flavor_table or {}).get(str(o.attrs.get("flavor")))
                if size is not None:
                    used["cores"] += size.vcpus
                    used["ram"] += size.ram_mb
            elif o.kind == ResourceKind.VOLUME:
                used["volumes"] += 1
                used["gigabytes"] += int(o.attrs.get("size_gb") or 0)
        return used

    def _over_quota(self, project_id: str, need: Mapping[str, int]) -> str | None:
        used = self._used(project_id)
        for key, n in need.items():
            limit = self._limit(project_id, key)
            if n and limit >= 0 and used[key] + n > limit:
                return f"Quota exceeded for {key}: Requested {n}, but already used {used[key]} of {limit} {key}"
        return None

    def find(self, kind: ResourceKind, project_id: str, mark: str, spec: Mapping[str, Any]) -> CloudObject | None:
        self._check("find", kind)
        for o in list(self.objects.values()):
            if o.kind != kind or o.project_id != project_id:
                continue
            if kind == ResourceKind.VOLUME_ATTACHMENT:
                if o.attrs.get("server_id") == spec["server_id"] and o.attrs.get("volume_id") == spec["volume_id"]:
                    return o
            elif o.marker == mark:
                return o
        return None

    def create(self, kind: ResourceKind, project_id: str, mark: str, spec: Mapping[str, Any]) -> CloudObject:
        self._check("create", kind)
        with self._lock:
            need: dict[str, int] = {}
            if kind == ResourceKind.SERVER:
                size = (self.flavor_table or {}).get(str(spec.get("flavor")))
                need = {"instances": 1, "cores": size.vcpus if size else 0, "ram": size.ram_mb if size else 0}
            elif kind == ResourceKind.VOLUME:
                need = {"volumes": 1, "gigabytes": int(spec.get("size_gb") or 0)}
            image = spec.get("image")
            if kind == ResourceKind.SERVER and self.image_names is not None and image not in self.image_names:
                raise CloudError(f"{self._cloud}: image {image!r} not found", status=404)
            over = self._over_quota(project_id, need) if need else None
            if over is not None:
                raise CloudError(over, quota=True, status=403 if kind == ResourceKind.SERVER else 413)
            for ref in ("network_id", "server_id", "volume_id", "subnet_id"):
                if ref in spec and spec[ref] is not None and spec[ref] not in self.objects:
                    raise CloudError(f"{ref} {spec[ref]} not found", status=404)
            oid = self._new_id(kind.value)
            attrs = {k: v for k, v in spec.items() if k != "name"}
            status = {"server": "BUILD", "volume": "creating"}.get(kind.value, "ACTIVE")
            obj = CloudObject(kind, oid, str(spec.get("name", oid)), project_id, mark, status, attrs)
            self.objects[oid] = obj
            self.created_count[kind] = self.created_count.get(kind, 0) + 1
            return obj

    def wait_ready(self, kind: ResourceKind, project_id: str, obj: CloudObject) -> CloudObject:
        self._check("wait", kind)
        with self._lock:
            cur = self.objects.get(obj.cloud_id)
            if cur is None:
                raise CloudError(f"{kind.value} {obj.cloud_id} disappeared", status=404)
            ready = {"server": "ACTIVE", "volume": "available"}.get(kind.value, cur.status)
            new = CloudObject(cur.kind, cur.cloud_id, cur.name, cur.project_id, cur.marker, ready, cur.attrs)
            self.objects[cur.cloud_id] = new
            return new

    def delete(self, kind: ResourceKind, project_id: str, obj: CloudObject) -> None:
        self._check("delete", kind)
        with self._lock:
            self.objects.pop(obj.cloud_id, None)

    def list_resources(self, project_ids: Iterable[str]) -> list[CloudObject]:
        self._check("list", None)
        wanted = set(project_ids)
        return [o for o in self.objects.values() if o.project_id in wanted and o.kind != ResourceKind.VOLUME_ATTACHMENT]

    def capacity(self) -> CloudCapacity:
        self._check("capacity", None)
        servers = sum(1 for o in self.objects.values() if o.kind == ResourceKind.SERVER)
        hosts = tuple(
            HostCapacity(h, {rc: (t, u + (servers if rc == "VCPU" and i == 0 else 0)) for rc, (t, u) in res.items()})
            for i, (h, res) in enumerate(self.hosts.items())
        )
        return CloudCapacity(self._cloud, self._az, hosts)

    def quota_usage(self, project_id: str) -> dict[str, tuple[int, int]]:
        self._check("quota", None)
        used = self._used(project_id)
        return {k: (used[k], self._limit(project_id, k)) for k in QUOTA_KEYS}

    def add_foreign(self, kind: ResourceKind, project_id: str, name: str) -> CloudObject:
        """A resource created outside yunwang (no marker), for drift tests."""
        oid = self._new_id(kind.value)
        obj = CloudObject(kind, oid, name, project_id, None, "ACTIVE", {})
        self.objects[oid] = obj
        return obj
