"""Store a computed wave plan and read it back (plans are immutable; items carry execution state)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from core.audit import ChangeContext, json_value, record_change
from core.enums import ChangeAction
from core.errors import NotFound, Problem
from migrations_plan.models import ItemKind, ItemStatus, WaveItem, WavePlan
from migrations_plan.waves import Plan

KIND = "plan_wave_plans"


def row_dict(obj: WaveItem | WavePlan) -> dict[str, Any]:
    mapper: Any = inspect(type(obj))
    return {a.key: json_value(getattr(obj, a.key)) for a in mapper.column_attrs}


def summary(plan: Plan) -> dict[str, Any]:
    per_wave: dict[int, int] = {}
    for i in plan.items:
        if i.wave is not None:
            per_wave[i.wave] = per_wave.get(i.wave, 0) + 1
    return {
        "waves": plan.waves,
        "items": len(plan.items),
        "planned": sum(per_wave.values()),
        "unplanned": len(plan.unplanned()),
        "per_wave": {str(k): v for k, v in sorted(per_wave.items())},
        "cycles": plan.cycles,
    }


def save_plan(session: Session, plan: Plan, name: str, params: dict[str, Any], ctx: ChangeContext) -> WavePlan:
    """Persist a plan with its items (status planned) and log who computed it."""
    row = WavePlan(name=name, created_by=ctx.actor, created_at=ctx.when(), params=params, summary=summary(plan))
    session.add(row)
    session.flush()
    session.add_all(
        WaveItem(
            plan_id=row.id,
            wave=i.wave,
            kind=ItemKind(i.kind),
            object_id=i.id,
            code=i.code,
            name=i.name,
            unit_id=i.unit_id,
            city_id=i.city_id,
            target_cloud_id=i.target_cloud_id,
            flavor=i.flavor,
            group=i.group,
            depends_on=list(i.depends_on),
            reasons=list(i.reasons),
            status=ItemStatus.PLANNED,
        )
        for i in plan.items
    )
    session.flush()
    record_change(session, ctx, KIND, row.id, ChangeAction.CREATE, None, {**row_dict(row)}, name)
    return row


def get_plan(session: Session, plan_id: int | None = None) -> WavePlan:
    """One stored plan, or the newest when no id is given."""
    if plan_id is None:
        row = session.scalar(select(WavePlan).order_by(WavePlan.id.desc()).limit(1))
    else:
        row = session.get(WavePlan, plan_id)
    if row is None:
        raise NotFound(
            "尚无已存的迁移批次计划 / no stored wave plan yet"
            if plan_id is None
            else f"迁移批次计划 {plan_id} 不存在 / wave plan {plan_id} not found",
            [Problem("没有这个计划 / no such stored plan", field="plan_id", value=plan_id)],
        )
    return row


def plan_items(session: Session, plan_id: int) -> list[WaveItem]:
    return list(
        session.scalars(
            select(WaveItem)
            .where(WaveItem.plan_id == plan_id)
            .order_by(WaveItem.wave.is_(None), WaveItem.wave, WaveItem.code)
        )
    )
