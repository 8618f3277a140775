"""The OpenStack adapter: clouds.yaml entries → connections → `OpenStackDriver` (the only openstacksdk user).

`CloudRegistry(path)` reads a clouds.yaml (one driver per entry, created lazily). An entry may carry a
`yunwang:` mapping with `availability_zone` (where that cloud's servers go and whose hosts count as its
capacity) and `external_network` (for routers and floating IPs). Every error leaving this module is a
`CloudError` whose text is scrubbed of the entry's credentials.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import openstack
import yaml
from keystoneauth1 import exceptions as ks_exc
from openstack import exceptions as os_exc
from openstack.config import loader

from orchestrator.provisioning.driver import (
    CloudCapacity,
    CloudError,
    CloudObject,
    FlavorSize,
    HostCapacity,
    ImageInfo,
    NetworkInfo,
    TransientCloudError,
)
from orchestrator.provisioning.plan import ResourceKind

log = logging.getLogger("yunwang.clouds")
COMPUTE_QUOTA_KEYS = ("instances", "cores", "ram", "key_pairs", "server_groups")
VOLUME_QUOTA_KEYS = ("volumes", "gigabytes", "snapshots")
LOOKUP_TTL_S = 60.0
NETWORK_QUOTA_KEYS = ("networks", "subnets", "ports", "routers", "floatingips", "security_groups")
# How Nova (403), Neutron (409 OverQuota) and Cinder (413) say that a project quota refused a request.
QUOTA_WORDS = ("quota", "overquota", "limit exceeded", "limitexceeded")
QUOTA_STATUSES = (403, 409, 413)


def is_quota_refusal(status: int | None, detail: str) -> bool:
    """A refusal by the cloud's own project quota: permanent, whatever its status (never retried)."""
    text = detail.lower()
    return status in QUOTA_STATUSES and any(w in text for w in QUOTA_WORDS)


# A per-kind step of `OpenStackDriver.create` / `delete`: (driver, project connection, …).
_Create = Callable[["OpenStackDriver", Any, str, str, Mapping[str, Any]], CloudObject]
_Delete = Callable[["OpenStackDriver", Any, CloudObject], None]


class CloudRegistry:
    """The clouds of one clouds.yaml file; `driver(name)` gives (and caches) that entry's driver."""

    def __init__(self, path: Path | str, api_timeout: float = 60.0, wait_timeout: float = 180.0) -> None:
        self.path = Path(path)
        data = yaml.safe_load(self.path.read_text()) or {}
        self._entries: dict[str, dict[str, Any]] = dict(data.get("clouds") or {})
        self.api_timeout = api_timeout
        self.wait_timeout = wait_timeout
        self._drivers: dict[str, OpenStackDriver] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return sorted(self._entries)

    def driver(self, name: str) -> OpenStackDriver:
        if name not in self._entries:
            raise KeyError(f"no cloud {name!r} in clouds.yaml")
        with self._lock:
            if name not in self._drivers:
                self._drivers[name] = OpenStackDriver(
                    name, self.path, self._entries[name], self.api_timeout, self.wait_timeout
                )
            return self._drivers[name]


def _secrets(entry: Mapping[str, Any]) -> list[str]:
    auth = entry.get("auth") or {}
    return [str(v) for k, v in auth.items() if k in ("password", "token", "application_credential_secret") and v]


def _status_of(exc: BaseException) -> int | None:
    code = getattr(exc, "status_code", None)
    if code is None:
        code = getattr(getattr(exc, "response", None), "status_code", None)
    return int(code) if isinstance(code, int) else None


