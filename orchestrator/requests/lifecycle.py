"""Resource requests (统一申请): the typed bundle a unit asks for, and the lifecycle state machine.

Pure: no database, no cloud. `decide(state, action)` says whether a transition is legal, a repeat of one that
already happened (idempotent: no new audit entry), or illegal (409).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.validation import Id
from orchestrator.placement.engine import DRLevel

NAME_PATTERN = r"^[a-z][a-z0-9-]{0,39}$"


class RequestStatus(StrEnum):
    """Where a resource request is in its life."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    SCHEDULED = "scheduled"
    PROVISIONING = "provisioning"
    ACTIVE = "active"
    RETIRING = "retiring"
    RETIRED = "retired"
    REJECTED = "rejected"
    FAILED = "failed"


class TargetHosting(StrEnum):
    """Where the request asks to be hosted; new sub-clouds are built on the gov cloud."""

    GOV_CLOUD = "gov_cloud"
    SUB_CLOUD = "sub_cloud"


class Action(StrEnum):
    """What can happen to a request."""

    SUBMIT = "submit"
    FIRST_APPROVE = "first_approve"  # the sub-cloud-chief unit (子云长单位), first level
    APPROVE = "approve"  # the cloud-chief office (云长制办公室), final
    REJECT = "reject"
    SCHEDULE = "schedule"
    PROVISION = "provision"
    ACTIVATE = "activate"
    FAIL = "fail"
    RETIRE = "retire"
    FINISH_RETIRE = "finish_retire"


# --- the bundle ---------------------------------------------------------------------------


class ServerItem(BaseModel):
    """`count` servers of one flavor and image; vcpus/ram/disk are the flavor's sizes: left out, they are taken
    from the flavor; declared, they must equal it (`orchestrator.requests.flavors.resolve_bundle`)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=NAME_PATTERN)
    flavor: str = Field(min_length=1, max_length=64)
    image: str = Field(min_length=1, max_length=128)
    count: int = Field(default=1, ge=1, le=100)
    vcpus: int | None = Field(default=None, ge=1, le=256)
    ram_mb: int | None = Field(default=None, ge=128, le=4 * 1024 * 1024)
    disk_gb: int | None = Field(default=None, ge=0, le=65536)


class VolumeItem(BaseModel):
    """An empty volume, optionally attached to one server (by its concrete name, e.g. "web-1")."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=NAME_PATTERN)
    size_gb: int = Field(ge=1, le=65536)
    attach_to: str | None = Field(default=None, max_length=64)


class NetworkItem(BaseModel):
    """A project network with one IPv4 subnet."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=NAME_PATTERN)
    cidr: str = Field(max_length=64)

    @field_validator("cidr")
    @classmethod
    def _ipv4_cidr(cls, v: str) -> str:
        net = ipaddress.ip_network(v, strict=True)
        if net.version != 4:
            raise ValueError("an IPv4 CIDR is required")
        return str(net)


class RuleItem(BaseModel):
    """One ingress rule."""

    model_config = ConfigDict(extra="forbid")
    protocol: Literal["tcp", "udp", "icmp"]
    port_min: int = Field(default=0, ge=0, le=65535)
    port_max: int = Field(default=0, ge=0, le=65535)
    remote_cidr: str = Field(default="0.0.0.0/0", max_length=64)

    @model_validator(mode="after")
    def _ports(self) -> RuleItem:
        if self.port_min > self.port_max:
            raise ValueError("port_min must not exceed port_max")
        ipaddress.ip_network(self.remote_cidr, strict=True)
        return self


class SecurityGroupItem(BaseModel):
    """A security group with ingress rules."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=NAME_PATTERN)
    rules: list[RuleItem] = Field(default_factory=list, max_length=100)


class Bundle(BaseModel):
    """What is asked for: servers, volumes, networks, security groups and floating IPs."""

    model_config = ConfigDict(extra="forbid")
    servers: list[ServerItem] = Field(min_length=1, max_length=50)
    volumes: list[VolumeItem] = Field(default_factory=list, max_length=200)
    networks: list[NetworkItem] = Field(default_factory=list, max_length=20)
    security_groups: list[SecurityGroupItem] = Field(default_factory=list, max_length=20)
    floating_ips: int = Field(default=0, ge=0, le=100)

    def server_names(self) -> list[str]:
        """Concrete server names, as provisioning creates them (name, or name-1..name-N)."""
        names: list[str] = []
        for s in self.servers:
            names.extend([s.name] if s.count == 1 else [f"{s.name}-{i}" for i in range(1, s.count + 1)])
        return names

    @model_validator(mode="after")
    def _consistent(self) -> Bundle:
        for label, items in (
            ("servers", self.servers),
            ("volumes", self.volumes),
            ("networks", self.networks),
            ("security_groups", self.security_groups),
        ):
            names = [i.name for i in items]
            if len(names) != len(set(names)):
                raise ValueError(f"{label} names must be unique")
        servers = set(self.server_names())
        for v in self.volumes:
            if v.attach_to is not None and v.attach_to not in servers:
                raise ValueError(f"volume {v.name} attaches to unknown server {v.attach_to}")
        if self.floating_ips > sum(s.count for s in self.servers):
            raise ValueError("more floating IPs than servers")
        if self.floating_ips and not self.networks:
            raise ValueError("floating IPs need a network")
        return self


class RequestCreate(BaseModel):
    """A new request (draft): for which unit, optionally which information system, what and how resilient."""

    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=200)
    unit_id: Id
    system_id: Id | None = None
    target_hosting: TargetHosting = TargetHosting.GOV_CLOUD
    dr_level: DRLevel = DRLevel.NONE
    bundle: Bundle
    justification: str | None = Field(default=None, max_length=2000)


