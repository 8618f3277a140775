"""Per-kind domain rules, the inventory's `clean()` hooks: each kind's spec (inventory.kinds) lists its rules.

A rule reads the object's would-be state (typed values, defaults filled; `before` is its snapshot for updates) and
reports what it breaks through `check.bad(message, field)`; inventory.service runs a kind's rules in the order its
spec lists them, for single and bulk writes and for the import dry run. Adding a kind means declaring its rules
beside it in inventory/kinds.py (`rules=(...)`, and `preload=` when its rules look objects up by id).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit import json_value
from core.errors import Problem
from inventory import areas, build_rules
from inventory.enums import CloudKind, Decision, Hosting, NetworkStatus, RegionLevel, SystemStatus
from inventory.models import Cloud

if TYPE_CHECKING:
    from inventory.kinds import KindSpec


def short(v: Any) -> Any:
    """A value as shown in a Problem: scalars only, long text cut at 80 characters."""
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v if not isinstance(v, str) or len(v) <= 80 else v[:80] + "…"
    return None


@dataclass
class Check:
    """One object's rule check: what the rules read, and the problems they report."""

    session: Session
    spec: KindSpec
    state: dict[str, Any]
    row: int | None = None
    before: Mapping[str, Any] | None = None
    kinds: Mapping[str, KindSpec] = field(default_factory=dict)  # the registry, for rules that look other kinds up
    problems: list[Problem] = field(default_factory=list)

    def bad(self, message: str, fld: str) -> None:
        """Report a broken rule on a field (the value shown is the field's would-be value)."""
        self.problems.append(Problem(message, field=fld, row=self.row, value=short(json_value(self.state.get(fld)))))


Rule = Callable[[Check], None]
# Objects the rules of a whole batch look up by id, loaded once (the session's identity map holds them weakly,
# so the caller keeps the returned list while it checks the batch).
Preload = Callable[[Session, Sequence[Mapping[str, Any]]], list[Any]]

_IN_CHUNK = 900  # bound IN lists (SQLite allows 32766 variables; keep statements small)


def chunks(items: Sequence[Any], size: int = _IN_CHUNK) -> Iterable[Sequence[Any]]:
    """`items` in slices of at most `size` (for IN lists)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- systems -------------------------------------------------------------------------------------------------------


def system_placement(check: Check) -> None:
    """Classified systems stay off the clouds; hosting matches the cloud's kind or the room; no self-references."""
    state, bad = check.state, check.bad
    on_cloud = state.get("hosting") in (Hosting.GOV_CLOUD, Hosting.SUB_CLOUD)
    if state.get("classified"):
        if state.get("status") in (SystemStatus.MIGRATED, SystemStatus.IN_PROGRESS):
            bad("a classified system can never be migrated to the cloud", "status")
        if on_cloud:
            bad("a classified system can never be hosted on a cloud", "hosting")
        if state.get("cloud_id") is not None:
            bad("a classified system can never get a cloud placement", "cloud_id")
    if on_cloud:
        if state.get("cloud_id") is None:
            bad("hosting on a cloud needs cloud_id", "cloud_id")
        else:
            cloud = check.session.get(Cloud, state["cloud_id"])
            want = {
                Hosting.GOV_CLOUD: {CloudKind.GOV_CLOUD},
                Hosting.SUB_CLOUD: {CloudKind.SUB_CLOUD, CloudKind.INDUSTRY_CLOUD},
            }
            if cloud is not None and cloud.kind not in want[state["hosting"]]:
                bad(f"cloud {cloud.code} is a {cloud.kind.value}, not a {state['hosting'].value}", "cloud_id")
    elif state.get("cloud_id") is not None:
        bad("cloud_id is only for systems hosted on a cloud", "cloud_id")
    if state.get("hosting") == Hosting.ROOM and state.get("room_id") is None:
        bad("hosting in a room needs room_id", "room_id")
    if state.get("status") == SystemStatus.MIGRATED and not on_cloud:
        bad("a migrated system must be hosted on the gov cloud or a sub-cloud", "hosting")
    own = state.get("id")
    if own is not None and own in (state.get("depends_on_ids") or []):
        bad("a system cannot depend on itself", "depends_on_ids")
    if own is not None and state.get("replaced_by_id") == own:
        bad("a system cannot replace itself", "replaced_by_id")


