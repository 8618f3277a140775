"""The provisioning hook of the scheduler: a scheduled request (and its DR replica) → ProvisionPlans →
`orchestrator.provision` → active (usage added) or failed (with reason); retirement → retired (usage removed).

Provisioning commits step by step in its own sessions, so these functions take the `Database`, not a session;
the transitions themselves still go through `request_service` (authorised, audited, idempotent).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from inventory.auth import Principal
from inventory.db import Database
from inventory.service import ChangeContext
from orchestrator import approval, quotas
from orchestrator.cloud_driver import CloudDriver
from orchestrator.models import ResourceRequest
from orchestrator.provision import provision as run_provision
from orchestrator.provision import retire as run_retire
from orchestrator.provision_plan import (
    NetworkSpec,
    ProvisionOutcome,
    ProvisionPlan,
    SecurityGroupSpec,
    ServerSpec,
    VolumeSpec,
)
from orchestrator.request_service import apply, demand_of, facts, get
from orchestrator.resource_requests import Action, Bundle, DRLevel, RequestStatus, Resources, site_demand

log = logging.getLogger("yunwang.scheduler")

REPLICA_SUFFIX = "-dr"


def _site_specs(
    b: Bundle, suffix: str
) -> tuple[tuple[ServerSpec, ...], tuple[VolumeSpec, ...], tuple[NetworkSpec, ...], tuple[SecurityGroupSpec, ...]]:
    """The bundle as provisioning specs; a replica's names carry a suffix so both copies stay distinguishable
    (the Nanning and Guilin regions may share one Neutron, where names within a project must not collide)."""
    servers = tuple(ServerSpec(s.name + suffix, s.flavor, s.image, s.count) for s in b.servers)
    plain = tuple(ServerSpec(s.name, s.flavor, s.image, s.count) for s in b.servers)
    renamed = dict(
        zip(
            ProvisionPlan("", "", "", "", plain).server_names(),
            ProvisionPlan("", "", "", "", servers).server_names(),
            strict=True,
        )
    )
    volumes = tuple(
        VolumeSpec(v.name + suffix, v.size_gb, renamed[v.attach_to] if v.attach_to else None) for v in b.volumes
    )
    networks = tuple(NetworkSpec(n.name + suffix, n.cidr) for n in b.networks)
    groups = tuple(
        SecurityGroupSpec(g.name + suffix, tuple((r.protocol, r.port_min, r.port_max, r.remote_cidr) for r in g.rules))
        for g in b.security_groups
    )
    return servers, volumes, networks, groups


def plans_for(row: ResourceRequest, unit_code: str, already: dict[str, Resources] | None = None) -> list[ProvisionPlan]:
    """The provisioning plans of a scheduled request: the primary, and the DR replica when there is one.

    `already` is what the unit already runs per cloud. The project quota is set to everything the unit runs plus
    this request, in every cloud: regions may share one Nova (and its quotas), and yunwang's own hierarchical
    quotas are the real control, the cloud's only a backstop.
    """
    b = Bundle.model_validate(row.bundle)
    one = site_demand(b)
    targets = [(row.primary_cloud or "", row.primary_az, "")]
    if row.dr_level != DRLevel.NONE:
        targets.append((row.replica_cloud or "", row.replica_az, REPLICA_SUFFIX))
    total = sum((already or {}).values(), Resources()) + one.scaled(len(targets))
    plans = []
    for cloud, az, suffix in targets:
        servers, volumes, networks, groups = _site_specs(b, suffix)
        plans.append(
            ProvisionPlan(
                request_id=row.code,
                cloud=cloud,
                project=f"yw-{unit_code}".lower(),
                unit_code=unit_code,
                servers=servers,
                volumes=volumes,
                networks=networks,
                security_groups=groups,
                floating_ips=b.floating_ips,
                availability_zone=az if az and az != "nova" else None,
                quota={"instances": total.instances, "cores": total.vcpus, "ram": total.ram_mb},
            )
        )
    return plans


def unit_usage_by_cloud(session: Session, unit_id: int) -> dict[str, Resources]:
    """What the unit's active requests run in each cloud (one copy per cloud)."""
    out: dict[str, Resources] = {}
    rows = session.scalars(
        select(ResourceRequest).where(
            ResourceRequest.unit_id == unit_id, ResourceRequest.status == RequestStatus.ACTIVE
        )
    )
    for r in rows:
        one = site_demand(Bundle.model_validate(r.bundle))
        for cloud in {r.primary_cloud, r.replica_cloud if r.dr_level != DRLevel.NONE else None} - {None}:
            out[str(cloud)] = out.get(str(cloud), Resources()) + one
    return out


