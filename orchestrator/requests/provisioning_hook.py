"""The provisioning hook of the scheduler: a scheduled request (and its DR replica) → ProvisionPlans →
`orchestrator.provisioning.runs` → active (usage added) or failed (with reason); retirement → retired (usage removed).

Provisioning commits step by step in its own sessions, so these functions take the `Database`, not a session;
the transitions themselves still go through `request_service` (authorised, audited, idempotent).

Every call ends in a recorded state that the next call completes: `provision` (or `resume`) on a request left
in provisioning continues it (primary, then replica), `retire` on a request left retiring finishes it. A
database error stops the call where it is (the state before it is committed) and is raised; a cloud error
becomes the request's failure reason (which part failed, in which cloud, and what was rolled back).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from core.audit import ChangeContext, record_change
from core.db import Database
from core.enums import ChangeAction
from core.errors import Conflict, Problem
from core.identity import Principal
from orchestrator.placement.engine import DRLevel
from orchestrator.provisioning.driver import CloudDriver
from orchestrator.provisioning.models import RunStatus
from orchestrator.provisioning.plan import (
    NetworkSpec,
    ProvisionOutcome,
    ProvisionPlan,
    SecurityGroupSpec,
    ServerSpec,
    VolumeSpec,
)
from orchestrator.provisioning.runs import NoRun, run_status
from orchestrator.provisioning.runs import provision as run_provision
from orchestrator.provisioning.runs import resume as run_resume
from orchestrator.provisioning.runs import retire as run_retire
from orchestrator.requests import approval, quotas
from orchestrator.requests.lifecycle import Action, Bundle, RequestStatus, Resources
from orchestrator.requests.models import EventKind, ResourceRequest
from orchestrator.requests.service import KIND, add_event, apply, demand_of, facts, get, state_of

log = logging.getLogger("yunwang.scheduler")

REPLICA_SUFFIX = "-dr"
PRIMARY, REPLICA = "primary", "replica"
PART_TEXT = {PRIMARY: "主用 / primary", REPLICA: "灾备副本 / replica"}


def _site_specs(
    b: Bundle, suffix: str
) -> tuple[tuple[ServerSpec, ...], tuple[VolumeSpec, ...], tuple[NetworkSpec, ...], tuple[SecurityGroupSpec, ...]]:
    """The bundle as provisioning specs; a replica's names carry a suffix so both copies stay distinguishable
    (the Nanning and Guilin regions may share one Neutron, where names within a project must not collide)."""
    servers = tuple(
        ServerSpec(s.name + suffix, s.flavor, s.image, s.count, s.vcpus, s.ram_mb, s.disk_gb) for s in b.servers
    )
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


def parts_of(row: ResourceRequest, unit_code: str, manage_quota: bool = False) -> list[tuple[str, ProvisionPlan]]:
    """(part, plan) of a scheduled request: the primary, and the DR replica when there is one.

    Each plan carries the sizes the request declared (provisioning refuses a flavor whose real size differs).
    The cloud's project quotas are left alone unless `manage_quota` (see `ProvisionPlan.manage_quota`).
    """
    b = Bundle.model_validate(row.bundle)
    targets = [(PRIMARY, row.primary_cloud or "", row.primary_az, "")]
    if row.dr_level != DRLevel.NONE:
        targets.append((REPLICA, row.replica_cloud or "", row.replica_az, REPLICA_SUFFIX))
    out = []
    for part, cloud, az, suffix in targets:
        servers, volumes, networks, groups = _site_specs(b, suffix)
        plan = ProvisionPlan(
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
            manage_quota=manage_quota,
        )
        out.append((part, plan))
    return out


def plans_for(row: ResourceRequest, unit_code: str, manage_quota: bool = False) -> list[ProvisionPlan]:
    """The provisioning plans of a scheduled request: the primary, and the DR replica when there is one."""
    return [plan for _, plan in parts_of(row, unit_code, manage_quota)]


DriverFor = Callable[[str], CloudDriver]


@dataclass(frozen=True)
class ProvisionResult:
    status: RequestStatus
    outcomes: tuple[ProvisionOutcome, ...]
    message: str | None = None  # what happened, for the CLI (e.g. "nothing to resume")


def _unit_code(session: Session, unit_id: int) -> str:
    return quotas.unit_path(session, unit_id)[0].code


# --- failure texts --------------------------------------------------------------------------------------------


def _without_cloud(text: str | None, cloud: str) -> str:
    """A run's error text without its cloud prefixes (the request's text names the cloud once)."""
    return (text or "").replace(f"{cloud}: ", "").strip() or "provisioning failed"


def part_failure(part: str, cloud: str, error: str | None, outcome: ProvisionOutcome | None) -> str:
    """'<part> <cloud> 开通失败 / failed: <why>; <what was rolled back there>'."""
    why = _without_cloud(error, cloud)
    text = f"{PART_TEXT[part]} {cloud} 开通失败 / failed: {why}"
    if outcome is None:
        return text
    if outcome.rolled_back:
        text += f"; 已回滚 / rolled back there: {outcome.deleted} resource(s) deleted"
    elif "rollback incomplete" in why:
        text += " (回滚未完成，resume 可完成 / `resume` finishes the rollback)"
    return text


def part_retired(part: str, cloud: str, outcome: ProvisionOutcome | None, error: str | None = None) -> str:
    if outcome is not None and outcome.ok:
        return f"{PART_TEXT[part]} {cloud} 已退役 / retired: {outcome.deleted} resource(s) deleted"
    why = _without_cloud(error or (outcome.error if outcome else None), cloud)
    return f"{PART_TEXT[part]} {cloud} 退役未完成 / retirement incomplete: {why} (retire again to finish)"


# --- provisioning -----------------------------------------------------------------------------------------------


def _drive(
    db: Database,
    ctx: ChangeContext,
    parts: list[tuple[str, ProvisionPlan]],
    driver_for: DriverFor,
    fresh: bool,
) -> tuple[list[tuple[str, ProvisionOutcome]], str | None]:
    """Provision the parts in order (primary first); (what succeeded, the failure text or None).

    `fresh`: the request has just entered provisioning (a run rolled back by an earlier attempt is built again);
    otherwise this continues a provisioning that was interrupted (a rolled-back run is that attempt's failure).
    """
    done: list[tuple[str, ProvisionOutcome]] = []
    for part, plan in parts:
        cloud = plan.cloud
        try:
            driver = driver_for(cloud)
        except KeyError:
            return done, part_failure(part, cloud, "no such cloud in clouds.yaml / clouds.yaml 中没有该云", None)
        try:
            status = run_status(db, plan.request_id, cloud)
            out: ProvisionOutcome | None = None
            if status in (RunStatus.ROLLING_BACK, RunStatus.ROLLBACK_PENDING):
                out = run_resume(db, plan.request_id, driver, ctx)  # finish the rollback first
                if not fresh or not out.rolled_back:
                    return done, part_failure(part, cloud, out.error, out)
            elif not fresh and status == RunStatus.ROLLED_BACK:
                out = run_resume(db, plan.request_id, driver, ctx)
                return done, part_failure(part, cloud, out.error, out)
            elif not fresh and status in (RunStatus.RETIRING, RunStatus.RETIRED):
                out = run_retire(db, plan.request_id, driver, ctx)
                return done, part_failure(part, cloud, "retired while provisioning", out)
            out = run_provision(db, plan, driver, ctx=ctx, verify=True)
        except SQLAlchemyError:
            raise
        except Exception as exc:  # never leave the request without a reason
            log.exception("provisioning %s@%s raised", plan.request_id, cloud)
            return done, part_failure(part, cloud, f"{type(exc).__name__}: {str(exc)[:300]}", None)
        if not out.ok:
            return done, part_failure(part, cloud, out.error, out)
        done.append((part, out))
    return done, None


def provision(
    db: Database,
    p: Principal,
    ctx: ChangeContext,
    request_id: int,
    driver_for: DriverFor,
    manage_quota: bool = False,
) -> ProvisionResult:
    """scheduled → provisioning → active (usage added) or failed (with reason; a built primary is retired again
    when its replica fails).

    A request left in provisioning (the process died, a database error) is driven on: provisioning is idempotent
    per (request, cloud), adopts what the earlier attempt created and checks what it logged ready against the
    cloud; then it goes on with the replica.
    """
    with db.session() as s:
        row = get(s, p, request_id)
        approval.authorize(p, Action.PROVISION, facts(row))
        if row.status not in (RequestStatus.SCHEDULED, RequestStatus.PROVISIONING):
            apply(s, p, ctx, row, Action.PROVISION)  # a repeat (no-op) or a 409
            return ProvisionResult(row.status, ())
        fresh = apply(s, p, ctx, row, Action.PROVISION)  # False when continuing
        parts = parts_of(row, _unit_code(s, row.unit_id), manage_quota)
    done, error = _drive(db, ctx, parts, driver_for, fresh)
    notes: list[str] = []
    if error is not None:
        notes.append(error)
        for part, outcome in done:  # e.g. the primary was built but its replica failed: take it down again
            try:
                retired = run_retire(db, outcome.request_id, driver_for(outcome.cloud), ctx=ctx)
                notes.append(part_retired(part, outcome.cloud, retired))
            except SQLAlchemyError:
                raise
            except Exception as exc:
                log.exception("retiring %s@%s after a failure raised", outcome.request_id, outcome.cloud)
                notes.append(part_retired(part, outcome.cloud, None, f"{type(exc).__name__}: {exc}"))
    outcomes = tuple(o for _, o in done)
    with db.session() as s:
        row = get(s, p, request_id)
        if error is None:

            def activate(r: ResourceRequest) -> None:
                r.resources = [
                    {"cloud": o.cloud, "kind": res.kind.value, "name": res.name, "id": res.cloud_id}
                    for o in outcomes
                    for res in o.resources
                ]
                r.failure_reason = None

            if apply(s, p, ctx, row, Action.ACTIVATE, changes=activate, message="provisioned"):
                quotas.add_usage(s, row.unit_id, demand_of(row))
        else:
            reason = "; ".join(notes)

            def fail(r: ResourceRequest) -> None:
                r.failure_reason = reason

            apply(s, p, ctx, row, Action.FAIL, changes=fail, message=reason)
        status = row.status
    return ProvisionResult(status, outcomes, "; ".join(notes) or None)


# --- retirement -------------------------------------------------------------------------------------------------


def _note(db: Database, p: Principal, ctx: ChangeContext, request_id: int, text: str, append: bool = False) -> None:
    """Record on the request why provisioning/retirement stopped short (reason, change log, event)."""
    with db.session() as s:
        row = get(s, p, request_id)
        before = state_of(row)
        row.failure_reason = f"{row.failure_reason}; {text}" if append and row.failure_reason else text
        record_change(
            s, ctx, KIND, row.id, ChangeAction.DECIDE, before, state_of(row), object_code=row.code, message=text
        )
        add_event(s, row, EventKind.INTERRUPTED, ctx, text)


def retire(db: Database, p: Principal, ctx: ChangeContext, request_id: int, driver_for: DriverFor) -> ProvisionResult:
    """active/failed → retiring → retired: delete what the request created; usage goes down.

    Safe to repeat: whatever stops it (a cloud error, a database error, a killed process) leaves the request
    retiring, and the next call deletes what is left and finishes.
    """
    with db.session() as s:
        row = get(s, p, request_id)
        was_active = row.status == RequestStatus.ACTIVE
        changed = apply(s, p, ctx, row, Action.RETIRE)
        if not changed and row.status != RequestStatus.RETIRING:
            return ProvisionResult(row.status, ())
        parts = [(PRIMARY, row.primary_cloud)]
        if row.dr_level != DRLevel.NONE:
            parts.append((REPLICA, row.replica_cloud))
        code = row.code
        if was_active and changed:
            quotas.add_usage(s, row.unit_id, Resources() - demand_of(row))
    outcomes: list[ProvisionOutcome] = []
    notes: list[str] = []
    errors = False
    for part, cloud in parts:
        if not cloud:
            continue
        try:
            o = run_retire(db, code, driver_for(cloud), ctx=ctx)
        except NoRun:
            continue  # nothing was ever provisioned there
        except SQLAlchemyError:
            raise
        except KeyError:
            errors = True
            notes.append(part_retired(part, cloud, None, "no such cloud in clouds.yaml / clouds.yaml 中没有该云"))
            continue
        except Exception as exc:
            log.exception("retiring %s@%s raised", code, cloud)
            errors = True
            notes.append(part_retired(part, cloud, None, f"{type(exc).__name__}: {str(exc)[:300]}"))
            continue
        outcomes.append(o)
        notes.append(part_retired(part, cloud, o))
        errors = errors or not o.ok
    if errors:  # stays retiring; retire again to finish
        _note(db, p, ctx, request_id, "; ".join(notes))
        with db.session() as s:
            return ProvisionResult(get(s, p, request_id).status, tuple(outcomes), "; ".join(notes))
    with db.session() as s:
        row = get(s, p, request_id)
        apply(s, p, ctx, row, Action.FINISH_RETIRE, message="; ".join(notes) or "retired")
        status = row.status
    return ProvisionResult(status, tuple(outcomes), "; ".join(notes) or None)


# --- resume -----------------------------------------------------------------------------------------------------


def resume(
    db: Database,
    p: Principal,
    ctx: ChangeContext,
    request_id: int,
    driver_for: DriverFor,
    manage_quota: bool = False,
) -> ProvisionResult:
    """Bring a request whose provisioning or retirement was interrupted to its final state.

    provisioning → active, or failed with the reason (primary, then replica; ready steps re-checked);
    retiring → retired; failed → any rollback left pending is finished. Anything else: 409 with the reason.
    """
    with db.session() as s:
        row = get(s, p, request_id)
        status = row.status
        clouds = [
            (PRIMARY, row.primary_cloud),
            *([(REPLICA, row.replica_cloud)] if row.dr_level != DRLevel.NONE else []),
        ]
        code = row.code
    if status == RequestStatus.PROVISIONING:
        return provision(db, p, ctx, request_id, driver_for, manage_quota)
    if status == RequestStatus.RETIRING:
        return retire(db, p, ctx, request_id, driver_for)
    if status == RequestStatus.FAILED:
        with db.session() as s:
            approval.authorize(p, Action.PROVISION, facts(get(s, p, request_id)))
        notes = []
        outcomes = []
        for part, cloud in clouds:
            if not cloud or run_status(db, code, cloud) not in (RunStatus.ROLLING_BACK, RunStatus.ROLLBACK_PENDING):
                continue
            try:
                o = run_resume(db, code, driver_for(cloud), ctx)
            except KeyError:
                notes.append(f"{PART_TEXT[part]} {cloud}: clouds.yaml 中没有该云 / no such cloud in clouds.yaml")
                continue
            outcomes.append(o)
            notes.append(f"{PART_TEXT[part]} {cloud}: " + ("已回滚 / rolled back" if o.rolled_back else "回滚未完成"))
        if notes:
            _note(db, p, ctx, request_id, "; ".join(notes), append=True)
        return ProvisionResult(status, tuple(outcomes), "; ".join(notes) or "nothing left to roll back")
    raise Conflict(
        f"nothing to resume: the request is {status.value} / 无需继续",
        [Problem("only provisioning, retiring and failed requests can be resumed", field="status", value=status)],
    )