def system_clouds(session: Session, states: Sequence[Mapping[str, Any]]) -> list[Any]:
    """Preload for systems: the clouds system_placement reads."""
    ids = sorted({s["cloud_id"] for s in states if s.get("cloud_id") is not None})
    return [obj for part in chunks(ids) for obj in session.scalars(select(Cloud).where(Cloud.id.in_(part)))]


# --- networks, new builds --------------------------------------------------------------------------------------------


def classified_network_stays(check: Check) -> None:
    """A classified network never moves onto the extranet."""
    if check.state.get("classified") and check.state.get("status") in (
        NetworkStatus.INTERCONNECTED,
        NetworkStatus.MIGRATED,
    ):
        check.bad("a classified network can never be moved onto the extranet", "status")


def new_build_allowed(check: Check) -> None:
    """No new (non-classified) room, network, exit or cloud without the office's allow_new (inventory.build_rules)."""
    refused = build_rules.new_build_problem(check.session, check.spec.name, check.state, check.before)
    if refused:
        check.bad(refused, "code")


# --- determinations ------------------------------------------------------------------------------------------------


def determination_complete(check: Check) -> None:
    """An exemption has a reason; the subject exists; allow_new names a code and a guarded kind."""
    state = check.state
    if state.get("decision") == Decision.EXEMPT and not (state.get("reason") or "").strip():
        check.bad("an exemption needs a reason", "reason")
    subject = next(
        (s for s in check.kinds.values() if s.subject is not None and s.subject == state.get("subject_kind")), None
    )
    sid = state.get("subject_id")
    if subject is not None and sid is not None and check.session.get(subject.model, sid) is None:
        check.bad(f"unknown {subject.name} id", "subject_id")
    for msg, fld in build_rules.determination_problems(state):
        check.bad(msg, fld)


# --- trees: regions, units, extranet nodes -------------------------------------------------------------------------


def no_cycle(check: Check) -> None:
    """The parent chain never comes back to the object."""
    _cycle(check)


def _cycle(check: Check) -> bool:
    """Report (and say) whether the would-be parent chain comes back to the object."""
    col: Any = check.spec.model
    parent_id, own = check.state.get("parent_id"), check.state.get("id")
    seen: set[int] = set()
    cur = parent_id
    while cur is not None:
        if cur == own or cur in seen:
            check.problems.append(
                Problem("parent would make a cycle", field="parent_id", row=check.row, value=parent_id)
            )
            return True
        seen.add(cur)
        cur = check.session.scalar(select(col.parent_id).where(col.id == cur))
    return False


_LEVEL_ORDER = [RegionLevel.REGION, RegionLevel.CITY, RegionLevel.COUNTY, RegionLevel.TOWNSHIP]


def region_tree(check: Check) -> None:
    """No cycle, and a region sits under one of a higher level (region > city > county > township)."""
    if _cycle(check):
        return
    state, col = check.state, check.spec.model
    parent_id = state.get("parent_id")
    if parent_id is None or "level" not in state:
        return
    model: Any = col
    parent_level = check.session.scalar(select(model.level).where(model.id == parent_id))
    if parent_level is not None and _LEVEL_ORDER.index(parent_level) >= _LEVEL_ORDER.index(state["level"]):
        check.problems.append(
            Problem(
                f"a {state['level'].value} cannot sit under a {parent_level.value}", field="parent_id", row=check.row
            )
        )


# --- horizontal access ---------------------------------------------------------------------------------------------


def access_matches_area(check: Check) -> None:
    """A unit connects to the extranet node of its own area (inventory.areas)."""
    mismatch = areas.node_access_problem(check.session, check.state)
    if mismatch:
        check.bad(mismatch, "node_id")


def run(check: Check, rules: Iterable[Rule]) -> list[Problem]:
    """Run the rules on one object; the problems they found, in rule order."""
    for rule in rules:
        rule(check)
    return check.problems
