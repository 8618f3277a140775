"""Execution tracking of wave items and the look-back review (回头看).

planned → in_progress → migrated → verified, or rolled_back (from in_progress, migrated or verified;
a rolled-back item may be planned again). Moving an item writes the system's or network's inventory
status through `inventory.service`, so progress feeds the rates; each step is in the change log.
A step that would contradict a decision in force (retired, exempt/keep, classified) is refused with 409 and
writes nothing (see `guards`); migrating a system before what it depends on is allowed with a warning.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit import ChangeContext, record_change
from core.enums import ChangeAction
from core.errors import AppError, Conflict, Forbidden, NotFound, Problem, ValidationFailed
from inventory import service
from inventory.enums import CloudKind, Hosting, NetworkStatus, SystemStatus
from inventory.models import Cloud, DedicatedNetwork, InformationSystem
from migrations_plan import guards
from migrations_plan.facts import DEFAULT_FLAVORS, Flavor, Inventory
from migrations_plan.models import ItemKind, ItemStatus, WaveItem
from migrations_plan.store import row_dict

KIND = "plan_wave_items"
S = ItemStatus
TRANSITIONS: dict[ItemStatus, frozenset[ItemStatus]] = {
    S.PLANNED: frozenset({S.IN_PROGRESS}),
    S.IN_PROGRESS: frozenset({S.MIGRATED, S.ROLLED_BACK}),
    S.MIGRATED: frozenset({S.VERIFIED, S.ROLLED_BACK}),
    S.VERIFIED: frozenset({S.ROLLED_BACK}),
    S.ROLLED_BACK: frozenset({S.PLANNED, S.IN_PROGRESS}),
}


@dataclass(frozen=True)
class ResourceNeed:
    """What a resource request for the target hosting should ask for (passed to the injected factory).

    `instances` servers of `flavor` (the plan's sizing: a system larger than the flavor needs several) and
    `storage_gb` of disk when the inventory gives it; `image` is the caller's choice (None: not drafting)."""

    system_id: int
    system_code: str
    unit_id: int | None
    target_cloud_id: int | None
    flavor: str | None
    wave_item_id: int
    instances: int = 1
    storage_gb: int | None = None
    image: str | None = None


# Built by the API from PlanServices.request_factory: creates a resource request, returns its reference.
RequestFactory = Callable[[Session, ResourceNeed, ChangeContext], Any]

# item statuses a draft may be made for: not started (again)
DRAFTABLE = frozenset({S.PLANNED, S.ROLLED_BACK})


@dataclass(frozen=True)
class Skipped:
    """A system item `draft_requests` made no request for: a stable reason code and, when known, why."""

    item: WaveItem
    reason: str
    message: str | None = None


@dataclass(frozen=True)
class Drafts:
    """What `draft_requests` did with each system item: created its request, found one, or skipped it."""

    created: list[WaveItem]
    existing: list[WaveItem]
    skipped: list[Skipped]


def instances_for(flavor: Flavor | None, vcpus: float | None, memory_gb: float | None) -> int:
    """How many servers of `flavor` hold the system (as readiness sizes it): 1 when it fits or sizes are unknown."""
    if flavor is None or flavor.vcpus <= 0 or flavor.memory_gb <= 0:
        return 1
    return max(1, math.ceil(float(vcpus or 0) / flavor.vcpus), math.ceil(float(memory_gb or 0) / flavor.memory_gb))


def _need(item: WaveItem, system: InformationSystem | None, flavors: Sequence[Flavor], image: str) -> ResourceNeed:
    size = next((f for f in flavors if f.name == item.flavor), None)
    vcpus = system.vcpus if system is not None else None
    memory = system.memory_gb if system is not None else None
    storage = system.storage_gb if system is not None else None
    return ResourceNeed(
        item.object_id,
        item.code,
        item.unit_id,
        item.target_cloud_id,
        item.flavor,
        item.id,
        instances=instances_for(size, vcpus, memory),
        storage_gb=math.ceil(storage) if storage else None,
        image=image,
    )


def _not_draftable(item: WaveItem, system: InformationSystem | None, notes: list[guards.Note]) -> Skipped | None:
    """Why no request may be drafted for the item now, or None."""
    if item.status not in DRAFTABLE:
        return Skipped(
            item, f"item_status:{item.status.value}", f"批次项状态为 {item.status.value} / item is {item.status.value}"
        )
    if notes:  # gone, retired, classified, a stays-decision in force: what advance() refuses
        return Skipped(item, notes[0].code, "; ".join(n.text() for n in notes))
    if system is not None and system.status == SystemStatus.MIGRATED:
        return Skipped(item, "already_migrated", f"{item.code} 已迁移上云 / {item.code} is already migrated")
    return None


def draft_requests(
    session: Session,
    plan_id: int,
    wave: int | None,
    units: frozenset[int] | None,
    factory: RequestFactory,
    ctx: ChangeContext,
    image: str,
    flavors: Sequence[Flavor] = DEFAULT_FLAVORS,
    today: date | None = None,
) -> Drafts:
    """A resource request (through `factory`) for every planned system item of the plan (or one wave) in `units`
    that has none yet; the item keeps its reference (audited), so calling again creates nothing new.

    Only items planned or rolled back, whose system is still to move and not contradicted by a decision in
    force (`guards.stale_notes`), are drafted; the others are skipped with a reason code. Each item is drafted
    in its own savepoint: one the request service refuses (AppError) is skipped with the error's message and
    the others are still drafted. The factory returns None for a system it does not ask for (e.g. not bound for
    the gov cloud): skipped, `not_for_gov_cloud`. The items are locked (SELECT … FOR UPDATE on PostgreSQL), so
    two concurrent calls cannot both draft one item."""
    query = select(WaveItem).where(
        WaveItem.plan_id == plan_id, WaveItem.kind == ItemKind.SYSTEM, WaveItem.wave.is_not(None)
    )
    if wave is not None:
        query = query.where(WaveItem.wave == wave)
    query = query.order_by(WaveItem.wave, WaveItem.code).with_for_update()
    items = [i for i in session.scalars(query) if units is None or i.unit_id in units]
    out = Drafts([], [], [])
    todo = [i for i in items if i.request_ref is None]
    out.existing.extend(i for i in items if i.request_ref is not None)
    notes = guards.stale_notes(session, todo, today)
    ids = [i.object_id for i in todo]
    systems = (
        {s.id: s for s in session.scalars(select(InformationSystem).where(InformationSystem.id.in_(ids)))}
        if ids
        else {}
    )
    for item in todo:
        system = systems.get(item.object_id)
        skip = _not_draftable(item, system, notes.get(item.id, []))
        if skip is not None:
            out.skipped.append(skip)
            continue
        before = row_dict(item)
        try:
            with session.begin_nested():
                ref = factory(session, _need(item, system, flavors, image), ctx)
                if ref is not None:
                    item.request_ref = str(ref)
                    session.flush()
                    record_change(session, ctx, KIND, item.id, ChangeAction.UPDATE, before, row_dict(item), item.code,
                                  message=f"资源申请草稿 {ref} / draft request {ref}")  # fmt: skip
        except AppError as e:
            out.skipped.append(Skipped(item, f"refused:{e.code}", e.message))
            continue
        if ref is None:
            out.skipped.append(Skipped(item, "not_for_gov_cloud", "目标非政务云 / not bound for the gov cloud"))
        else:
            out.created.append(item)
    session.flush()
    return out


def can_move(current: ItemStatus, to: ItemStatus) -> bool:
    return to in TRANSITIONS[current]


def get_item(session: Session, item_id: int) -> WaveItem:
    item = session.get(WaveItem, item_id)
    if item is None:
        raise NotFound(
            f"迁移批次项 {item_id} 不存在 / wave item {item_id} not found",
            [Problem("no such id", field="id", value=item_id)],
        )
    return item


def _hosting_for(cloud: Cloud) -> Hosting:
    return Hosting.GOV_CLOUD if cloud.kind == CloudKind.GOV_CLOUD else Hosting.SUB_CLOUD


def _system_step(session: Session, item: WaveItem, to: ItemStatus, ctx: ChangeContext, cloud_id: int | None) -> None:
    s = session.get(InformationSystem, item.object_id)  # advance() made sure it is still the item's subject
    if s is None:
        raise NotFound(f"{item.code} 已不在清单中 / {item.code} is no longer in the inventory")
    if to == S.IN_PROGRESS and s.status == SystemStatus.NOT_MIGRATED:
        service.update(session, "systems", s.id, {"status": SystemStatus.IN_PROGRESS}, ctx)
    elif to == S.MIGRATED:
        target = cloud_id if cloud_id is not None else item.target_cloud_id
        if target is None:
            raise ValidationFailed(
                "迁移须指定目标云 / migrating needs a target cloud",
                [
                    Problem(
                        "计划中没有目标云，请给出 cloud_id / give cloud_id (no target in the plan)", field="cloud_id"
                    )
                ],
            )
        cloud = session.get(Cloud, target)
        if cloud is None:
            raise ValidationFailed(
                f"目标云 {target} 不存在 / cloud {target} does not exist",
                [Problem("没有这个云 / no such cloud", field="cloud_id", value=target)],
            )
        item.previous = {
            "hosting": s.hosting.value,
            "room_id": s.room_id,
            "cloud_id": s.cloud_id,
            "status": s.status.value if s.status != SystemStatus.IN_PROGRESS else SystemStatus.NOT_MIGRATED.value,
        }
        item.target_cloud_id = cloud.id
        service.update(
            session,
            "systems",
            s.id,
            {"hosting": _hosting_for(cloud), "cloud_id": cloud.id, "room_id": None, "status": SystemStatus.MIGRATED},
            ctx,
        )
    elif to == S.VERIFIED and (s.status != SystemStatus.MIGRATED or s.cloud_id is None):
        raise Conflict(
            f"{s.code} is not on a cloud any more; cannot verify",
            [Problem("inventory shows it is not migrated", field="status", value=s.status.value)],
        )
    elif to == S.ROLLED_BACK:
        prev = item.previous or {}
        patch: dict[str, Any] = {"status": prev.get("status", SystemStatus.NOT_MIGRATED.value)}
        if prev:
            patch.update(hosting=prev["hosting"], room_id=prev["room_id"], cloud_id=prev["cloud_id"])
        service.update(session, "systems", s.id, patch, ctx)


def _network_step(session: Session, item: WaveItem, to: ItemStatus, ctx: ChangeContext) -> None:
    n = session.get(DedicatedNetwork, item.object_id)  # advance() made sure it is still the item's subject
    if n is None:
        raise NotFound(f"{item.code} 已不在清单中 / {item.code} is no longer in the inventory")
    if to == S.IN_PROGRESS and n.status == NetworkStatus.NOT_STARTED:
        service.update(session, "networks", n.id, {"status": NetworkStatus.IN_PROGRESS}, ctx)
    elif to == S.MIGRATED:
        item.previous = {"status": n.status.value}
        service.update(session, "networks", n.id, {"status": NetworkStatus.MIGRATED}, ctx)
    elif to == S.ROLLED_BACK:
        prev = (item.previous or {}).get("status", NetworkStatus.NOT_STARTED.value)
        service.update(session, "networks", n.id, {"status": prev}, ctx)


def advance(
    session: Session,
    item_id: int,
    to: ItemStatus,
    ctx: ChangeContext,
    units: frozenset[int] | None = None,
    cloud_id: int | None = None,
    request_factory: RequestFactory | None = None,
    today: date | None = None,
) -> WaveItem:
    """Move one wave item to a new status, updating the inventory through the service; audited.

    Refused (409) when the item contradicts a decision in force on `today` (the Beijing date by default).
    """
    item = get_item(session, item_id)
    if units is not None and item.unit_id not in units:
        raise Forbidden(f"wave item {item.code} belongs to another unit", [Problem("outside your unit subtree")])
    # first: whatever step is asked, an item whose subject is gone or decided otherwise may not move it
    contradictions = guards.stale_notes(session, [item], today).get(item.id, [])
    if contradictions:
        gone = any(n.code == "deleted" for n in contradictions)
        raise Conflict(
            f"{item.code} 已不在清单中，不得据此变更 / {item.code} is no longer in the inventory"
            if gone
            else f"{item.code}：计划与现行认定冲突，不得据此变更 / the stored plan contradicts a decision in force",
            [Problem(n.text(), field="status", value=n.code) for n in contradictions],
        )
    if item.wave is None:
        raise Conflict(f"{item.code} is not planned in any wave", [Problem("unplanned item", field="wave")])
    if not can_move(item.status, to):
        raise Conflict(
            f"{item.code}: cannot go from {item.status.value} to {to.value}",
            [Problem(f"allowed: {', '.join(sorted(t.value for t in TRANSITIONS[item.status]))}", field="status")],
        )
    before = row_dict(item)
    warnings = (
        guards.out_of_order(session, item.object_id, today) if item.kind == ItemKind.SYSTEM and to == S.MIGRATED else []
    )
    if item.kind == ItemKind.SYSTEM:
        _system_step(session, item, to, ctx, cloud_id)
        if to == S.IN_PROGRESS and request_factory is not None and item.request_ref is None:
            need = ResourceNeed(item.object_id, item.code, item.unit_id, item.target_cloud_id, item.flavor, item.id)
            ref = request_factory(session, need, ctx)
            item.request_ref = None if ref is None else str(ref)
    else:
        _network_step(session, item, to, ctx)
    item.status = to
    item.status_changed_at = ctx.when()
    item.status_changed_by = ctx.actor
    if to == S.ROLLED_BACK:
        item.previous = None
    session.flush()
    message = "; ".join(w.text() for w in warnings) or None
    record_change(session, ctx, KIND, item.id, ChangeAction.UPDATE, before, row_dict(item), item.code, message=message)
    return item


# --- look-back review (回头看) --------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One regression or due review found by the look-back."""

    kind: str  # "system" | "network"
    object_id: int
    code: str
    problem: str
    zh: str
    en: str
    item_id: int | None = None

    def text(self) -> str:
        return f"{self.zh} / {self.en}"


@dataclass(frozen=True)
class Tracked:
    """A wave item that reached migrated/verified, as the look-back sees it."""

    item_id: int
    kind: str
    object_id: int
    code: str


def lookback(tracked: Iterable[Tracked], inv: Inventory, today: date) -> list[Finding]:
    """Re-check moved items against today's inventory, and find determinations whose review date has passed."""
    out: list[Finding] = []
    for t in tracked:
        subject = (inv.systems if t.kind == ItemKind.SYSTEM else inv.networks).get(t.object_id)
        if subject is None or subject.code != t.code:  # deleted, or its id now belongs to another object
            out.append(
                Finding(
                    t.kind,
                    t.object_id,
                    t.code,
                    "subject_missing",
                    f"已迁移的 {t.code} 已不在清单中",
                    f"migrated {t.code} is no longer in the inventory",
                    t.item_id,
                )
            )
            continue
        if t.kind == ItemKind.SYSTEM:
            s = inv.systems[t.object_id]
            if s.status != SystemStatus.MIGRATED:
                out.append(
                    Finding(
                        t.kind,
                        s.id,
                        s.code,
                        "status_regressed",
                        f"迁移状态回退为 {s.status.value}",
                        f"status went back to {s.status.value}",
                        t.item_id,
                    )
                )
            if not s.on_cloud:
                out.append(
                    Finding(
                        t.kind,
                        s.id,
                        s.code,
                        "not_on_cloud",
                        f"部署方式已非云上（{s.hosting.value}）",
                        f"hosting is no longer a cloud ({s.hosting.value})",
                        t.item_id,
                    )
                )
            if s.room_id is not None or s.rooms:
                rooms = sorted({*s.rooms, *([s.room_id] if s.room_id is not None else [])})
                out.append(
                    Finding(
                        t.kind,
                        s.id,
                        s.code,
                        "found_in_room",
                        f"已迁移系统仍出现在机房 {rooms}",
                        f"migrated system found again in room(s) {rooms}",
                        t.item_id,
                    )
                )
        else:
            n = inv.networks[t.object_id]
            if n.status not in (NetworkStatus.MIGRATED, NetworkStatus.INTERCONNECTED):
                out.append(
                    Finding(
                        t.kind,
                        n.id,
                        n.code,
                        "status_regressed",
                        f"专网状态回退为 {n.status.value}",
                        f"network status went back to {n.status.value}",
                        t.item_id,
                    )
                )
    for s in sorted(inv.systems.values(), key=lambda x: x.code):
        if s.review_on is not None and s.review_on <= today and s.determination is not None:
            out.append(
                Finding(
                    "system",
                    s.id,
                    s.code,
                    "review_due",
                    f"技术认定（{s.determination.value}）回头看日期 {s.review_on} 已到",
                    f"determination ({s.determination.value}) due for look-back since {s.review_on}",
                )
            )
    return out


def tracked_items(session: Session) -> list[Tracked]:
    rows = session.execute(
        select(WaveItem.id, WaveItem.kind, WaveItem.object_id, WaveItem.code).where(
            WaveItem.status.in_((S.MIGRATED, S.VERIFIED))
        )
    )
    return [Tracked(i, k.value, o, c) for i, k, o, c in rows]


def record_lookback(session: Session, findings: list[Finding], ctx: ChangeContext) -> int:
    """Store each moved item's newest finding (clearing fixed ones) and log what changed; returns items changed."""
    by_item: dict[int, list[str]] = {}
    for f in findings:
        if f.item_id is not None:
            by_item.setdefault(f.item_id, []).append(f.text())
    changed = 0
    for item in session.scalars(select(WaveItem).where(WaveItem.status.in_((S.MIGRATED, S.VERIFIED)))):
        new = "; ".join(by_item[item.id]) if item.id in by_item else None
        if new != item.regression:
            before = row_dict(item)
            item.regression = new
            session.flush()
            record_change(session, ctx, KIND, item.id, ChangeAction.DECIDE, before, row_dict(item), item.code,
                          message="回头看 / look-back review")  # fmt: skip
            changed += 1
    return changed
