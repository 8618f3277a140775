"""The I/O edge used by the API and CLI: load the inventory, call the pure functions, name things for people."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit import ChangeContext
from core.db import Database
from core.times import today_beijing
from inventory.models import Cloud, Region, Unit
from migrations_plan import guards, lookback_checks, tracking
from migrations_plan.export import Row
from migrations_plan.facts import DEFAULT_FLAVORS, Capacity, Flavor, Inventory
from migrations_plan.load import load_inventory
from migrations_plan.models import WaveItem
from migrations_plan.readiness import Assessment, assess_all
from migrations_plan.waves import Constraints, Plan, build_items, plan_waves
from migrations_plan.zombies import Criteria, ProbeHistory, Utilisation, ZombieScore, candidates

# Provided by the orchestrator (PlanServices.capacity): free capacity per target cloud, or None when unknown.
CapacityProvider = Callable[[Session], Mapping[int, Capacity] | None]


@dataclass(frozen=True)
class Options:
    """Everything a plan depends on besides the inventory."""

    max_wave_size: int = 50
    max_per_unit: int | None = None
    max_per_city: int | None = None
    flavors: Sequence[Flavor] = DEFAULT_FLAVORS

    def params(self) -> dict[str, Any]:
        return {
            "max_wave_size": self.max_wave_size,
            "max_per_unit": self.max_per_unit,
            "max_per_city": self.max_per_city,
        }


def assess(
    session: Session,
    capacity: Mapping[int, Capacity] | None = None,
    flavors: Sequence[Flavor] = DEFAULT_FLAVORS,
    today: date | None = None,
) -> tuple[Inventory, dict[int, Assessment]]:
    """Readiness of every system, with the decisions in force on `today` (the Beijing date by default)."""
    inv = load_inventory(session, today)
    return inv, assess_all(inv, capacity, flavors)


def plan_from(
    inv: Inventory, assessments: Mapping[int, Assessment], options: Options, capacity: Mapping[int, Capacity] | None
) -> Plan:
    """Waves for the movable items plus, unplanned, the systems left out (blocked, or needing a blocked one)."""
    items, left_out = build_items(inv, assessments)
    plan = plan_waves(items, Constraints(options.max_wave_size, options.max_per_unit, options.max_per_city, capacity))
    return Plan(plan.items + left_out, plan.waves, plan.cycles)


def compute_plan(
    session: Session, options: Options, capacity: Mapping[int, Capacity] | None = None, today: date | None = None
) -> Plan:
    inv, assessments = assess(session, capacity, options.flavors, today)
    return plan_from(inv, assessments, options, capacity)


def zombies(
    session: Session,
    today: date,
    criteria: Criteria = Criteria(),
    utilisation: Mapping[int, Utilisation] | None = None,
    probes: Mapping[int, ProbeHistory] | None = None,
) -> list[ZombieScore]:
    return candidates(load_inventory(session, today).systems, today, criteria, utilisation, probes)


@dataclass(frozen=True)
class Names:
    units: dict[int, str]
    cities: dict[int, str]
    clouds: dict[int, str]

    @classmethod
    def load(cls, session: Session) -> Names:
        return cls(
            {k: v for k, v in session.execute(select(Unit.id, Unit.name))},
            {k: v for k, v in session.execute(select(Region.id, Region.name))},
            {k: v for k, v in session.execute(select(Cloud.id, Cloud.code))},
        )


def rows_from_plan(plan: Plan, names: Names) -> list[Row]:
    return [
        Row(
            p.wave,
            p.kind,
            p.code,
            p.name,
            names.units.get(p.unit_id, "") if p.unit_id else "",
            names.cities.get(p.city_id, "") if p.city_id else "",
            names.clouds.get(p.target_cloud_id, "") if p.target_cloud_id else "",
            p.flavor or "",
            p.group,
            p.depends_on,
            "计划 planned" if p.wave is not None else "未排入 unplanned",
            p.reasons,
        )
        for p in plan.items
    ]


def rows_from_items(
    items: Sequence[WaveItem], names: Names, stale: Mapping[int, Sequence[guards.Note]] | None = None
) -> list[Row]:
    """Rows of a stored plan; items contradicting a decision in force are marked stale (过期)."""
    stale = stale or {}
    return [
        Row(
            i.wave,
            i.kind.value,
            i.code,
            i.name,
            names.units.get(i.unit_id, "") if i.unit_id else "",
            names.cities.get(i.city_id, "") if i.city_id else "",
            names.clouds.get(i.target_cloud_id, "") if i.target_cloud_id else "",
            i.flavor or "",
            i.group,
            i.depends_on,
            i.status.value
            + (f"（回头看：{i.regression}）" if i.regression else "")
            + (f"（过期 stale：{'; '.join(n.text() for n in stale[i.id])}）" if i.id in stale else ""),
            i.reasons,
        )
        for i in items
    ]


def run_lookback(session: Session, ctx: ChangeContext, today: date) -> list[tracking.Finding]:
    """Re-check migrated items, determinations of every kind and progress outside plans; store item findings."""
    findings = tracking.lookback(tracking.tracked_items(session), load_inventory(session, today), today)
    findings += lookback_checks.determination_findings(session, today)
    findings += lookback_checks.progress_findings(session, today)
    tracking.record_lookback(session, findings, ctx)
    return findings


def scheduled_lookback(db: Database, today: date | None = None) -> tuple[int, int]:
    """The daily look-back as a job: returns (items re-checked, findings)."""
    with db.session() as session:
        tracked = tracking.tracked_items(session)
        ctx = ChangeContext(actor="scheduler", role="system", message="每日回头看 / daily look-back")
        findings = run_lookback(session, ctx, today or today_beijing())
    return len(tracked), len(findings)
