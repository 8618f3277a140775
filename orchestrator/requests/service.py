"""The request service: the only writer of resource requests and their events.

Every transition goes through `apply`: authorise (approval.authorize), decide (resource_requests.decide),
and when something changed, write the new state, one audit entry (ChangeAction.DECIDE, kind
"resource_requests") and one event. A repeated transition changes nothing and writes nothing.

Zombies cost nothing new (migrations_plan.zombie_policy): a request for a retired system is refused (at
creation, submission, approval and scheduling); one for a zombie candidate carries `office_review` and is
never auto-approved, so only the cloud-chief office's own approval lets it through.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.audit import ChangeContext, record_change
from core.enums import ChangeAction, Role
from core.errors import Conflict, NotFound, Problem, RuleViolation, ValidationFailed
from core.identity import Principal, identity_key, unit_subtree
from core.times import today_beijing
from inventory.models import Cloud, InformationSystem
from migrations_plan import zombie_policy
from orchestrator.placement.engine import Candidate, Decision, PlacementPolicy, PlacementRequest, Removal, place
from orchestrator.provisioning.driver import CloudCapacity, FlavorSize
from orchestrator.requests import approval, notify, quotas
from orchestrator.requests.flavors import resolve_bundle
from orchestrator.requests.lifecycle import (
    Action,
    Bundle,
    IllegalTransition,
    RequestCreate,
    RequestState,
    RequestStatus,
    Resources,
    copies,
    decide,
    site_demand,
    total_demand,
)
from orchestrator.requests.models import EventKind, RequestEvent, ResourceRequest

KIND = "resource_requests"
SYSTEM = Principal(name="system:auto-approval", role=Role.ADMIN)
EVENT_OF: dict[Action, EventKind] = {
    Action.SUBMIT: EventKind.SUBMITTED,
    Action.FIRST_APPROVE: EventKind.FIRST_APPROVED,
    Action.APPROVE: EventKind.APPROVED,
    Action.REJECT: EventKind.REJECTED,
    Action.SCHEDULE: EventKind.SCHEDULED,
    Action.PROVISION: EventKind.PROVISIONING,
    Action.ACTIVATE: EventKind.ACTIVE,
    Action.FAIL: EventKind.FAILED,
    Action.RETIRE: EventKind.RETIRING,
    Action.FINISH_RETIRE: EventKind.RETIRED,
}


def demand_of(row: ResourceRequest) -> Resources:
    return Resources(row.d_vcpus, row.d_ram_mb, row.d_disk_gb, row.d_instances, row.d_floating_ips)


def state_of(row: ResourceRequest) -> dict[str, Any]:
    """The audited snapshot of a request's decision-relevant fields."""
    return {
        "status": row.status.value,
        "first_level_done": row.first_level_done,
        "primary_cloud": row.primary_cloud,
        "primary_az": row.primary_az,
        "replica_cloud": row.replica_cloud,
        "replica_az": row.replica_az,
        "failure_reason": row.failure_reason,
    }


def facts(
    row: ResourceRequest, requested_by: frozenset[str] = frozenset(), first_approved_by: frozenset[str] = frozenset()
) -> approval.RequestFacts:
    return approval.RequestFacts(
        row.unit_id, row.approver_unit_id, row.first_level_done, requested_by, first_approved_by
    )


def first_approvers(session: Session, row: ResourceRequest) -> frozenset[str]:
    """Who gave the request's first-level approval: they do not give the final one (segregation of duties)."""
    return frozenset(
        session.scalars(
            select(RequestEvent.actor).where(
                RequestEvent.request_id == row.id, RequestEvent.kind == EventKind.FIRST_APPROVED
            )
        )
    )


def requesters(session: Session, row: ResourceRequest) -> frozenset[str]:
    """Who created or submitted the request: none of them may approve it (segregation of duties)."""
    submitters = session.scalars(
        select(RequestEvent.actor).where(RequestEvent.request_id == row.id, RequestEvent.kind == EventKind.SUBMITTED)
    )
    return frozenset({row.created_by, *submitters})


