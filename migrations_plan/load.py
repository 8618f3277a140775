"""Read the inventory into planning facts (the I/O edge of readiness, zombies and waves)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import Session

from core.times import today_beijing
from inventory.enums import Decision, ExitStatus, RegionLevel, SubjectKind
from inventory.models import (
    DedicatedNetwork,
    Determination,
    InformationSystem,
    InternetExit,
    Region,
    Unit,
    system_depends_on,
    system_exits,
    system_networks,
    system_rooms,
)
from migrations_plan.facts import ExitFacts, Inventory, NetworkFacts, SystemFacts


def unit_cities(session: Session) -> dict[int, int | None]:
    """Each unit's city (the city-level region at or above its region); None for region-level units."""
    regions = {
        rid: (parent, level)
        for rid, parent, level in session.execute(select(Region.id, Region.parent_id, Region.level))
    }
    city_of: dict[int, int | None] = {}

    def city(rid: int | None) -> int | None:
        seen = 0
        while rid is not None and seen < 10:
            parent, level = regions[rid]
            if level == RegionLevel.CITY:
                return rid
            rid, seen = parent, seen + 1
        return None

    for uid, rid in session.execute(select(Unit.id, Unit.region_id)):
        city_of[uid] = city(rid)
    return city_of


def in_force(today: date | None = None) -> ColumnElement[bool]:
    """A determination is in force when active and decided on or before `today` (the Beijing date by default).

    A decision dated in the future takes effect on its date; until then the previous one stays in force.
    """
    return and_(Determination.active.is_(True), Determination.decided_on <= (today or today_beijing()))


def determinations(
    session: Session, kind: SubjectKind, today: date | None = None
) -> dict[int, tuple[Decision, date | None]]:
    """The determination in force per subject of one kind (the newest by decision date, then record)."""
    rows = session.execute(
        select(Determination.subject_id, Determination.decision, Determination.review_on)
        .where(Determination.subject_kind == kind, in_force(today))
        .order_by(Determination.decided_on, Determination.id)
    )
    return {sid: (decision, review) for sid, decision, review in rows if sid is not None}


def _links(session: Session, table: object) -> dict[int, tuple[int, ...]]:
    out: dict[int, list[int]] = {}
    for sid, tid in session.execute(select(table.c.system_id, table.c.target_id)):  # type: ignore[attr-defined]
        out.setdefault(sid, []).append(tid)
    return {k: tuple(sorted(v)) for k, v in out.items()}


def load_inventory(session: Session, today: date | None = None) -> Inventory:
    """Every system, dedicated network and internet exit as planning facts (decisions in force on `today`)."""
    cities = unit_cities(session)
    sys_det = determinations(session, SubjectKind.SYSTEM, today)
    net_det = determinations(session, SubjectKind.NETWORK, today)
    deps, nets, rooms, exits = (
        _links(session, t) for t in (system_depends_on, system_networks, system_rooms, system_exits)
    )
    S = InformationSystem
    systems: dict[int, SystemFacts] = {}
    for row in session.execute(
        select(
            S.id, S.code, S.name, S.owner_unit_id, S.classified, S.hosting, S.status, S.room_id, S.cloud_id,
            S.vcpus, S.memory_gb, S.storage_gb, S.users_count, S.monthly_visits, S.last_access_at,
            S.last_maintenance_at, S.replaced_by_id, S.business_active,
        )
    ):  # fmt: skip
        det = sys_det.get(row.id)
        systems[row.id] = SystemFacts(
            id=row.id,
            code=row.code,
            name=row.name,
            unit_id=row.owner_unit_id,
            city_id=cities.get(row.owner_unit_id),
            classified=bool(row.classified),
            hosting=row.hosting,
            status=row.status,
            room_id=row.room_id,
            cloud_id=row.cloud_id,
            vcpus=row.vcpus,
            memory_gb=row.memory_gb,
            storage_gb=row.storage_gb,
            users_count=row.users_count,
            monthly_visits=row.monthly_visits,
            last_access_at=row.last_access_at,
            last_maintenance_at=row.last_maintenance_at,
            replaced_by_id=row.replaced_by_id,
            business_active=bool(row.business_active),
            depends_on=deps.get(row.id, ()),
            networks=nets.get(row.id, ()),
            rooms=rooms.get(row.id, ()),
            exits=exits.get(row.id, ()),
            determination=det[0] if det else None,
            review_on=det[1] if det else None,
        )
    N = DedicatedNetwork
    networks = {
        nid: NetworkFacts(
            nid, code, name, unit, cities.get(unit), bool(classified), status, (net_det.get(nid) or (None, None))[0]
        )
        for nid, code, name, unit, classified, status in session.execute(
            select(N.id, N.code, N.name, N.owner_unit_id, N.classified, N.status)
        )
    }
    exit_facts = {
        eid: ExitFacts(eid, code, status == ExitStatus.ACTIVE)
        for eid, code, status in session.execute(select(InternetExit.id, InternetExit.code, InternetExit.status))
    }
    return Inventory(systems, networks, exit_facts)


def system_facts(session: Session, system_id: int, today: date | None = None) -> SystemFacts | None:
    """One system's own facts (no links), enough to score it as a zombie; None when it does not exist."""
    s = session.get(InformationSystem, system_id)
    if s is None:
        return None
    det = determinations_of(session, SubjectKind.SYSTEM, system_id, today)
    return SystemFacts(
        id=s.id, code=s.code, name=s.name, unit_id=s.owner_unit_id, classified=bool(s.classified), hosting=s.hosting,
        status=s.status, room_id=s.room_id, cloud_id=s.cloud_id, vcpus=s.vcpus, memory_gb=s.memory_gb,
        storage_gb=s.storage_gb, users_count=s.users_count, monthly_visits=s.monthly_visits,
        last_access_at=s.last_access_at, last_maintenance_at=s.last_maintenance_at, replaced_by_id=s.replaced_by_id,
        business_active=bool(s.business_active), determination=det[0] if det else None,
        review_on=det[1] if det else None,
    )  # fmt: skip


def determinations_of(
    session: Session, kind: SubjectKind, subject_id: int, today: date | None = None
) -> tuple[Decision, date | None] | None:
    """The determination in force for one subject (newest active by decision date, then record)."""
    row = session.execute(
        select(Determination.decision, Determination.review_on)
        .where(Determination.subject_kind == kind, Determination.subject_id == subject_id, in_force(today))
        .order_by(Determination.decided_on.desc(), Determination.id.desc())
        .limit(1)
    ).first()
    return (row[0], row[1]) if row else None