class OpenStackDriver:
    """`CloudDriver` on one clouds.yaml entry; unit projects get their own project-scoped connections."""

    def __init__(
        self, name: str, path: Path, entry: Mapping[str, Any], api_timeout: float, wait_timeout: float
    ) -> None:
        self._name = name
        self._path = path
        extra = entry.get("yunwang") or {}
        self._az: str | None = extra.get("availability_zone")
        self._external_network: str | None = extra.get("external_network")
        self._secrets = _secrets(entry)
        self.api_timeout = api_timeout
        self.wait_timeout = int(wait_timeout)
        self._admin: Any = None
        self._scoped: dict[str, Any] = {}
        self._lookups: dict[tuple[str, str], tuple[str, float]] = {}
        self._lock = threading.Lock()

    # --- plumbing -------------------------------------------------------------------------------------------
    @property
    def cloud(self) -> str:
        return self._name

    @property
    def availability_zone(self) -> str | None:
        return self._az

    def scrub(self, text: str) -> str:
        for s in self._secrets:
            text = text.replace(s, "***")
        return text

    def _error(self, exc: BaseException, what: str) -> CloudError:
        status = _status_of(exc)
        detail = getattr(exc, "details", None) or str(exc)
        if is_quota_refusal(status, f"{detail} {exc}"):
            text = self.scrub(
                f"{self._name}: {what}: 云平台自身配额不足 / the cloud's own quota refused it ({status}): {detail}"
            )
            return CloudError(text[:500], quota=True, status=status)
        text = self.scrub(f"{self._name}: {what}: {type(exc).__name__}" + (f" {status}" if status else ""))
        text += ": " + self.scrub(str(detail))[:300]
        if isinstance(exc, ks_exc.ConnectFailure | ks_exc.ConnectTimeout | ks_exc.RequestTimeout):
            return TransientCloudError(text, status=status)
        if isinstance(exc, ks_exc.ConnectionError):
            return TransientCloudError(text, status=status)
        if status is not None and (status >= 500 or status in (409, 429)):
            return TransientCloudError(text, status=status)
        return CloudError(text, status=status)

    @contextmanager
    def _calls(self, what: str) -> Iterator[None]:
        try:
            yield
        except CloudError:
            raise
        except (os_exc.SDKException, ks_exc.ClientException) as exc:
            raise self._error(exc, what) from None

    def _connect(self) -> Any:
        with self._lock:
            if self._admin is None:
                config = loader.OpenStackConfig(config_files=[str(self._path)])
                region = config.get_one(cloud=self._name, api_timeout=self.api_timeout)
                self._admin = openstack.connection.Connection(config=region, compute_api_version="2.79")
            return self._admin

    def admin(self) -> Any:
        with self._calls("connect"):
            return self._connect()

    def _project_conn(self, project_id: str) -> Any:
        with self._lock:
            conn = self._scoped.get(project_id)
        if conn is None:
            conn = self._connect().connect_as_project({"id": project_id})
            with self._lock:
                self._scoped[project_id] = conn
        return conn

    def _lookup(self, what: str, name: str, finder: Any) -> str:
        """Id of a flavor/image/network by name, cached for LOOKUP_TTL_S (they rarely change)."""
        key = (what, name)
        hit = self._lookups.get(key)
        if hit is not None and time.monotonic() - hit[1] < LOOKUP_TTL_S:
            return hit[0]
        found = finder(name, ignore_missing=False)
        self._lookups[key] = (str(found.id), time.monotonic())
        return str(found.id)

    # --- projects and quotas --------------------------------------------------------------------------------
    def ensure_project(self, name: str, unit_code: str) -> tuple[str, bool]:
        with self._calls("ensure project"):
            conn = self._connect()
            created = False
            project = conn.identity.find_project(name, domain_id="default")
            if project is None:
                try:
                    project = conn.identity.create_project(
                        name=name, domain_id="default", description=f"yunwang unit {unit_code}"
                    )
                    created = True
                except os_exc.ConflictException:
                    project = conn.identity.find_project(name, domain_id="default", ignore_missing=False)
            user_id = conn.current_user_id
            role = conn.identity.find_role("admin", ignore_missing=False)
            if not conn.identity.validate_user_has_project_role(project, user_id, role):
                conn.identity.assign_project_role_to_user(project, user_id, role)
            return str(project.id), created

    def set_quota(self, project_id: str, quota: Mapping[str, int]) -> None:
        with self._calls("set quota"):
            conn = self._connect()
            compute = {k: v for k, v in quota.items() if k in COMPUTE_QUOTA_KEYS}
            volume = {k: v for k, v in quota.items() if k in VOLUME_QUOTA_KEYS}
            network = {k: v for k, v in quota.items() if k in NETWORK_QUOTA_KEYS}
            if compute:
                conn.compute.update_quota_set(project_id, **compute)
            if volume:
                conn.block_storage.update_quota_set(project_id, **volume)
            if network:
                conn.network.update_quota(project_id, **network)

    def quota_usage(self, project_id: str) -> dict[str, tuple[int, int]]:
        with self._calls("quota usage"):
            conn = self._connect()
            qs = conn.compute.get_quota_set(project_id, usage=True)
            usage = qs.usage or {}
            out = {k: (int(usage.get(k) or 0), int(getattr(qs, k))) for k in ("instances", "cores", "ram")}
            if conn.has_service("block-storage"):
                bq = conn.block_storage.get_quota_set(project_id, usage=True)
                busage = bq.usage or {}
                out.update({k: (int(busage.get(k) or 0), int(getattr(bq, k))) for k in ("volumes", "gigabytes")})
            return out

    def flavor(self, name: str) -> FlavorSize:
        with self._calls(f"flavor {name}"):
            f = self._connect().compute.find_flavor(name, ignore_missing=False)
            return FlavorSize(int(f.vcpus), int(f.ram), int(f.disk or 0))

    def flavors(self) -> dict[str, FlavorSize]:
        """Every flavor this cloud offers, by name (the request form's catalog)."""
        with self._calls("list flavors"):
            return {
                str(f.name): FlavorSize(int(f.vcpus), int(f.ram), int(f.disk or 0))
                for f in self._connect().compute.flavors()
            }

    def images(self) -> list[ImageInfo]:
        """Active images every project may boot (public or community), by name."""
        with self._calls("list images"):
            found = [
                ImageInfo(str(i.name), str(i.id), int(i.min_disk or 0))
                for i in self._connect().image.images()
                if i.status == "active" and i.visibility in ("public", "community") and i.name
            ]
            return sorted(found, key=lambda i: i.name)

    def networks(self) -> list[NetworkInfo]:
        """External networks (routers' gateways, floating IPs) and shared networks, by name."""
        with self._calls("list networks"):
            net = self._connect().network
            seen: dict[str, NetworkInfo] = {}
            for n in [*net.networks(is_router_external=True), *net.networks(is_shared=True)]:
                seen[str(n.id)] = NetworkInfo(
                    str(n.name or n.id), str(n.id), bool(n.is_router_external), bool(n.is_shared)
                )
            return sorted(seen.values(), key=lambda n: n.name)

    # --- find / create / wait / delete ----------------------------------------------------------------------
    def find(self, kind: ResourceKind, project_id: str, mark: str, spec: Mapping[str, Any]) -> CloudObject | None:
        with self._calls(f"find {kind.value}"):
            if kind == ResourceKind.VOLUME_ATTACHMENT:
                vol = self._project_conn(project_id).block_storage.find_volume(spec["volume_id"])
                if vol is not None:
                    for a in vol.attachments or []:
                        if a.get("server_id") == spec["server_id"]:
                            return self._attachment(project_id, spec)
                return None
            for obj in self._list_kind(kind, project_id, name=spec.get("name")):
                if obj.marker == mark:
                    return obj
            return None

    def _attachment(self, project_id: str, spec: Mapping[str, Any]) -> CloudObject:
        return CloudObject(
            ResourceKind.VOLUME_ATTACHMENT,
            f"{spec['server_id']}:{spec['volume_id']}",
            f"{spec['server_id']}:{spec['volume_id']}",
            project_id,
            None,
            "attached",
            {"server_id": spec["server_id"], "volume_id": spec["volume_id"]},
        )

    def create(self, kind: ResourceKind, project_id: str, mark: str, spec: Mapping[str, Any]) -> CloudObject:
        with self._calls(f"create {kind.value}"):
            make = self._CREATE.get(kind)
            if make is None:
                raise CloudError(f"cannot create {kind.value}")
            return make(self, self._project_conn(project_id), project_id, mark, spec)

    # One function a resource kind: (driver, project connection, project id, marker, spec) → the new object.
    def _create_network(self, conn: Any, project_id: str, mark: str, spec: Mapping[str, Any]) -> CloudObject:
        r = conn.network.create_network(name=spec.get("name"), description=mark)
        return self._net_obj(ResourceKind.NETWORK, r, project_id)

    def _create_subnet(self, conn: Any, project_id: str, mark: str, spec: Mapping[str, Any]) -> CloudObject:
        r = conn.network.create_subnet(
            name=spec.get("name"), description=mark, network_id=spec["network_id"], cidr=spec["cidr"], ip_version=4
        )
        return self._net_obj(ResourceKind.SUBNET, r, project_id)

    def _create_router(self, conn: Any, project_id: str, mark: str, spec: Mapping[str, Any]) -> CloudObject:
        body: dict[str, Any] = {"name": spec.get("name"), "description": mark}
        if self._external_network:
            ext_id = self._lookup("network", self._external_network, self._connect().network.find_network)
            body["external_gateway_info"] = {"network_id": ext_id}
        r = conn.network.create_router(**body)
        conn.network.add_interface_to_router(r, subnet=spec["subnet_id"])
        return self._net_obj(ResourceKind.ROUTER, r, project_id)

    def _create_security_group(self, conn: Any, project_id: str, mark: str, spec: Mapping[str, Any]) -> CloudObject:
        net = conn.network
        r = net.create_security_group(name=spec.get("name"), description=mark)
        for proto, pmin, pmax, cidr in spec.get("rules", ()):
            rule: dict[str, Any] = {
                "security_group_id": r.id,
                "direction": "ingress",
                "ethertype": "IPv4",
                "protocol": proto,
                "remote_ip_prefix": cidr,
            }
            if proto != "icmp":
                rule.update(port_range_min=pmin, port_range_max=pmax)
            net.create_security_group_rule(**rule)
        return self._net_obj(ResourceKind.SECURITY_GROUP, r, project_id)

    def _create_server(self, conn: Any, project_id: str, mark: str, spec: Mapping[str, Any]) -> CloudObject:
        name = spec.get("name")
        kw: dict[str, Any] = {
            "name": name,
            "flavor_id": self._lookup("flavor", spec["flavor"], conn.compute.find_flavor),
            "image_id": self._lookup("image", spec["image"], conn.image.find_image),
            "metadata": {"yunwang": mark},
            "networks": [{"uuid": spec["network_id"]}] if spec.get("network_id") else "none",
        }
        if spec.get("security_groups") and spec.get("network_id"):
            kw["security_groups"] = [{"name": g} for g in spec["security_groups"]]
        if spec.get("availability_zone"):
            kw["availability_zone"] = spec["availability_zone"]
        s = conn.compute.create_server(**kw)
        return CloudObject(ResourceKind.SERVER, s.id, str(name), project_id, mark, s.status or "BUILD", {})

    def _create_volume(self, conn: Any, project_id: str, mark: str, spec: Mapping[str, Any]) -> CloudObject:
        name = spec.get("name")
        v = conn.block_storage.create_volume(size=spec["size_gb"], name=name, metadata={"yunwang": mark})
        return CloudObject(ResourceKind.VOLUME, v.id, str(name), project_id, mark, v.status, {})

    def _create_volume_attachment(self, conn: Any, project_id: str, mark: str, spec: Mapping[str, Any]) -> CloudObject:
        conn.compute.create_volume_attachment(spec["server_id"], volume_id=spec["volume_id"])
        return self._attachment(project_id, spec)

    def _create_floating_ip(self, conn: Any, project_id: str, mark: str, spec: Mapping[str, Any]) -> CloudObject:
        ext_id = self._lookup("network", self._external_network or "", self._connect().network.find_network)
        ports = list(conn.network.ports(device_id=spec["server_id"]))
        if not ports:
            raise CloudError(f"{self._name}: server {spec['server_id']} has no port for a floating IP")
        fip = conn.network.create_ip(floating_network_id=ext_id, port_id=ports[0].id, description=mark)
        return CloudObject(ResourceKind.FLOATING_IP, fip.id, fip.floating_ip_address, project_id, mark, fip.status, {})

    _CREATE: ClassVar[dict[ResourceKind, _Create]] = {
        ResourceKind.NETWORK: _create_network,
        ResourceKind.SUBNET: _create_subnet,
        ResourceKind.ROUTER: _create_router,
        ResourceKind.SECURITY_GROUP: _create_security_group,
        ResourceKind.SERVER: _create_server,
        ResourceKind.VOLUME: _create_volume,
        ResourceKind.VOLUME_ATTACHMENT: _create_volume_attachment,
        ResourceKind.FLOATING_IP: _create_floating_ip,
    }

    def wait_ready(self, kind: ResourceKind, project_id: str, obj: CloudObject) -> CloudObject:
        with self._calls(f"wait {kind.value}"):
            conn = self._project_conn(project_id)
            if kind == ResourceKind.SERVER:
                s = conn.compute.get_server(obj.cloud_id)
                try:
                    s = conn.compute.wait_for_server(s, status="ACTIVE", wait=self.wait_timeout, interval=0.5)
                except os_exc.ResourceFailure as exc:
                    fault = (conn.compute.get_server(obj.cloud_id).fault or {}).get("message", "")
                    if any(w in fault.lower() for w in QUOTA_WORDS):  # Nova's own quota recheck, after a 202
                        text = (
                            f"{self._name}: server {obj.name}: 云平台自身配额不足 / the cloud's own quota refused it "
                            f"(the server went to ERROR): {fault}"
                        )
                        raise CloudError(self.scrub(text)[:500], quota=True) from exc
                    raise CloudError(self.scrub(f"{self._name}: server {obj.name} went to ERROR: {fault}")) from exc
                return CloudObject(kind, s.id, s.name, project_id, obj.marker, s.status, {"host": s.compute_host})
            if kind == ResourceKind.VOLUME:
                v = conn.block_storage.get_volume(obj.cloud_id)
                if v.status not in ("available", "in-use"):
                    v = conn.block_storage.wait_for_status(
                        v, status="available", failures=["error"], interval=0.5, wait=self.wait_timeout
                    )
                return CloudObject(kind, v.id, v.name, project_id, obj.marker, v.status, {})
            if kind == ResourceKind.VOLUME_ATTACHMENT:
                v = conn.block_storage.get_volume(obj.attrs["volume_id"])
                conn.block_storage.wait_for_status(
                    v, status="in-use", failures=["error", "error_attaching"], interval=0.5, wait=self.wait_timeout
                )
            return obj

    def delete(self, kind: ResourceKind, project_id: str, obj: CloudObject) -> None:
        with self._calls(f"delete {kind.value}"):
            remove = self._DELETE.get(kind)
            if remove is not None:  # nothing to delete for any other kind
                remove(self, self._project_conn(project_id), obj)

    # One function a resource kind: (driver, project connection, the object); a missing object is no error.
    def _delete_server(self, conn: Any, obj: CloudObject) -> None:
        conn.compute.delete_server(obj.cloud_id, ignore_missing=True)
        deadline = time.monotonic() + self.wait_timeout
        while conn.compute.find_server(obj.cloud_id) is not None:
            if time.monotonic() > deadline:
                raise TransientCloudError(f"{self._name}: server {obj.cloud_id} still deleting")
            time.sleep(0.3)

    def _delete_volume(self, conn: Any, obj: CloudObject) -> None:
        v = conn.block_storage.find_volume(obj.cloud_id)
        if v is None:
            return
        deadline = time.monotonic() + self.wait_timeout
        detached = False
        while v.status in ("attaching", "detaching", "creating", "reserved", "in-use"):
            if v.status == "in-use" and not detached:  # attached by a step we never logged
                detached = True
                for a in v.attachments or []:
                    conn.compute.delete_volume_attachment(a["server_id"], v.id, ignore_missing=True)
            if time.monotonic() > deadline:
                raise TransientCloudError(f"{self._name}: volume {v.id} stuck in {v.status}")
            time.sleep(0.5)
            v = conn.block_storage.get_volume(v.id)
        conn.block_storage.delete_volume(v, ignore_missing=True)
        conn.block_storage.wait_for_delete(v, interval=0.5, wait=self.wait_timeout)

    def _delete_volume_attachment(self, conn: Any, obj: CloudObject) -> None:
        server_id, volume_id = obj.attrs["server_id"], obj.attrs["volume_id"]
        if conn.compute.find_server(server_id) is not None:
            conn.compute.delete_volume_attachment(server_id, volume_id, ignore_missing=True)
        v = conn.block_storage.find_volume(volume_id)
        if v is not None and v.attachments:
            conn.block_storage.wait_for_status(
                v, status="available", failures=["error"], interval=0.5, wait=self.wait_timeout
            )

    def _delete_router(self, conn: Any, obj: CloudObject) -> None:
        net = conn.network
        r = net.find_router(obj.cloud_id)
        if r is None:
            return
        for port in net.ports(device_id=r.id, device_owner="network:router_interface"):
            for ip in port.fixed_ips:
                net.remove_interface_from_router(r, subnet=ip["subnet_id"])
        net.delete_router(r, ignore_missing=True)

    def _delete_floating_ip(self, conn: Any, obj: CloudObject) -> None:
        conn.network.delete_ip(obj.cloud_id, ignore_missing=True)

    def _delete_security_group(self, conn: Any, obj: CloudObject) -> None:
        conn.network.delete_security_group(obj.cloud_id, ignore_missing=True)

    def _delete_subnet(self, conn: Any, obj: CloudObject) -> None:
        conn.network.delete_subnet(obj.cloud_id, ignore_missing=True)

    def _delete_network(self, conn: Any, obj: CloudObject) -> None:
        conn.network.delete_network(obj.cloud_id, ignore_missing=True)

    _DELETE: ClassVar[dict[ResourceKind, _Delete]] = {
        ResourceKind.SERVER: _delete_server,
        ResourceKind.VOLUME: _delete_volume,
        ResourceKind.VOLUME_ATTACHMENT: _delete_volume_attachment,
        ResourceKind.FLOATING_IP: _delete_floating_ip,
        ResourceKind.ROUTER: _delete_router,
        ResourceKind.SECURITY_GROUP: _delete_security_group,
        ResourceKind.SUBNET: _delete_subnet,
        ResourceKind.NETWORK: _delete_network,
    }

    # --- listing, capacity ----------------------------------------------------------------------------------
    def _net_obj(self, kind: ResourceKind, r: Any, project_id: str | None) -> CloudObject:
        return CloudObject(kind, r.id, r.name or "", project_id or r.project_id, r.description or None, None, {})

    def _list_kind(self, kind: ResourceKind, project_id: str, name: str | None = None) -> list[CloudObject]:
        admin = self._connect()
        q: dict[str, Any] = {"project_id": project_id}
        if name:
            q["name"] = name
        if kind == ResourceKind.NETWORK:
            return [self._net_obj(kind, r, project_id) for r in admin.network.networks(**q)]
        if kind == ResourceKind.SUBNET:
            return [self._net_obj(kind, r, project_id) for r in admin.network.subnets(**q)]
        if kind == ResourceKind.ROUTER:
            return [self._net_obj(kind, r, project_id) for r in admin.network.routers(**q)]
        if kind == ResourceKind.SECURITY_GROUP:
            return [self._net_obj(kind, r, project_id) for r in admin.network.security_groups(**q)]
        if kind == ResourceKind.FLOATING_IP:
            return [
                CloudObject(kind, r.id, r.floating_ip_address, project_id, r.description or None, r.status, {})
                for r in admin.network.ips(project_id=project_id)
            ]
        if kind == ResourceKind.SERVER:
            sq: dict[str, Any] = {"all_projects": True, "project_id": project_id}
            if name:
                sq["name"] = f"^{name}$"
            return [
                CloudObject(
                    kind,
                    s.id,
                    s.name,
                    project_id,
                    (s.metadata or {}).get("yunwang"),
                    s.status,
                    {"availability_zone": s.availability_zone},
                )
                for s in admin.compute.servers(details=True, **sq)
            ]
        if kind == ResourceKind.VOLUME:
            vq: dict[str, Any] = {"all_projects": True, "project_id": project_id}
            if name:
                vq["name"] = name
            return [
                CloudObject(kind, v.id, v.name or "", project_id, (v.metadata or {}).get("yunwang"), v.status, {})
                for v in admin.block_storage.volumes(details=True, **vq)
            ]
        return []

    def list_resources(self, project_ids: Iterable[str]) -> list[CloudObject]:
        out: list[CloudObject] = []
        kinds = (
            ResourceKind.SERVER,
            ResourceKind.VOLUME,
            ResourceKind.FLOATING_IP,
            ResourceKind.ROUTER,
            ResourceKind.SECURITY_GROUP,
            ResourceKind.SUBNET,
            ResourceKind.NETWORK,
        )
        with self._calls("list resources"):
            for pid in project_ids:
                for kind in kinds:
                    objs = self._list_kind(kind, pid)
                    if kind == ResourceKind.SECURITY_GROUP:
                        objs = [o for o in objs if o.name != "default"]
                    out.extend(objs)
        return out

    def capacity(self) -> CloudCapacity:
        with self._calls("capacity"):
            conn = self._connect()
            hosts: set[str] | None = None
            if self._az:
                hosts = set()
                for agg in conn.compute.aggregates():
                    if agg.availability_zone == self._az:
                        hosts.update(agg.hosts or [])
            out: list[HostCapacity] = []
            for rp in conn.placement.resource_providers():
                if hosts is not None and rp.name not in hosts:
                    continue
                usages = conn.placement.fetch_resource_provider_usages(rp).usages or {}
                res: dict[str, tuple[float, int]] = {}
                for inv in conn.placement.resource_provider_inventories(rp):
                    effective = (inv.total - (inv.reserved or 0)) * float(inv.allocation_ratio or 1.0)
                    res[inv.resource_class] = (effective, int(usages.get(inv.resource_class, 0)))
                out.append(HostCapacity(rp.name, res))
            return CloudCapacity(self._name, self._az, tuple(sorted(out, key=lambda h: h.host)))