def get(session: Session, p: Principal, request_id: int) -> ResourceRequest:
    """A request the principal may read (404 otherwise)."""
    row = session.get(ResourceRequest, request_id)
    if row is None:
        raise NotFound(f"request {request_id} not found", [Problem("no such id", field="id", value=request_id)])
    approval.require_read(p, row.unit_id)
    return row


def _zombie_verdict(session: Session, system_id: int | None) -> zombie_policy.Verdict:
    """What the zombie policy says of the request's system; refused ones raise (nothing written)."""
    if system_id is None:
        return zombie_policy.Verdict()
    v = zombie_policy.verdict(session, system_id, today_beijing())
    if v.refused:
        raise RuleViolation(v.refused, [Problem(v.refused, field="system_id", value=system_id)])
    return v


def add_event(
    session: Session, row: ResourceRequest, kind: EventKind, ctx: ChangeContext, message: str | None
) -> RequestEvent:
    event = RequestEvent(
        request_id=row.id,
        unit_id=row.unit_id,
        at=ctx.when(),
        kind=kind,
        status=row.status,
        actor=ctx.actor,
        actor_role=ctx.role,
        message=message,
    )
    session.add(event)
    return event


def apply(
    session: Session,
    p: Principal,
    ctx: ChangeContext,
    row: ResourceRequest,
    action: Action,
    message: str | None = None,
    changes: Callable[[ResourceRequest], None] | None = None,
    event: EventKind | None = None,
    check: Callable[[], None] | None = None,
) -> bool:
    """Authorise and perform one transition; False when it had already happened (nothing written)."""
    who = requesters(session, row) if action in approval.APPROVALS else frozenset[str]()
    first = first_approvers(session, row) if action == Action.APPROVE else frozenset[str]()
    approval.authorize(p, action, facts(row, who, first))
    try:
        t = decide(RequestState(row.status, row.first_level_done), action)
    except IllegalTransition as exc:
        raise Conflict(str(exc), [Problem(str(exc), field="status", value=row.status.value)]) from None
    if not t.changed:
        return False
    if check is not None:
        check()
    before = state_of(row)
    row.status = t.state.status
    row.first_level_done = t.state.first_level_done
    if changes is not None:
        changes(row)
    after = state_of(row)
    record_change(session, ctx, KIND, row.id, ChangeAction.DECIDE, before, after, object_code=row.code, message=message)
    happened = add_event(session, row, event or EVENT_OF[action], ctx, message)
    session.flush()
    notify.transition(session, row, happened, requesters(session, row))  # outcomes → requesters (outbox)
    return True


# --- create and approve ---------------------------------------------------------------------------------------


def create(
    session: Session,
    p: Principal,
    ctx: ChangeContext,
    body: RequestCreate,
    flavors: Mapping[str, FlavorSize] | None = None,
    ambiguous: Mapping[str, str] | None = None,
) -> ResourceRequest:
    """A new draft request; a classified system can never be requested for a cloud. Server sizes come from the
    flavor table `flavors` (declared sizes must match it; 422 otherwise); without one they must be declared."""
    approval.authorize_create(p, body.unit_id)
    bundle, problems = resolve_bundle(body.bundle, flavors, ambiguous)
    if problems:
        raise ValidationFailed("服务器规格与云主机类型不符 / server sizes do not match their flavors", problems)
    body = body.model_copy(update={"bundle": bundle})
    path = quotas.unit_path(session, body.unit_id)
    if body.system_id is not None:
        system = session.get(InformationSystem, body.system_id)
        if system is None:
            raise NotFound("unknown system", [Problem("no such system", field="system_id", value=body.system_id)])
        if system.classified:
            raise RuleViolation(
                "a classified (涉密) system can never be requested for a cloud",
                [Problem("classified systems stay off the cloud", field="system_id", value=body.system_id)],
            )
        allowed = {u.id for u in path} | unit_subtree(session, body.unit_id)
        if system.owner_unit_id not in allowed:
            problem = Problem("not a system of the requesting unit's line", field="system_id", value=body.system_id)
            raise RuleViolation("the system belongs to another unit", [problem])
    zombie = _zombie_verdict(session, body.system_id)
    demand = total_demand(body.bundle, body.dr_level)
    row = ResourceRequest(
        code=f"tmp-{uuid.uuid4().hex[:32]}",  # replaced by RR<id> once the id is known
        title=body.title,
        unit_id=body.unit_id,
        system_id=body.system_id,
        target_hosting=body.target_hosting,
        dr_level=body.dr_level,
        bundle=body.bundle.model_dump(mode="json"),
        justification=body.justification,
        status=RequestStatus.DRAFT,
        first_level_done=False,
        approver_unit_id=approval.approver_unit([approval.UnitFacts(u.id, u.is_sub_cloud_chief) for u in path]),
        d_vcpus=demand.vcpus,
        d_ram_mb=demand.ram_mb,
        d_disk_gb=demand.disk_gb,
        d_instances=demand.instances,
        d_floating_ips=demand.floating_ips,
        created_by=p.name,
        office_review=zombie.office_review,
    )
    session.add(row)
    session.flush()
    row.code = f"RR{row.id:06d}"
    record_change(session, ctx, KIND, row.id, ChangeAction.CREATE, None, state_of(row), object_code=row.code)
    add_event(session, row, EventKind.CREATED, ctx, body.title)
    session.flush()
    return row