# --- sizes --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resources:
    """An amount of cloud resources: what a request needs, a quota allows or a unit uses."""

    vcpus: int = 0
    ram_mb: int = 0
    disk_gb: int = 0
    instances: int = 0
    floating_ips: int = 0

    FIELDS = ("vcpus", "ram_mb", "disk_gb", "instances", "floating_ips")

    def __add__(self, other: Resources) -> Resources:
        return Resources(*(getattr(self, f) + getattr(other, f) for f in self.FIELDS))

    def __sub__(self, other: Resources) -> Resources:
        return Resources(*(getattr(self, f) - getattr(other, f) for f in self.FIELDS))

    def scaled(self, k: int) -> Resources:
        return Resources(*(getattr(self, f) * k for f in self.FIELDS))

    def as_dict(self) -> dict[str, int]:
        return {f: getattr(self, f) for f in self.FIELDS}


def _sized(value: int | None, what: str) -> int:
    if value is None:
        raise ValueError(f"server {what} not resolved from the flavor (orchestrator.requests.flavors.resolve_bundle)")
    return value


def site_demand(bundle: Bundle) -> Resources:
    """What one copy of the bundle needs in one site (sizes resolved; an unknown root disk counts 0)."""
    return Resources(
        vcpus=sum(_sized(s.vcpus, "vcpus") * s.count for s in bundle.servers),
        ram_mb=sum(_sized(s.ram_mb, "ram_mb") * s.count for s in bundle.servers),
        disk_gb=sum((s.disk_gb or 0) * s.count for s in bundle.servers) + sum(v.size_gb for v in bundle.volumes),
        instances=sum(s.count for s in bundle.servers),
        floating_ips=bundle.floating_ips,
    )


def copies(dr_level: DRLevel) -> int:
    """How many sites hold a copy: a DR replica doubles what the request consumes."""
    return 1 if dr_level == DRLevel.NONE else 2


def total_demand(bundle: Bundle, dr_level: DRLevel) -> Resources:
    """What the request consumes in quota, replicas included."""
    return site_demand(bundle).scaled(copies(dr_level))


# --- the state machine --------------------------------------------------------------------


@dataclass(frozen=True)
class RequestState:
    """The part of a request the state machine looks at."""

    status: RequestStatus
    first_level_done: bool = False


@dataclass(frozen=True)
class Transition:
    """The result of `decide`: the new state, and whether anything changed (False: an idempotent repeat)."""

    state: RequestState
    changed: bool


class IllegalTransition(Exception):
    """The action cannot happen in this state (HTTP 409)."""

    def __init__(self, state: RequestState, action: Action, why: str) -> None:
        super().__init__(f"cannot {action.value} a request that is {state.status.value}: {why}")
        self.state = state
        self.action = action


S = RequestStatus
# action → (states it may start from, state it leads to)
TRANSITIONS: dict[Action, tuple[frozenset[RequestStatus], RequestStatus]] = {
    Action.SUBMIT: (frozenset({S.DRAFT}), S.SUBMITTED),
    Action.FIRST_APPROVE: (frozenset({S.SUBMITTED}), S.SUBMITTED),
    Action.APPROVE: (frozenset({S.SUBMITTED}), S.APPROVED),
    Action.REJECT: (frozenset({S.DRAFT, S.SUBMITTED}), S.REJECTED),
    Action.SCHEDULE: (frozenset({S.APPROVED, S.FAILED}), S.SCHEDULED),
    Action.PROVISION: (frozenset({S.SCHEDULED}), S.PROVISIONING),
    Action.ACTIVATE: (frozenset({S.PROVISIONING}), S.ACTIVE),
    Action.FAIL: (frozenset({S.SCHEDULED, S.PROVISIONING}), S.FAILED),
    Action.RETIRE: (frozenset({S.ACTIVE, S.FAILED}), S.RETIRING),
    Action.FINISH_RETIRE: (frozenset({S.RETIRING}), S.RETIRED),
}
# The main path: an action whose target lies behind the current state on it has already happened.
MAIN_PATH = (S.DRAFT, S.SUBMITTED, S.APPROVED, S.SCHEDULED, S.PROVISIONING, S.ACTIVE, S.RETIRING, S.RETIRED)


def _already_happened(state: RequestState, action: Action) -> bool:
    target = TRANSITIONS[action][1]
    if action == Action.FIRST_APPROVE:
        return state.first_level_done and state.status in MAIN_PATH and state.status != S.DRAFT
    if state.status == target:
        return True
    if action in (Action.REJECT, Action.FAIL) or state.status not in MAIN_PATH or target not in MAIN_PATH:
        return False
    return MAIN_PATH.index(state.status) > MAIN_PATH.index(target)


def decide(state: RequestState, action: Action) -> Transition:
    """The state after `action`; an action that already happened is a no-op; anything else illegal raises."""
    sources, target = TRANSITIONS[action]
    if state.status in sources:
        if action == Action.FIRST_APPROVE:
            if state.first_level_done:
                return Transition(state, changed=False)
            return Transition(RequestState(S.SUBMITTED, first_level_done=True), changed=True)
        if action == Action.APPROVE and not state.first_level_done:
            raise IllegalTransition(state, action, "the sub-cloud-chief unit has not approved it yet")
        return Transition(RequestState(target, state.first_level_done), changed=True)
    if _already_happened(state, action):
        return Transition(state, changed=False)
    allowed = ", ".join(sorted(s.value for s in sources))
    raise IllegalTransition(state, action, f"allowed only from {allowed}")