DriverFor = Callable[[str], CloudDriver]


@dataclass(frozen=True)
class ProvisionResult:
    status: RequestStatus
    outcomes: tuple[ProvisionOutcome, ...]


def _unit_code(session: Session, unit_id: int) -> str:
    return quotas.unit_path(session, unit_id)[0].code


def provision(
    db: Database, p: Principal, ctx: ChangeContext, request_id: int, driver_for: DriverFor
) -> ProvisionResult:
    """scheduled → provisioning → active (usage added) or failed (with reason; partial replicas retired).

    A request left in provisioning (the process died mid-way) is driven on: provisioning is idempotent per
    (request, cloud) and adopts what the earlier attempt created.
    """
    with db.session() as s:
        row = get(s, p, request_id)
        approval.authorize(p, Action.PROVISION, facts(row))
        if row.status not in (RequestStatus.SCHEDULED, RequestStatus.PROVISIONING):
            apply(s, p, ctx, row, Action.PROVISION)  # a repeat (no-op) or a 409
            return ProvisionResult(row.status, ())
        apply(s, p, ctx, row, Action.PROVISION)  # no-op when resuming
        plans = plans_for(row, _unit_code(s, row.unit_id), unit_usage_by_cloud(s, row.unit_id))
    outcomes: list[ProvisionOutcome] = []
    error: str | None = None
    for plan in plans:
        try:
            outcome = run_provision(db, plan, driver_for(plan.cloud), ctx=ctx)
        except (KeyError, ValueError, LookupError) as exc:
            error = f"{plan.cloud}: {exc}"
            break
        except Exception as exc:  # never leave the request stuck in provisioning
            log.exception("provisioning %s@%s raised", plan.request_id, plan.cloud)
            error = f"{plan.cloud}: {type(exc).__name__}: {str(exc)[:300]}"
            break
        outcomes.append(outcome)
        if not outcome.ok:
            error = f"{plan.cloud}: {outcome.error or 'provisioning failed'}"
            break
    if error is not None:
        for done in outcomes:
            if done.ok:  # the primary was built but its replica failed: take the primary down again
                run_retire(db, done.request_id, driver_for(done.cloud), ctx=ctx)
    with db.session() as s:
        row = get(s, p, request_id)
        if error is None:

            def activate(r: ResourceRequest) -> None:
                r.resources = [
                    {"cloud": o.cloud, "kind": res.kind.value, "name": res.name, "id": res.cloud_id}
                    for o in outcomes
                    for res in o.resources
                ]

            apply(s, p, ctx, row, Action.ACTIVATE, changes=activate, message="provisioned")
            quotas.add_usage(s, row.unit_id, demand_of(row))
        else:

            def fail(r: ResourceRequest) -> None:
                r.failure_reason = error

            apply(s, p, ctx, row, Action.FAIL, changes=fail, message=error)
        status = row.status
    return ProvisionResult(status, tuple(outcomes))


def retire(db: Database, p: Principal, ctx: ChangeContext, request_id: int, driver_for: DriverFor) -> ProvisionResult:
    """active/failed → retiring → retired: delete what the request created; usage goes down."""
    with db.session() as s:
        row = get(s, p, request_id)
        was_active = row.status == RequestStatus.ACTIVE
        changed = apply(s, p, ctx, row, Action.RETIRE)
        if not changed and row.status != RequestStatus.RETIRING:
            return ProvisionResult(row.status, ())
        clouds = [c for c in (row.primary_cloud, row.replica_cloud if row.dr_level != DRLevel.NONE else None) if c]
        code = row.code
        if was_active:
            quotas.add_usage(s, row.unit_id, Resources() - demand_of(row))
    outcomes: list[ProvisionOutcome] = []
    errors: list[str] = []
    for cloud in clouds:
        try:
            o = run_retire(db, code, driver_for(cloud), ctx=ctx)
        except LookupError:
            continue  # nothing was ever provisioned there
        outcomes.append(o)
        if not o.ok:
            errors.append(f"{cloud}: {o.error}")
    with db.session() as s:
        row = get(s, p, request_id)
        if errors:
            row.failure_reason = "; ".join(errors)  # stays retiring; retire again to finish
        else:
            apply(s, p, ctx, row, Action.FINISH_RETIRE, message="retired")
        status = row.status
    return ProvisionResult(status, tuple(outcomes))