def submit(
    session: Session, p: Principal, ctx: ChangeContext, row: ResourceRequest, rules: approval.AutoRules
) -> ResourceRequest:
    """Submit a draft: quota is checked; a unit without a sub-cloud chief skips the first level; small
    requests within quota are approved by the system, with the rule recorded."""
    demand = demand_of(row)
    zombie: list[zombie_policy.Verdict] = []

    def check() -> None:
        zombie.append(_zombie_verdict(session, row.system_id))
        quotas.require_within(session, row.unit_id, demand)

    def hold(r: ResourceRequest) -> None:
        r.office_review = zombie[0].office_review

    if not apply(session, p, ctx, row, Action.SUBMIT, check=check, changes=hold, message=None):
        return row
    system_ctx = ChangeContext(actor=SYSTEM.name, role="system", request_id=ctx.request_id, at=ctx.at)
    if row.approver_unit_id is None:
        why = "no sub-cloud-chief unit at or above the requesting unit: the first level passes to the office"
        apply(session, SYSTEM, system_ctx, row, Action.FIRST_APPROVE, message=why)
    if row.office_review:  # a zombie candidate: the office decides itself, with the reason on the request
        add_event(session, row, EventKind.COMMENT, system_ctx, row.office_review)
        session.flush()
        notify.awaiting(session, row)  # approval waiting → its approvers (outbox)
        return row
    verdict = approval.auto_approval(rules, demand, row.dr_level, within_quota=True)
    if verdict.approve:
        apply(
            session,
            SYSTEM,
            system_ctx,
            row,
            Action.FIRST_APPROVE,
            message=verdict.reason,
            event=EventKind.AUTO_APPROVED,
        )
        apply(session, SYSTEM, system_ctx, row, Action.APPROVE, message=verdict.reason, event=EventKind.AUTO_APPROVED)
    notify.awaiting(session, row)  # still waiting (not auto-approved) → its approvers (outbox)
    return row


def first_approve(
    session: Session, p: Principal, ctx: ChangeContext, row: ResourceRequest, comment: str | None
) -> ResourceRequest:
    apply(session, p, ctx, row, Action.FIRST_APPROVE, message=comment)
    notify.awaiting(session, row)  # the final approval waits → the office (outbox)
    return row


def approve(
    session: Session, p: Principal, ctx: ChangeContext, row: ResourceRequest, comment: str | None
) -> ResourceRequest:
    """Final approval by the office. The admin gives either level, never both: before the first level is done
    its approval is the first-level one, and someone else gives the final approval."""
    if p.role == Role.ADMIN and not row.first_level_done:
        return first_approve(session, p, ctx, row, comment)

    # approval starts the reservation: two requests that each fit alone must not both be approved past a limit
    def within() -> None:
        _zombie_verdict(session, row.system_id)  # retired since submission: refused
        quotas.require_within(session, row.unit_id, demand_of(row))

    apply(session, p, ctx, row, Action.APPROVE, message=comment, check=within)
    return row


