"""Approval by the cloud-chief system (云长制): who may do what to a request, and the auto-approval rule. Pure.

First level: the sub-cloud-chief unit (子云长单位) of the requesting unit, i.e. the nearest unit at or above it
with `is_sub_cloud_chief`, acting through a `sub_cloud_chief` token of that very unit. Final: the cloud-chief
office (`cloud_chief_office`). Operators schedule, provision and retire. Auditors only read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.enums import Role
from core.errors import Forbidden, NotFound, Problem
from core.identity import Principal, identity_key
from orchestrator.placement.engine import DRLevel
from orchestrator.requests.lifecycle import Action, Resources

R = Role
# Who may perform each action (admin may do everything).
MAY: dict[Action, frozenset[Role]] = {
    Action.SUBMIT: frozenset({R.ADMIN, R.DEPARTMENT_USER, R.SUB_CLOUD_CHIEF}),
    Action.FIRST_APPROVE: frozenset({R.ADMIN, R.SUB_CLOUD_CHIEF}),
    Action.APPROVE: frozenset({R.ADMIN, R.CLOUD_CHIEF_OFFICE}),
    Action.REJECT: frozenset({R.ADMIN, R.CLOUD_CHIEF_OFFICE, R.SUB_CLOUD_CHIEF}),
    Action.SCHEDULE: frozenset({R.ADMIN, R.CLOUD_OPERATOR}),
    Action.PROVISION: frozenset({R.ADMIN, R.CLOUD_OPERATOR}),
    Action.ACTIVATE: frozenset({R.ADMIN, R.CLOUD_OPERATOR}),
    Action.FAIL: frozenset({R.ADMIN, R.CLOUD_OPERATOR}),
    Action.RETIRE: frozenset({R.ADMIN, R.CLOUD_OPERATOR}),
    Action.FINISH_RETIRE: frozenset({R.ADMIN, R.CLOUD_OPERATOR}),
}
CREATORS = MAY[Action.SUBMIT]
APPROVALS = frozenset({Action.FIRST_APPROVE, Action.APPROVE})
READERS = frozenset({R.ADMIN, R.CLOUD_CHIEF_OFFICE, R.AUDITOR, R.CLOUD_OPERATOR, R.SUB_CLOUD_CHIEF, R.DEPARTMENT_USER})
COMMENTERS = READERS - {R.AUDITOR}
APPROVERS = MAY[Action.FIRST_APPROVE] | MAY[Action.APPROVE]  # who has an inbox (待我审批)
QUOTA_SETTERS = frozenset({R.ADMIN, R.CLOUD_CHIEF_OFFICE})


@dataclass(frozen=True)
class RequestFacts:
    """What authorisation looks at: the request's unit, its sub-cloud-chief unit, its approval stage."""

    unit_id: int
    approver_unit_id: int | None
    first_level_done: bool
    requested_by: frozenset[str] = frozenset()  # who created or submitted it (token names)
    first_approved_by: frozenset[str] = frozenset()  # who gave its first-level approval


def can_read(p: Principal, unit_id: int) -> bool:
    """Scoped roles read their subtree's requests; the office, operators, auditors and admins read all."""
    if p.role not in READERS:
        return False
    return p.units is None or unit_id in p.units


def require_read(p: Principal, unit_id: int, what: str = "request") -> None:
    """Unreadable requests look absent (404), so ids outside one's scope reveal nothing."""
    if p.role not in READERS:
        raise Forbidden(f"role {p.role.value} may not read {what}s", [Problem("not a reader", field="role")])
    if not can_read(p, unit_id):
        raise NotFound(f"{what} not found")


def forbid(message: str, field: str = "role") -> Forbidden:
    return Forbidden(message, [Problem(message, field=field)])


def authorize_create(p: Principal, unit_id: int) -> None:
    """A department user (or sub-cloud chief) asks for its own unit subtree."""
    if p.role not in CREATORS:
        raise forbid(f"role {p.role.value} may not request resources")
    if p.units is not None and unit_id not in p.units:
        raise forbid("the unit is outside your unit subtree", "unit_id")


def authorize(p: Principal, action: Action, req: RequestFacts) -> None:
    """Raise Forbidden unless `p` may perform `action` on this request."""
    roles = MAY[action]
    if p.role not in roles:
        raise forbid(f"role {p.role.value} may not {action.value} requests; needs one of: {', '.join(sorted(roles))}")
    if p.units is not None and req.unit_id not in p.units:
        raise forbid("the request is outside your unit subtree", "unit_id")
    if action in APPROVALS and identity_key(p.name) in {identity_key(n) for n in req.requested_by}:
        raise forbid(
            "职责分离：不能审批自己创建或提交的申请 / segregation of duties: nobody approves a request they "
            "created or submitted",
            "actor",
        )
    if action == Action.APPROVE and identity_key(p.name) in {identity_key(n) for n in req.first_approved_by}:
        raise forbid(
            "职责分离：初审人不能再作终审 / segregation of duties: whoever gave the first-level approval does not "
            "give the final one",
            "actor",
        )
    if p.role == R.SUB_CLOUD_CHIEF and action in (Action.FIRST_APPROVE, Action.REJECT):
        if req.approver_unit_id is None or p.unit_id != req.approver_unit_id:
            raise forbid("only the requesting unit's own sub-cloud-chief unit gives first-level approval", "unit")
        if action == Action.REJECT and req.first_level_done:
            raise forbid("after first-level approval only the cloud-chief office may reject", "status")


@dataclass(frozen=True)
class UnitFacts:
    id: int
    is_sub_cloud_chief: bool


def approver_unit(path: Sequence[UnitFacts]) -> int | None:
    """The nearest sub-cloud-chief unit at or above the requesting unit (path nearest first)."""
    return next((u.id for u in path if u.is_sub_cloud_chief), None)


@dataclass(frozen=True)
class AutoRules:
    """Small requests within quota are approved by the system (from settings)."""

    enabled: bool = True
    max_vcpus: int = 8
    max_ram_mb: int = 16384
    max_instances: int = 2
    allow_dr: bool = False


@dataclass(frozen=True)
class AutoVerdict:
    """Whether the system approves, and why (recorded in the audit log and the event)."""

    approve: bool
    reason: str


def auto_approval(rules: AutoRules, demand: Resources, dr_level: DRLevel, within_quota: bool) -> AutoVerdict:
    """Approve automatically only small, quota-covered requests; the reason lists every rule checked."""
    if not rules.enabled:
        return AutoVerdict(False, "auto-approval is disabled")
    checks = [
        (within_quota, "within quota"),
        (demand.vcpus <= rules.max_vcpus, f"{demand.vcpus} vCPUs ≤ {rules.max_vcpus}"),
        (demand.ram_mb <= rules.max_ram_mb, f"{demand.ram_mb} MB RAM ≤ {rules.max_ram_mb}"),
        (demand.instances <= rules.max_instances, f"{demand.instances} servers ≤ {rules.max_instances}"),
        (rules.allow_dr or dr_level == DRLevel.NONE, f"DR level {dr_level.value} allowed"),
    ]
    failed = [text for ok, text in checks if not ok]
    if failed:
        return AutoVerdict(False, "needs manual approval: not " + "; not ".join(failed))
    return AutoVerdict(True, "auto-approved by rule: " + "; ".join(text for _, text in checks))
