"""What provisioning is asked to build (a plan) and what it reports back (an outcome).

The contract between the request/approval/placement side and the provisioning side: the placement side turns
an approved request into one `ProvisionPlan` per target cloud and calls `orchestrator.provisioning.runs.provision`;
retirement calls `orchestrator.provisioning.runs.retire` with the same request id and cloud. Plain frozen dataclasses,
no database or cloud imports, so either side can build and test against them alone.

    from orchestrator.provisioning.runs import provision, retire
    outcome = provision(db, plan, registry.driver(plan.cloud), ctx=ctx)
    if not outcome.ok: ...          # outcome.error is text without secrets; nothing was left behind
    retire(db, plan.request_id, registry.driver(plan.cloud), cloud=plan.cloud, ctx=ctx)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


@dataclass(frozen=True)
class ServerSpec:
    """`count` servers named `name` (count 1) or `name-1`..`name-N` (count > 1)."""

    name: str
    flavor: str  # flavor name in the target cloud
    image: str  # image name in the target cloud
    count: int = 1
    # The sizes the request declared (and quota/approval counted); provisioning refuses a flavor whose real size
    # differs. None: not declared (the flavor's size is used as it is).
    vcpus: int | None = None
    ram_mb: int | None = None
    disk_gb: int | None = None


@dataclass(frozen=True)
class VolumeSpec:
    """An empty block-storage volume, attached to the server called `attach_to` when given."""

    name: str
    size_gb: int
    attach_to: str | None = None  # a server name as produced by ServerSpec (e.g. "web-1")


@dataclass(frozen=True)
class NetworkSpec:
    """A project network with one IPv4 subnet; the first network is the one servers are plugged into."""

    name: str
    cidr: str


@dataclass(frozen=True)
class SecurityGroupSpec:
    """Ingress rules (protocol, port_min, port_max, remote_cidr); protocol "tcp" | "udp" | "icmp"."""

    name: str
    rules: tuple[tuple[str, int, int, str], ...] = ()


@dataclass(frozen=True)
class ProvisionPlan:
    """Everything one request needs in one cloud; idempotent on (request_id, cloud)."""

    request_id: str
    cloud: str  # clouds.yaml entry name (inventory Cloud.clouds_yaml_name)
    project: str  # OpenStack project name for the unit in that cloud (created when missing)
    unit_code: str
    servers: tuple[ServerSpec, ...]
    volumes: tuple[VolumeSpec, ...] = ()
    networks: tuple[NetworkSpec, ...] = ()
    security_groups: tuple[SecurityGroupSpec, ...] = ()
    floating_ips: int = 0
    availability_zone: str | None = None
    # The cloud's own project quotas belong to the cloud admin. False (default, "observe"): never changed; a plan
    # the cloud's quota cannot hold fails before anything is created. True ("managed"): the plan's needs are added
    # to the project's quota (recorded in the change log) and taken off again on rollback and retirement.
    manage_quota: bool = False

    def server_names(self) -> tuple[str, ...]:
        """The concrete server names this plan creates, in order."""
        names: list[str] = []
        for s in self.servers:
            if s.count == 1:
                names.append(s.name)
            else:
                names.extend(f"{s.name}-{i}" for i in range(1, s.count + 1))
        return tuple(names)


class ResourceKind(StrEnum):
    PROJECT = "project"
    NETWORK = "network"
    SUBNET = "subnet"
    ROUTER = "router"
    SECURITY_GROUP = "security_group"
    SERVER = "server"
    VOLUME = "volume"
    VOLUME_ATTACHMENT = "volume_attachment"
    FLOATING_IP = "floating_ip"


@dataclass(frozen=True)
class CreatedResource:
    """One cloud resource a request created (and therefore owns and will delete on retirement)."""

    kind: ResourceKind
    name: str
    cloud_id: str  # the id the cloud gave it
    project_id: str | None = None
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class ProvisionOutcome:
    """The result of provision/retire/resume. On failure everything the request created was rolled back."""

    request_id: str
    cloud: str
    ok: bool
    resources: tuple[CreatedResource, ...]
    error: str | None = None  # without secrets
    rolled_back: bool = False
    deleted: int = 0  # resources this run deleted (rollback or retirement) so far