def reject(session: Session, p: Principal, ctx: ChangeContext, row: ResourceRequest, comment: str) -> ResourceRequest:
    apply(session, p, ctx, row, Action.REJECT, message=comment)
    return row


def comment(session: Session, p: Principal, ctx: ChangeContext, row: ResourceRequest, text: str) -> RequestEvent:
    """A comment on a request (an event; not a transition)."""
    if p.role not in approval.COMMENTERS:
        raise approval.forbid(f"role {p.role.value} may not comment")
    add_event(session, row, EventKind.COMMENT, ctx, text)
    session.flush()
    return session.scalars(
        select(RequestEvent).where(RequestEvent.request_id == row.id).order_by(RequestEvent.id.desc()).limit(1)
    ).one()


# --- placement ------------------------------------------------------------------------------------------------


def policy_from(settings: Any) -> PlacementPolicy:
    return PlacementPolicy(
        core_sites=tuple(settings.placement_core_sites),
        dr_sites=tuple(settings.placement_dr_sites),
        weight_free=settings.placement_weight_free,
        weight_cost=settings.placement_weight_cost,
        weight_affinity=settings.placement_weight_affinity,
        weight_gov_cloud=settings.placement_weight_gov_cloud,
    )


def auto_rules_from(settings: Any) -> approval.AutoRules:
    return approval.AutoRules(
        enabled=settings.approval_auto_enabled,
        max_vcpus=settings.approval_auto_max_vcpus,
        max_ram_mb=settings.approval_auto_max_ram_mb,
        max_instances=settings.approval_auto_max_instances,
        allow_dr=settings.approval_auto_allow_dr,
    )


def _held_by_in_flight(session: Session) -> dict[tuple[str, str], Resources]:
    """Capacity that scheduled and provisioning requests will take but a capacity sample does not show yet."""
    held: dict[tuple[str, str], Resources] = {}
    rows = session.scalars(
        select(ResourceRequest).where(ResourceRequest.status.in_((RequestStatus.SCHEDULED, RequestStatus.PROVISIONING)))
    )
    for row in rows:
        n = copies(row.dr_level)
        one = Resources(*(v // n for v in demand_of(row).as_dict().values()))
        for cloud, az in ((row.primary_cloud, row.primary_az), (row.replica_cloud, row.replica_az)):
            if cloud:
                key = (cloud, az or "nova")
                held[key] = held.get(key, Resources()) + one
    return held


def candidates(session: Session, capacities: Sequence[CloudCapacity]) -> list[Candidate]:
    """Inventory clouds joined with their measured capacity (one candidate per cloud and availability zone)."""
    clouds = {c.clouds_yaml_name: c for c in session.scalars(select(Cloud).where(Cloud.clouds_yaml_name.is_not(None)))}
    present: dict[str, set[int]] = {}
    for unit_id, cloud_name in session.execute(
        select(ResourceRequest.unit_id, ResourceRequest.primary_cloud).where(
            ResourceRequest.status == RequestStatus.ACTIVE
        )
    ):
        present.setdefault(cloud_name or "", set()).add(unit_id)
    held = _held_by_in_flight(session)
    out: list[Candidate] = []
    for cap in capacities:
        cloud = clouds.get(cap.cloud)
        if cloud is None:
            continue
        totals = cap.totals()
        hold = held.get((cap.cloud, cap.availability_zone or "nova"), Resources())
        vcpu, ram, disk = (totals.get(k, (0.0, 0)) for k in ("VCPU", "MEMORY_MB", "DISK_GB"))
        out.append(
            Candidate(
                cloud=cap.cloud,
                region=cloud.site or cloud.code,
                az=cap.availability_zone or "nova",
                site=cloud.site or "",
                cloud_kind=cloud.kind,
                on_gov_cloud=cloud.on_gov_cloud,
                owner_unit_id=cloud.owner_unit_id,
                provisionable=cloud.managed,
                total_vcpus=int(vcpu[0]),
                total_ram_mb=int(ram[0]),
                total_disk_gb=int(disk[0]),
                free_vcpus=int(vcpu[0]) - vcpu[1] - hold.vcpus,
                free_ram_mb=int(ram[0]) - ram[1] - hold.ram_mb,
                free_disk_gb=int(disk[0]) - disk[1] - hold.disk_gb,
                units_present=frozenset(present.get(cap.cloud, set())),
            )
        )
    return out


class PlacementRefused(Conflict):
    """409: placement found no slot. The refusal (reasons, event, change log) is already in the session:
    the caller commits it before letting the error through."""


NO_SAMPLE = (
    "尚无容量采样 / no capacity sample yet: run `yunwang cloud sweep` (POST /api/v1/clouds/sweep) "
    "or wait for the cloud_capacity_drift job"
)


def with_sample_gaps(decision: Decision, inventory_clouds: Sequence[str], cands: Sequence[Candidate]) -> Decision:
    """A refusal that also names the clouds placement could not consider because they have no capacity sample."""
    sampled = {c.cloud for c in cands}
    gaps = [name for name in sorted(inventory_clouds) if name not in sampled]
    if not gaps:
        return decision
    removed = decision.removed + tuple(Removal(name, "capacity_sample", NO_SAMPLE) for name in gaps)
    error = decision.error
    if not cands:
        error = f"尚无任何云的容量采样 / no cloud has a capacity sample yet ({', '.join(gaps)})"
    return replace(decision, removed=removed, error=error)


def refusal_text(decision: Decision, limit: int = 50) -> str:
    lines = [f"调度失败 / placement refused: {decision.error}"]
    lines += [f"- {r.candidate}: {r.filter}: {r.reason}" for r in decision.removed[:limit]]
    if len(decision.removed) > limit:
        lines.append(f"- … {len(decision.removed) - limit} more")
    return "\n".join(lines)


def refusal_headline(decision: Decision) -> str:
    """The 409's message: why placement refused, and how many candidates each filter removed (the details name
    every candidate with its filter and reason)."""
    by_filter = Counter(r.filter for r in decision.removed)
    removed = ", ".join(f"{f} ×{n}" for f, n in sorted(by_filter.items()))
    text = f"调度失败 / placement failed: {decision.error}"
    return f"{text} (被过滤的候选 / candidates removed by filter: {removed})" if removed else text


def record_refusal(session: Session, ctx: ChangeContext, row: ResourceRequest, decision: Decision) -> None:
    """Keep a placement refusal on the request: its explanation, a change-log entry and an event with reasons."""
    before = state_of(row)
    row.placement = decision.explain()
    text = refusal_text(decision)
    after = {**state_of(row), "placement_error": decision.error}
    record_change(session, ctx, KIND, row.id, ChangeAction.DECIDE, before, after, object_code=row.code, message=text)
    add_event(session, row, EventKind.PLACEMENT_REFUSED, ctx, text)
    session.flush()


def placement_request(session: Session, row: ResourceRequest) -> PlacementRequest:
    """What placement needs of a request: one copy's size, its unit line, its DR level."""
    system = session.get(InformationSystem, row.system_id) if row.system_id else None
    one = site_demand(Bundle.model_validate(row.bundle))
    return PlacementRequest(
        request_id=row.code,
        unit_id=row.unit_id,
        unit_path=tuple(u.id for u in quotas.unit_path(session, row.unit_id)),
        vcpus=one.vcpus,
        ram_mb=one.ram_mb,
        disk_gb=one.disk_gb,
        dr_level=row.dr_level,
        classified=bool(system and system.classified),
    )


def explained_placement(
    session: Session, row: ResourceRequest, cands: Sequence[Candidate], policy: PlacementPolicy
) -> Decision:
    """The placement decision for a request over these candidates (a refusal also names unsampled clouds).
    Writes nothing: `schedule` stores it; the approvers' preview only shows it."""
    decision = place(placement_request(session, row), cands, policy)
    if decision.ok:
        return decision
    named = session.scalars(select(Cloud.clouds_yaml_name).where(Cloud.clouds_yaml_name.is_not(None)))
    return with_sample_gaps(decision, [str(n) for n in named], cands)


def schedule(
    session: Session,
    p: Principal,
    ctx: ChangeContext,
    row: ResourceRequest,
    cands: Sequence[Candidate],
    policy: PlacementPolicy,
) -> Decision | None:
    """Run placement (quota re-checked), store the decision and its explanation. When nothing fits: 409
    (PlacementRefused) with the reasons, recorded on the request (the request stays approved)."""
    result: list[Decision] = []
    refused: list[Decision] = []

    def check() -> None:
        _zombie_verdict(session, row.system_id)  # retired since approval: refused
        quotas.require_within(session, row.unit_id, demand_of(row), exclude_request=row.id)
        decision = explained_placement(session, row, cands, policy)
        if not decision.ok:
            refused.append(decision)
            detail = [
                Problem(f"{r.candidate}: {r.filter}: {r.reason}", field="placement") for r in decision.removed[:50]
            ]
            raise PlacementRefused(refusal_headline(decision), detail)
        result.append(decision)

    def store(r: ResourceRequest) -> None:
        d = result[0]
        assert d.primary is not None
        r.placement = d.explain()
        r.primary_cloud, r.primary_az = d.primary.candidate.cloud, d.primary.candidate.az
        if d.replica is not None:
            r.replica_cloud, r.replica_az = d.replica.candidate.cloud, d.replica.candidate.az
        r.failure_reason = None

    try:
        apply(session, p, ctx, row, Action.SCHEDULE, changes=store, check=check)
    except PlacementRefused:
        record_refusal(session, ctx, row, refused[0])
        raise
    return result[0] if result else None


def events(
    session: Session, p: Principal, request_id: int | None = None, since_id: int = 0, limit: int = 200
) -> list[RequestEvent]:
    """Notifications the principal may see, oldest first (poll with since_id)."""
    if p.role not in approval.READERS:
        raise approval.forbid(f"role {p.role.value} may not read events")
    q = select(RequestEvent).where(RequestEvent.id > since_id).order_by(RequestEvent.id).limit(limit)
    if request_id is not None:
        q = q.where(RequestEvent.request_id == request_id)
    if p.units is not None:
        q = q.where(RequestEvent.unit_id.in_(list(p.units)))
    return list(session.scalars(q))


def inbox(session: Session, p: Principal) -> list[ResourceRequest]:
    """Submitted requests waiting for the principal's approval level (待我审批), oldest first: a sub-cloud chief's
    first level (its own unit is the approver unit), the office's final level (first level given); the admin
    sees both. Requests the principal created or submitted are not theirs to decide (segregation of duties)."""
    q = select(ResourceRequest).where(ResourceRequest.status == RequestStatus.SUBMITTED).order_by(ResourceRequest.id)
    if p.role == Role.SUB_CLOUD_CHIEF:
        q = q.where(ResourceRequest.first_level_done.is_(False), ResourceRequest.approver_unit_id == p.unit_id)
    elif p.role == Role.CLOUD_CHIEF_OFFICE:
        q = q.where(ResourceRequest.first_level_done.is_(True))
    elif p.role != Role.ADMIN:
        raise approval.forbid(f"role {p.role.value} approves nothing")
    me = identity_key(p.name)
    return [row for row in session.scalars(q) if me not in {identity_key(n) for n in requesters(session, row)}]


def counts_by_status(session: Session, p: Principal) -> dict[str, int]:
    """How many requests the caller may see, by status (every status, zeros included)."""
    if p.role not in approval.READERS:
        raise approval.forbid(f"role {p.role.value} may not read requests")
    q = select(ResourceRequest.status, func.count()).group_by(ResourceRequest.status)
    if p.units is not None:
        q = q.where(ResourceRequest.unit_id.in_(list(p.units)))
    found = {status: int(n) for status, n in session.execute(q)}
    return {s.value: found.get(s, 0) for s in RequestStatus}


def list_requests(
    session: Session,
    p: Principal,
    status: RequestStatus | None = None,
    unit_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[ResourceRequest]:
    if p.role not in approval.READERS:
        raise approval.forbid(f"role {p.role.value} may not read requests")
    q = select(ResourceRequest).order_by(ResourceRequest.id).limit(limit).offset(offset)
    if status is not None:
        q = q.where(ResourceRequest.status == status)
    if unit_id is not None:
        q = q.where(ResourceRequest.unit_id == unit_id)
    if p.units is not None:
        q = q.where(ResourceRequest.unit_id.in_(list(p.units)))
    return list(session.scalars(q))
