"""The rate engine: “三个100%”, horizontal access and cloud-network utilisation, now or as of any past date.

Every rate is counted by SQL over the store: the current state reads the live tables; a past date rebuilds
each object's state from its latest change-log snapshot at that moment (a window function over `change_log`
with JSON field extraction), so a published month never changes. Each counted item falls in exactly one
category, decided in SQL in this order: classified → retired → exempt → numerator → open. The denominator
is numerator + open; classified, retired and exempt items are shown apart with the reason, who decided and when.

Breakdowns (unit, city, administrative level) use the current organisation: a unit's name, level and the city
of its region are read from the live tables, while membership and status are as of the date.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    case,
    cast,
    column,
    false,
    func,
    literal,
    null,
    or_,
    select,
    table,
    true,
    tuple_,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.selectable import FromClause, Subquery

from core import times
from core.enums import ChangeAction, Role
from core.models import ChangeLog
from core.times import BEIJING
from dashboards import rate_snapshots
from inventory import history
from inventory.enums import (
    AccessStatus,
    CloudKind,
    Decision,
    DockingStatus,
    ExitStatus,
    Hosting,
    NetworkStatus,
    RegionLevel,
    RoomStatus,
    SubjectKind,
    SystemStatus,
    VerticalScope,
)
from inventory.kinds import KINDS
from inventory.models import Region, Unit


class RateKey(StrEnum):
    """The five rates the cloud-chief office tracks, then the three consolidation figures."""

    SYSTEMS_MIGRATED = "systems_migrated"
    NETWORKS_INTERCONNECTED = "networks_interconnected"
    ITEMS_DOCKED = "items_docked"
    HORIZONTAL_ACCESS = "horizontal_access"
    CLOUD_NETWORK_UTILISATION = "cloud_network_utilisation"
    ROOMS_CONSOLIDATED = "rooms_consolidated"
    EXITS_CONSOLIDATED = "exits_consolidated"
    CLOUDS_MANAGED = "clouds_managed"


HEADLINE_KEYS = tuple(RateKey)[:5]  # the five rates with dated targets (reports, rankings, dashboards)
CONSOLIDATION_KEYS = tuple(RateKey)[5:]  # rooms, exits, clouds: same engine, no dated target


LABELS: dict[RateKey, tuple[str, str]] = {
    RateKey.SYSTEMS_MIGRATED: ("非涉密信息系统迁移上云率", "non-classified information systems migrated to the cloud"),
    RateKey.NETWORKS_INTERCONNECTED: (
        "非涉密业务专网迁移打通率",
        "non-classified dedicated networks migrated or interconnected onto the extranet",
    ),
    RateKey.ITEMS_DOCKED: ("区垂及市垂系统事项对接完成率", "region- and city-vertical service items docked"),
    RateKey.HORIZONTAL_ACCESS: ("电子政务外网横向接入率", "extranet horizontal access rate"),
    RateKey.CLOUD_NETWORK_UTILISATION: ("云网统筹利用完成率", "cloud-network unified utilisation"),
    RateKey.ROOMS_CONSOLIDATED: (
        "非涉密机房/数据中心整合率",
        "non-classified machine rooms and data centres consolidated",
    ),
    RateKey.EXITS_CONSOLIDATED: ("互联网出口整合率", "internet exits consolidated"),
    RateKey.CLOUDS_MANAGED: ("云平台纳入统筹管理率", "clouds under unified management"),
}

Part = Literal["numerator", "denominator", "excluded"]
EXCLUSION_REASONS = ("classified", "retired", "exempt")
NUMERATOR, OPEN = "numerator", "open"
LEVEL_LABELS: dict[str, str] = {
    RegionLevel.REGION: "自治区级",
    RegionLevel.CITY: "市级",
    RegionLevel.COUNTY: "县级",
    RegionLevel.TOWNSHIP: "乡镇级",
}
# Breakdown dimension of items without an owner unit (clouds of gov-cloud sites), one per city and level of
# their region (key "<city code>/<level>"); with the unit breakdowns they add up to the overall figure.
NO_UNIT = "no_unit"
REGION_OWN_GROUP = "自治区本级"  # label of the "city" group of region-level units


# --- targets --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A dated target: `value` must be reached by the end of `deadline` (China Standard Time)."""

    deadline: date
    value: float
    source: str

    @property
    def effective_from(self) -> datetime:
        """The moment the target is in force: midnight after the deadline, +08:00."""
        return datetime.combine(self.deadline + timedelta(days=1), datetime.min.time(), BEIJING)


_PLAN_UTILISATION_TARGETS = (
    "《全面推进广西数字政府建设三年行动实施方案》§二(一)2: 2021年底70%，2022年底90%，2023年底100%"
)
_PLAN_THREE_100 = "《全面推进广西数字政府建设三年行动实施方案》§二(一)1: 持续巩固“三个100%”成果 (2021–2023)"
TARGETS: dict[RateKey, tuple[Target, ...]] = {
    RateKey.SYSTEMS_MIGRATED: (Target(date(2020, 12, 31), 1.0, _PLAN_THREE_100),),
    RateKey.NETWORKS_INTERCONNECTED: (Target(date(2020, 12, 31), 1.0, _PLAN_THREE_100),),
    RateKey.ITEMS_DOCKED: (
        Target(date(2020, 12, 31), 1.0, _PLAN_THREE_100),
        Target(
            date(2021, 12, 31),
            1.0,
            "《全面推进广西数字政府建设三年行动实施方案》§二(二)6: 2021年底前区垂与市垂系统100%对接",
        ),
    ),
    RateKey.HORIZONTAL_ACCESS: (
        Target(date(2021, 12, 31), 0.7, _PLAN_UTILISATION_TARGETS),
        Target(date(2022, 12, 31), 0.9, _PLAN_UTILISATION_TARGETS),
        Target(date(2023, 12, 31), 1.0, _PLAN_UTILISATION_TARGETS),
    ),
    RateKey.CLOUD_NETWORK_UTILISATION: (
        Target(date(2021, 12, 31), 0.7, _PLAN_UTILISATION_TARGETS),
        Target(date(2022, 12, 31), 0.9, _PLAN_UTILISATION_TARGETS),
        Target(date(2023, 12, 31), 1.0, _PLAN_UTILISATION_TARGETS),
    ),
    RateKey.ROOMS_CONSOLIDATED: (),
    RateKey.EXITS_CONSOLIDATED: (),
    RateKey.CLOUDS_MANAGED: (),
}


def target_at(key: RateKey, at: datetime) -> float | None:
    """The target in force at `at`: the value of the latest deadline already passed (None before the first)."""
    passed = [t for t in TARGETS[key] if t.effective_from <= at]
    return max(passed, key=lambda t: t.deadline).value if passed else None


# --- public results -----------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    """One ratio with its parts; `ratio` is None when nothing is in the denominator."""

    key: RateKey
    numerator: int
    denominator: int
    ratio: float | None
    target: float | None  # target in force at `at`


@dataclass(frozen=True)
class Breakdown:
    """A rate for one unit, city or administrative level."""

    dimension: str  # "unit" | "city" | "level" | "no_unit" (items without an owner unit, by city and level)
    key: str  # unit code / city region code / level value
    label: str  # Chinese name
    rate: Rate
    excluded_counts: dict[str, int] | None = None  # reason -> count, zero-filled
    city: str | None = None  # unit breakdowns: the unit's city group code
    level: str | None = None  # unit breakdowns: the unit's administrative level


@dataclass(frozen=True)
class RateReport:
    """A rate overall and by unit, city and level, with the excluded items counted by reason."""

    key: RateKey
    label_zh: str
    label_en: str
    at: datetime
    overall: Rate
    breakdowns: list[Breakdown]
    excluded_counts: dict[str, int]  # reason -> count ("classified", "retired", "exempt")

    def by(self, dimension: str) -> list[Breakdown]:
        """The breakdowns of one dimension, in key order."""
        return [b for b in self.breakdowns if b.dimension == dimension]


def utc(at: datetime | None) -> datetime | None:
    """`at` in UTC (naive means Beijing time, core.times): the change log is compared in UTC on every backend."""
    return None if at is None else times.to_utc(at)


def make_rate(key: RateKey, numerator: int, denominator: int, target: float | None) -> Rate:
    return Rate(key, numerator, denominator, numerator / denominator if denominator else None, target)


# --- object state: live tables or as of a date ---------------------------------------------

FieldType = Literal["str", "int", "bool"]


def state(kind: str, at: datetime | None, fields: dict[str, FieldType], name: str) -> FromClause:
    """Rows (id, *fields) of one inventory kind: the live table when `at` is None, else as of `at`.

    As of a date: the latest change-log snapshot per object written at or before `at`, unless it is a delete.
    """
    sql_type: dict[str, Any] = {"str": String(), "int": Integer(), "bool": Boolean()}
    if at is None:
        model: Any = KINDS[kind].model
        cols: list[Any] = [type_coerce(getattr(model, f), sql_type[t]).label(f) for f, t in fields.items()]
        return select(model.id.label("id"), *cols).subquery(name)
    latest = history.state_entries(kind, at, name=f"{name}_latest")
    cols = _snapshot_columns(fields)
    # MATERIALIZED: evaluate the window once; otherwise SQLite re-runs it for every row of an outer join.
    return (
        select(ChangeLog.object_id.label("id"), *cols)
        .join(latest, latest.c.log_id == ChangeLog.id)
        .cte(name)
        .prefix_with("MATERIALIZED")
    )


def first_state(kind: str, fields: dict[str, FieldType], name: str) -> FromClause:
    """Rows (id, *fields) of one inventory kind as first recorded (its earliest change-log snapshot)."""
    ranked = (
        select(
            ChangeLog.id.label("log_id"),
            func.row_number()
            .over(partition_by=ChangeLog.object_id, order_by=(ChangeLog.at.asc(), ChangeLog.id.asc()))
            .label("rn"),
        )
        .where(ChangeLog.kind == kind, ChangeLog.action != ChangeAction.DELETE)
        .subquery(f"{name}_ranked")
    )
    cols = _snapshot_columns(fields)
    return (
        select(ChangeLog.object_id.label("id"), *cols)
        .join(ranked, ranked.c.log_id == ChangeLog.id)
        .where(ranked.c.rn == 1)
        .cte(name)
        .prefix_with("MATERIALIZED")
    )


def _snapshot_columns(fields: dict[str, FieldType]) -> list[Any]:
    """The fields of a change-log snapshot (`after`) as typed columns."""
    after: Any = ChangeLog.after
    extract = {
        "str": lambda f: after[f].as_string(),
        "int": lambda f: after[f].as_integer(),
        "bool": lambda f: after[f].as_boolean(),
    }
    return [extract[t](f).label(f) for f, t in fields.items()]


def _is_true(col: Any) -> ColumnElement[bool]:
    # JSON booleans come back as 1/0 on SQLite and as booleans on PostgreSQL; `= true` reads both.
    return and_(col.is_not(None), col == true())


# --- the items behind each rate ---------------------------------------------------------------

_NO_REGION: Any = cast(null(), Integer())  # typed NULL: a bare NULL in a UNION would read as text on PostgreSQL
UNMANAGED_CLOUD = "所在云未纳入统筹管理，不计为上云 / the cloud is not under unified management: "
UNRECORDED_CLOUD = (
    "该日期无所在云的记录，无法确认已纳入统筹管理，不计为上云 / no record of the cloud at that date "
    "(not known to be under unified management): "
)
NO_CLOUD = "未登记所在云，不计为上云 / no cloud recorded for the system"
SELF_DECLARED = "单位自报完成，待云长制办公室确认 / self-declared by the unit, pending the office's confirmation"
SELF_DECLARING_ROLES = (Role.DEPARTMENT_USER.value,)
# Evidence the service holds: a resource request for the system, on the gov cloud, that reached `active`
# (provisioned). Read by table name: the orchestrator owns the table and dashboards never import it.
_requests = table(
    "resource_requests", column("id", Integer()), column("system_id", Integer()), column("target_hosting", String())
)
requests_table = _requests  # read by dashboards.live_counts too


# Fields whose change can move an item into a numerator, per kind a department user may write: such a change,
# self-declared, waits for the office (a system moved onto the gov cloud by its hosting/cloud is as much a
# completion as one set to migrated). With the statuses that count as done.
DECLARED_FIELDS: dict[str, tuple[str, ...]] = {
    "systems": ("status", "hosting", "cloud_id"),
    "networks": ("status",),
    "internet_exits": ("status",),
}
DONE_STATUSES: dict[str, tuple[str, ...]] = {
    "systems": (SystemStatus.MIGRATED.value,),
    "networks": (NetworkStatus.INTERCONNECTED.value, NetworkStatus.MIGRATED.value),
    "internet_exits": (ExitStatus.CONSOLIDATED.value, ExitStatus.CLOSED.value),
}


def pending_declarations(kind: str, at: datetime | None) -> Subquery:
    """(id, declared_by, declared_at, status) of systems, networks or internet exits whose latest change of a
    field that decides completion (DECLARED_FIELDS) was made by a department user (a self-declared completion),
    leaving it in a done status, with no confirmation by the office since, and (systems) no provisioned gov-cloud
    request as evidence. Read from the change log, so it holds as of any date."""
    log = aliased(ChangeLog)
    after: Any = log.after
    before: Any = log.before
    changed = [after[f].as_string().is_distinct_from(before[f].as_string()) for f in DECLARED_FIELDS[kind]]
    conds: list[ColumnElement[bool]] = [
        log.kind == kind,
        or_(log.action == ChangeAction.CREATE, and_(log.action == ChangeAction.UPDATE, or_(*changed))),
    ]
    if at is not None:
        conds.append(log.at <= at)
    # Only objects a department user ever wrote can be pending: ranking just their entries gives the same rows
    # as ranking every object's (the latest entry must be by such a user) without reading the whole change log.
    declaring = aliased(ChangeLog)
    declared_ids = select(declaring.object_id).where(
        declaring.kind == kind, declaring.actor_role.in_(SELF_DECLARING_ROLES)
    )
    conds.append(log.object_id.in_(declared_ids))
    ranked = (
        select(
            log.object_id.label("id"),
            log.actor.label("declared_by"),
            log.actor_role.label("role"),
            log.at.label("declared_at"),
            after["status"].as_string().label("status"),
            func.row_number().over(partition_by=log.object_id, order_by=(log.at.desc(), log.id.desc())).label("rn"),
        )
        .where(*conds)
        .subquery(f"pd_{kind}_ranked")
    )
    conf = aliased(ChangeLog)
    conf_after: Any = conf.after
    c_conds: list[ColumnElement[bool]] = [
        conf.kind == kind,
        conf.action == ChangeAction.DECIDE,
        _is_true(conf_after["confirmed"].as_boolean()),
    ]
    if at is not None:
        c_conds.append(conf.at <= at)
    confirmed = (
        select(conf.object_id.label("id"), func.max(conf.at).label("at"))
        .where(*c_conds)
        .group_by(conf.object_id)
        .subquery(f"pd_{kind}_confirmed")
    )
    q = (
        select(ranked.c.id, ranked.c.declared_by, ranked.c.declared_at, ranked.c.status)
        .outerjoin(confirmed, confirmed.c.id == ranked.c.id)
        .where(
            ranked.c.rn == 1,
            ranked.c.role.in_(SELF_DECLARING_ROLES),
            ranked.c.status.in_(DONE_STATUSES[kind]),
            or_(confirmed.c.at.is_(None), confirmed.c.at < ranked.c.declared_at),
        )
    )
    if kind == "systems":
        ev = aliased(ChangeLog)
        ev_after: Any = ev.after
        ev_conds: list[ColumnElement[bool]] = [
            ev.kind == "resource_requests",
            ev_after["status"].as_string() == "active",
            _requests.c.target_hosting == Hosting.GOV_CLOUD.value,
            _requests.c.system_id.is_not(None),
        ]
        if at is not None:
            ev_conds.append(ev.at <= at)
        evidence = select(_requests.c.system_id).join(ev, ev.object_id == _requests.c.id).where(*ev_conds)
        q = q.where(ranked.c.id.not_in(evidence))
    return q.subquery(f"pd_{kind}")


def _owned_items(
    kind: str, at: datetime | None, label: str, subject: SubjectKind, done: tuple[str, ...], retired: str
) -> Select[Any]:
    """Items of a unit-owned kind with a status (systems, networks): done and retired decided by status value.

    Systems also need their cloud: 上云 counts only on the gov cloud (or a cloud built on it) or on a cloud
    brought under unified management (纳入统筹管理, `clouds.managed`); a "migrated" system elsewhere stays open
    with that reason as its note. A completion a department user declared itself counts only once confirmed
    (`pending_declarations`); until then the item is open with that note.
    """
    fields: dict[str, FieldType] = {
        "code": "str",
        "name": "str",
        "owner_unit_id": "int",
        "classified": "bool",
        "status": "str",
    }
    if kind == "systems":
        fields["cloud_id"] = "int"
    t = state(kind, at, fields, kind[0])
    status_done: ColumnElement[bool] = t.c.status.in_(done)
    pending = t.c.id.in_(select(pending_declarations(kind, at).c.id))
    is_done: ColumnElement[bool] = and_(status_done, ~pending)
    note: Any = case((and_(status_done, pending), literal(SELF_DECLARED)), else_=literal(None, String()))
    stmt_from: Any = t
    if kind == "systems":
        cloud_fields: dict[str, FieldType] = {"code": "str", "kind": "str", "managed": "bool", "on_gov_cloud": "bool"}
        c = state("clouds", at, cloud_fields, "cl")
        c0 = c if at is None else first_state("clouds", cloud_fields, "cl0")
        # Before a cloud's first record its first recorded kind holds (a gov-cloud site was always one); being
        # brought under management is a dated decision and counts only from its record (docs/rates.md).
        gov_kind = or_(
            func.coalesce(c.c.kind, c0.c.kind) == CloudKind.GOV_CLOUD.value,
            _is_true(func.coalesce(c.c.on_gov_cloud, c0.c.on_gov_cloud)),
        )
        counted_cloud = or_(gov_kind, _is_true(c.c.managed))
        cloud_code = func.coalesce(c.c.code, c0.c.code, "—")
        note = case(
            (and_(status_done, pending), literal(SELF_DECLARED)),
            (
                and_(status_done, t.c.cloud_id.is_(None)),
                literal(NO_CLOUD),
            ),
            (
                and_(status_done, ~func.coalesce(counted_cloud, false()), c.c.id.is_(None)),
                literal(UNRECORDED_CLOUD) + cloud_code,
            ),
            (
                and_(status_done, ~func.coalesce(counted_cloud, false())),
                literal(UNMANAGED_CLOUD) + cloud_code,
            ),
            else_=literal(None, String()),
        )
        is_done = and_(is_done, func.coalesce(counted_cloud, false()))
        stmt_from = t.outerjoin(c, c.c.id == t.c.cloud_id)
        if at is not None:
            stmt_from = stmt_from.outerjoin(c0, c0.c.id == t.c.cloud_id)
    return select(
        literal(label).label("kind"),
        t.c.id,
        t.c.code,
        t.c.name,
        t.c.owner_unit_id.label("unit_id"),
        _is_true(t.c.classified).label("classified"),
        t.c.status,
        is_done.label("done"),
        (t.c.status == retired).label("retired"),
        literal(subject.value).label("subject_kind"),
        note.label("note"),
        _NO_REGION.label("region_id"),
    ).select_from(stmt_from)


def _systems(at: datetime | None) -> Select[Any]:
    return _owned_items(
        "systems", at, "system", SubjectKind.SYSTEM, (SystemStatus.MIGRATED.value,), SystemStatus.RETIRED.value
    )


def _networks(at: datetime | None) -> Select[Any]:
    return _owned_items(
        "networks",
        at,
        "network",
        SubjectKind.NETWORK,
        (NetworkStatus.INTERCONNECTED.value, NetworkStatus.MIGRATED.value),
        NetworkStatus.RETIRED.value,
    )


def _service_items(at: datetime | None) -> Select[Any]:
    i = state(
        "service_items", at, {"code": "str", "name": "str", "vertical_system_id": "int", "docking_status": "str"}, "i"
    )
    v = state("vertical_systems", at, {"scope": "str", "owner_unit_id": "int", "classified": "bool"}, "v")
    return (
        select(
            literal("service_item").label("kind"),
            i.c.id,
            i.c.code,
            i.c.name,
            v.c.owner_unit_id.label("unit_id"),
            _is_true(v.c.classified).label("classified"),
            i.c.docking_status.label("status"),
            (i.c.docking_status == DockingStatus.DOCKED.value).label("done"),
            false().label("retired"),
            literal(SubjectKind.SERVICE_ITEM.value).label("subject_kind"),
            literal(None, String()).label("note"),
            _NO_REGION.label("region_id"),
        )
        .join(v, v.c.id == i.c.vertical_system_id)
        .where(v.c.scope.in_([VerticalScope.REGION.value, VerticalScope.CITY.value]))
    )


def region_areas() -> FromClause:
    """(region_id, level, area_id): every region with itself and each ancestor as its area of that level.

    Read from the live region tree (the current organisation); the tree is at most four levels deep.
    """
    r = aliased(Region)
    ups = [aliased(Region) for _ in range(3)]
    parts: list[Any] = [
        select(r.id.label("region_id"), type_coerce(r.level, String()).label("level"), r.id.label("area_id"))
    ]
    for depth in range(1, 4):
        q: Any = select(
            r.id.label("region_id"), type_coerce(ups[depth - 1].level, String()).label("level"), ups[depth - 1].id
        ).select_from(r)
        prev: Any = r
        for up in ups[:depth]:
            q = q.join(up, up.id == prev.parent_id)
            prev = up
        parts.append(q)
    return union_all(*parts).cte("areas").prefix_with("MATERIALIZED")


def _units(at: datetime | None) -> Select[Any]:
    """Units, done when connected to a node of their own level in their own area (a county bureau to its
    county's node): unit and node are mapped to the area of their level in the region tree."""
    u = state("units", at, {"code": "str", "name": "str", "level": "str"}, "u")
    a = state("node_access", at, {"unit_id": "int", "node_id": "int", "status": "str"}, "a")
    nd = state("extranet_nodes", at, {"level": "str", "region_id": "int"}, "nd")
    u2 = state("units", at, {"level": "str", "region_id": "int"}, "u2")
    areas = region_areas()
    ra_u, ra_n = areas.alias("ra_u"), areas.alias("ra_n")
    # Not correlated, so the database builds the set once (a correlated EXISTS re-runs the windows per unit).
    connected_ids = (
        select(a.c.unit_id)
        .join(nd, nd.c.id == a.c.node_id)
        .join(u2, u2.c.id == a.c.unit_id)
        .join(ra_u, and_(ra_u.c.region_id == u2.c.region_id, ra_u.c.level == u2.c.level))
        .join(ra_n, and_(ra_n.c.region_id == nd.c.region_id, ra_n.c.level == nd.c.level))
        .where(
            a.c.status == AccessStatus.CONNECTED.value,
            nd.c.level == u2.c.level,
            ra_n.c.area_id == ra_u.c.area_id,
        )
    )
    # Materialised once: PostgreSQL underestimates the windowed snapshots (rows=1..4) and otherwise re-runs this
    # join as a plain subplan per unit (minutes at 800 units as of a date); SQLite builds the set once either way.
    connected_set = connected_ids.cte("connected").prefix_with("MATERIALIZED")
    connected = u.c.id.in_(select(connected_set.c.unit_id))
    return select(
        literal("unit").label("kind"),
        u.c.id,
        u.c.code,
        u.c.name,
        u.c.id.label("unit_id"),
        false().label("classified"),
        case((connected, literal(AccessStatus.CONNECTED.value)), else_=literal("not_connected")).label("status"),
        connected.label("done"),
        false().label("retired"),
        literal("unit").label("subject_kind"),  # no determinations are made about units
        literal(None, String()).label("note"),
        _NO_REGION.label("region_id"),
    )


def _rooms(at: datetime | None) -> Select[Any]:
    """Rooms: consolidated when closed (its systems moved out); classified rooms are never counted."""
    t = state(
        "rooms", at, {"code": "str", "name": "str", "owner_unit_id": "int", "classified": "bool", "status": "str"}, "rm"
    )
    return _simple_items(
        t, "room", SubjectKind.ROOM.value, _is_true(t.c.classified), t.c.status == RoomStatus.CLOSED.value
    )


def _exits(at: datetime | None) -> Select[Any]:
    """Internet exits: consolidated when merged into the unified exit (consolidated) or closed."""
    t = state("internet_exits", at, {"code": "str", "name": "str", "owner_unit_id": "int", "status": "str"}, "ex")
    status_done = t.c.status.in_(DONE_STATUSES["internet_exits"])
    pending = t.c.id.in_(select(pending_declarations("internet_exits", at).c.id))
    note = case((and_(status_done, pending), literal(SELF_DECLARED)), else_=literal(None, String()))
    return _simple_items(t, "exit", SubjectKind.EXIT.value, false(), and_(status_done, ~pending), note=note)


def _clouds(at: datetime | None) -> Select[Any]:
    """Clouds: under unified management (纳入统筹管理) when `managed`; the gov cloud's sites always are."""
    t = state(
        "clouds",
        at,
        {"code": "str", "name": "str", "owner_unit_id": "int", "kind": "str", "managed": "bool", "region_id": "int"},
        "cd",
    )
    done = or_(t.c.kind == CloudKind.GOV_CLOUD.value, _is_true(t.c.managed))
    status = case((done, literal("managed")), else_=literal("unmanaged"))
    # A cloud without an owner unit (usual for gov-cloud sites) is grouped by its region: city and level of
    # the region it stands in; it belongs to no unit's breakdown.
    region = case((t.c.owner_unit_id.is_(None), t.c.region_id), else_=_NO_REGION)
    return _simple_items(t, "cloud", "cloud", false(), done, status, region=region)


def _simple_items(
    t: FromClause,
    label: str,
    subject: str,
    classified: Any,
    done: Any,
    status: Any = None,
    note: Any = None,
    region: Any = None,
) -> Select[Any]:
    return select(
        literal(label).label("kind"),
        t.c.id,
        t.c.code,
        t.c.name,
        t.c.owner_unit_id.label("unit_id"),
        classified.label("classified"),
        (t.c.status if status is None else status).label("status"),
        done.label("done"),
        false().label("retired"),
        literal(subject).label("subject_kind"),
        (literal(None, String()) if note is None else note).label("note"),
        (_NO_REGION if region is None else region).label("region_id"),
    )


def item_source(key: RateKey, at: datetime | None) -> Subquery:
    """The items counted by one rate, with the facts that decide their category."""
    if key is RateKey.ROOMS_CONSOLIDATED:
        return _rooms(at).subquery("items")
    if key is RateKey.EXITS_CONSOLIDATED:
        return _exits(at).subquery("items")
    if key is RateKey.CLOUDS_MANAGED:
        return _clouds(at).subquery("items")
    if key is RateKey.SYSTEMS_MIGRATED:
        stmt: Any = _systems(at)
    elif key is RateKey.NETWORKS_INTERCONNECTED:
        stmt = _networks(at)
    elif key is RateKey.ITEMS_DOCKED:
        stmt = _service_items(at)
    elif key is RateKey.HORIZONTAL_ACCESS:
        stmt = _units(at)
    else:
        stmt = union_all(_systems(at), _networks(at))
    items: Subquery = stmt.subquery("items")
    return items


KEEP_EXEMPTS = (SubjectKind.ROOM.value, SubjectKind.EXIT.value)  # "keep" leaves these out like an exemption
DETERMINATION_FIELDS: dict[str, FieldType] = {
    "code": "str",
    "subject_kind": "str",
    "subject_id": "int",
    "new_object_code": "str",
    "decision": "str",
    "active": "bool",
    "decided_by": "str",
    "decided_on": "str",
    "reason": "str",
}


def in_force_on(at: datetime | None) -> str:
    """The Beijing date (ISO text) a determination must be decided on or before to be in force at `at`."""
    return times.beijing(at or times.now_utc()).date().isoformat()


def _ranked_determinations(at: datetime | None, by_subject_id: bool = False) -> Subquery:
    """Determinations in force, ranked per subject: rn = 1 is the latest decision (decided_on, then id).

    In force = active and decided on or before the Beijing date of `at` (today when live), as the migration
    planner reads them (migrations_plan.load.in_force): a decision dated in the future takes effect on its date.
    An allow_new is about a new object, never a decision about an existing subject, so it does not take part.
    """
    d = state("determinations", at, DETERMINATION_FIELDS, "d")
    decided_on = cast(d.c.decided_on, String())  # a Date column live, ISO text in snapshots: compare as text
    # by_subject_id: only the subjects whose ids are bound to `ids` (ranked per subject: the same rows for them)
    only: list[ColumnElement[bool]] = [d.c.subject_id.in_(bindparam("ids", expanding=True))] if by_subject_id else []
    return (
        select(
            d,
            func.row_number()
            .over(partition_by=(d.c.subject_kind, d.c.subject_id), order_by=(d.c.decided_on.desc(), d.c.id.desc()))
            .label("rn"),
        )
        .where(
            _is_true(d.c.active),
            d.c.decision != Decision.ALLOW_NEW.value,
            decided_on <= in_force_on(at),
            *only,
        )
        .subquery("d_ranked")
    )


def exclusions(at: datetime | None, by_subject_id: bool = False) -> FromClause:
    """The decisive determination per subject when it excludes (exempt or retire).

    Determinations supersede each other: per subject the latest one in force wins, whatever its decision, so
    an exemption followed by a later "must migrate" no longer excludes.
    """
    ranked = _ranked_determinations(at, by_subject_id)
    kept = and_(ranked.c.decision == Decision.KEEP.value, ranked.c.subject_kind.in_(KEEP_EXEMPTS))
    return (
        select(ranked)
        .where(ranked.c.rn == 1, or_(ranked.c.decision.in_([Decision.EXEMPT.value, Decision.RETIRE.value]), kept))
        .cte("det")
        .prefix_with("MATERIALIZED")
    )


def determination_history(
    session: Session,
    at: datetime | None = None,
    subject_kind: str | None = None,
    subject_id: int | None = None,
    only_superseded: bool = False,
) -> list[dict[str, Any]]:
    """Every determination (as of `at`) with its standing: `in_force` (the latest in force for its subject),
    `superseded` (in force but overtaken by a later one; `superseded_by` names it) or `withdrawn` (inactive)."""
    d = state("determinations", utc(at), DETERMINATION_FIELDS, "d")
    q = select(d)
    if subject_kind is not None:
        q = q.where(d.c.subject_kind == subject_kind)
    if subject_id is not None:
        q = q.where(d.c.subject_id == subject_id)
    rows = [dict(r) for r in session.execute(q).mappings()]

    def subject(r: dict[str, Any]) -> tuple[str, str]:  # a new object (allow_new) is named by its code
        if r["decision"] == Decision.ALLOW_NEW.value or r["subject_id"] is None:
            return r["subject_kind"], f"new:{r['new_object_code']}"
        return r["subject_kind"], str(r["subject_id"])

    day = in_force_on(utc(at))
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for r in sorted(rows, key=lambda r: (str(r["decided_on"]), r["id"])):
        if r["active"] and str(r["decided_on"]) <= day:
            latest[subject(r)] = r
    out: list[dict[str, Any]] = []
    for r in sorted(rows, key=lambda r: (r["subject_kind"], r["subject_id"] or 0, str(r["decided_on"]), r["id"])):
        top = latest.get(subject(r))
        if not r["active"]:
            standing = "withdrawn"
        elif str(r["decided_on"]) > day:
            standing = "not_yet_in_force"
        else:
            standing = "in_force" if top is r else "superseded"
        if only_superseded and standing != "superseded":
            continue
        out.append(
            {
                "id": r["id"],
                "code": r["code"],
                "subject_kind": r["subject_kind"],
                "subject_id": r["subject_id"],
                "new_object_code": r["new_object_code"],
                "decision": r["decision"],
                "decided_by": r["decided_by"],
                "decided_on": str(r["decided_on"]) if r["decided_on"] is not None else None,
                "reason": r["reason"],
                "active": bool(r["active"]),
                "standing": standing,
                "superseded_by": top["code"] if standing == "superseded" and top else None,
            }
        )
    return out


def _city_of(r: Any, r1: Any, r2: Any) -> tuple[Any, Any]:
    """(city code, city name) of region `r` with its parent `r1` and grandparent `r2`."""
    city = RegionLevel.CITY
    city_code = case((r.level == city, r.code), (r1.level == city, r1.code), (r2.level == city, r2.code), else_=r.code)
    city_name = case(
        (r.level == city, r.name),
        (r1.level == city, r1.name),
        (r2.level == city, r2.name),
        (r.level == RegionLevel.REGION, literal(REGION_OWN_GROUP)),
        else_=r.name,
    )
    return city_code, city_name


def unit_dimensions() -> FromClause:
    """Every unit with its code, name, level and city group (the city-level region above its region)."""
    r, r1, r2 = aliased(Region), aliased(Region), aliased(Region)
    city_code, city_name = _city_of(r, r1, r2)
    return (
        select(
            Unit.id.label("unit_id"),
            Unit.code.label("unit_code"),
            Unit.name.label("unit_name"),
            type_coerce(Unit.level, String()).label("level"),
            city_code.label("city_code"),
            city_name.label("city_name"),
        )
        .join(r, r.id == Unit.region_id)
        .outerjoin(r1, r1.id == r.parent_id)
        .outerjoin(r2, r2.id == r1.parent_id)
        .cte("dim")
        .prefix_with("MATERIALIZED")
    )


def region_dimensions() -> FromClause:
    """Every region with its level and city group: the groups of items without an owner unit (clouds)."""
    r, r1, r2 = aliased(Region), aliased(Region), aliased(Region)
    city_code, city_name = _city_of(r, r1, r2)
    return (
        select(
            r.id.label("region_id"),
            type_coerce(r.level, String()).label("level"),
            city_code.label("city_code"),
            city_name.label("city_name"),
        )
        .outerjoin(r1, r1.id == r.parent_id)
        .outerjoin(r2, r2.id == r1.parent_id)
        .cte("rdim")
        .prefix_with("MATERIALIZED")
    )


def _categorised(
    key: RateKey, at: datetime | None, by_id: bool = False
) -> tuple[Subquery, FromClause, ColumnElement[str]]:
    """The items of a rate and the SQL expression of each item's category.

    Exemptions and retirements are non-correlated row-value IN sets: the database builds each set once
    (a join against a derived table would be a nested scan per item on SQLite).
    """
    items = item_source(key, at)
    det = exclusions(at, by_id)  # by_id: the determinations about the items of the bound `ids` only
    subject = tuple_(items.c.subject_kind, items.c.id)

    def decided(decision: Decision) -> ColumnElement[bool]:
        which: ColumnElement[bool] = det.c.decision == decision.value
        if decision is Decision.EXEMPT:  # a room or exit the office decided to keep is out of consolidation
            kept = and_(det.c.decision == Decision.KEEP.value, det.c.subject_kind.in_(KEEP_EXEMPTS))
            which = or_(which, kept)
        return subject.in_(select(det.c.subject_kind, det.c.subject_id).where(which))

    category = case(
        (items.c.classified, literal("classified")),
        (or_(items.c.retired, decided(Decision.RETIRE)), literal("retired")),
        (decided(Decision.EXEMPT), literal("exempt")),
        (items.c.done, literal(NUMERATOR)),
        else_=literal(OPEN),
    )
    return items, det, category


# --- computing the rates ----------------------------------------------------------------------


@dataclass
class _Counts:
    label: str
    by_category: dict[str, int]
    city: str | None = None
    level: str | None = None

    def add_all(self, counts: dict[str, int]) -> None:
        for category, n in counts.items():
            self.by_category[category] = self.by_category.get(category, 0) + n


def _rate_from(key: RateKey, counts: dict[str, int], target: float | None) -> Rate:
    num = counts.get(NUMERATOR, 0)
    return make_rate(key, num, num + counts.get(OPEN, 0), target)


Grouped = list[tuple[Any, Any, str, int]]  # (unit_id, region_id, category, count)
# A rate whose items are the union of other rates' items is counted as the sum of their groups (each item's
# category does not depend on the rate): cloud-network utilisation = systems + networks.
UNION_OF: dict[RateKey, tuple[RateKey, ...]] = {
    RateKey.CLOUD_NETWORK_UTILISATION: (RateKey.SYSTEMS_MIGRATED, RateKey.NETWORKS_INTERCONNECTED)
}


def _grouped(session: Session, key: RateKey, at: datetime | None) -> Grouped:
    """Item counts of one rate per (owner unit, region, category): one grouped SQL query."""
    items, _det, category = _categorised(key, at)
    per_item = select(items.c.unit_id, items.c.region_id, category.label("category")).subquery("per_item")
    grouped = select(per_item.c.unit_id, per_item.c.region_id, per_item.c.category, func.count()).group_by(
        per_item.c.unit_id, per_item.c.region_id, per_item.c.category
    )
    return [(u, r, c, n) for u, r, c, n in session.execute(grouped)]


ItemRow = tuple[int, Any, Any, str]  # (item id, unit_id, region_id, category)


def per_item_query(key: RateKey, by_id: bool = False) -> Select[Any]:
    """(item id, owner unit, region, category) of every live item of a counted rate (not a union): the same SQL as
    `_grouped` before grouping. `by_id`: only the items whose ids are bound to the expanding parameter `ids`.
    Determinations in force are those of today's Beijing date when the query is built (`in_force_on`)."""
    assert key not in UNION_OF, key
    items, _det, category = _categorised(key, None, by_id)
    q = select(items.c.id, items.c.unit_id, items.c.region_id, category.label("category"))
    return q.where(items.c.id.in_(bindparam("ids", expanding=True))) if by_id else q


def per_item(session: Session, key: RateKey, ids: Iterable[int] | None = None) -> list[ItemRow]:
    """Every live item of a counted rate with its owner unit, region and category, or only those with the `ids`."""
    q = per_item_query(key, ids is not None)
    params = {"ids": sorted(set(ids))} if ids is not None else {}
    return [(i, u, r, c) for i, u, r, c in session.execute(q, params)]


@dataclass(frozen=True)
class Dimensions:
    units: dict[Any, Any]
    regions: dict[Any, Any]


def dimensions(session: Session) -> Dimensions:
    # units are few: their names and cities are joined to the per-unit counts here, not to every item
    dims = {r.unit_id: r for r in session.execute(select(unit_dimensions()))}
    rdims = {r.region_id: r for r in session.execute(select(region_dimensions()))}
    return Dimensions(dims, rdims)


def compute(session: Session, key: RateKey, at: datetime | None = None) -> RateReport:
    """One rate, overall and broken down, counted by a single grouped SQL query."""
    at = utc(at)
    return report(key, _grouped(session, key, at), dimensions(session), at or times.now_utc())


def report(key: RateKey, rows: Grouped, dimensions: Dimensions, when: datetime) -> RateReport:
    """A rate's report from its grouped counts (`_grouped`, a stored snapshot or dashboards.live_counts)."""
    dims, rdims = dimensions.units, dimensions.regions
    target = target_at(key, when)
    overall: dict[str, int] = {}
    groups: dict[tuple[str, str], _Counts] = {}

    def group(key: tuple[str, str], label: str, city: str | None = None, level: str | None = None) -> _Counts:
        found = groups.get(key)
        if found is None:
            found = groups[key] = _Counts(label, {}, city, level)
        return found

    # the categories of each owner first (a few per unit), then one lookup and one add per owner and group
    owners: dict[tuple[Any, Any], dict[str, int]] = {}
    for unit_id, region_id, cat, n in rows:
        cats = owners.setdefault((unit_id, region_id if unit_id is None else None), {})
        cats[cat] = cats.get(cat, 0) + n
    for (unit_id, region_id), cats in owners.items():
        for cat, n in cats.items():
            overall[cat] = overall.get(cat, 0) + n
        rd = rdims.get(region_id) if unit_id is None else None
        if rd is not None:  # no owner unit: counted in its region's city and level, in no unit
            group((NO_UNIT, f"{rd.city_code}/{rd.level}"), rd.city_name, rd.city_code, rd.level).add_all(cats)
            group(("city", rd.city_code), rd.city_name).add_all(cats)
            group(("level", rd.level), LEVEL_LABELS.get(rd.level, rd.level)).add_all(cats)
            continue
        d = dims.get(unit_id)
        unit_code, unit_name, level, city_code, city_name = (
            (d.unit_code, d.unit_name, d.level, d.city_code, d.city_name)
            if d
            else (str(unit_id) if unit_id is not None else "", "", "", "", "")
        )
        group(("unit", unit_code or ""), unit_name or "", city_code, level).add_all(cats)
        group(("city", city_code or ""), city_name or "").add_all(cats)
        group(("level", level or ""), LEVEL_LABELS.get(level or "", level or "")).add_all(cats)
    order = {"unit": 0, "city": 1, "level": 2, NO_UNIT: 3}
    level_order = {lv.value: i for i, lv in enumerate(RegionLevel)}
    breakdowns = [
        Breakdown(
            dimension,
            k,
            c.label,
            _rate_from(key, c.by_category, target),
            {r: c.by_category.get(r, 0) for r in EXCLUSION_REASONS},
            c.city,
            c.level,
        )
        for (dimension, k), c in sorted(
            groups.items(), key=lambda g: (order[g[0][0]], level_order.get(g[0][1], 0), g[0][1])
        )
    ]
    zh, en = LABELS[key]
    return RateReport(
        key=key,
        label_zh=zh,
        label_en=en,
        at=when,
        overall=_rate_from(key, overall, target),
        breakdowns=breakdowns,
        excluded_counts={r: overall.get(r, 0) for r in EXCLUSION_REASONS},
    )


def compute_all(
    session: Session, at: datetime | None = None, keys: Iterable[RateKey] = HEADLINE_KEYS, snapshots: bool = True
) -> dict[RateKey, RateReport]:
    """The five rates (or the `keys` given) as of `at` (None: now, from the live tables).

    As of a moment with a valid stored snapshot (dashboards.rate_snapshots: month ends), the counts are read
    from it; `snapshots=False` always counts from the change log.
    """
    when = utc(at)
    dims = dimensions(session)
    counted: dict[RateKey, Grouped] = {}
    stored = rate_snapshots.stored(session, when) if snapshots and when is not None else None

    def rows(key: RateKey) -> Grouped:
        if key not in counted:
            parts = UNION_OF.get(key)
            if parts:
                counted[key] = [r for part in parts for r in rows(part)]
            elif stored is not None and key.value in stored:
                counted[key] = stored[key.value]
            else:
                counted[key] = _grouped(session, key, when)
        return counted[key]

    now = when or times.now_utc()
    return {key: report(key, rows(key), dims, now) for key in keys}


COUNTED_KEYS = tuple(k for k in RateKey if k not in UNION_OF)  # the rates a snapshot stores (unions are sums)


def take_snapshot(session: Session, at: datetime, actor: str) -> int:
    """Count every rate as of `at` from the change log and store it as the snapshot for `at` (replacing one
    taken before); returns the snapshot id. The caller commits."""
    when = utc(at)
    assert when is not None
    fp = rate_snapshots.fingerprint(session, when)  # read first: a change landing meanwhile makes it stale
    counts = {key.value: _grouped(session, key, when) for key in COUNTED_KEYS}
    return rate_snapshots.store(session, when, counts, fp, actor).id


# --- drill-down -------------------------------------------------------------------------------


def _part_filter(part: Part, category: ColumnElement[Any]) -> ColumnElement[bool]:
    if part == "numerator":
        return category == NUMERATOR
    if part == "denominator":
        return category.in_([NUMERATOR, OPEN])
    if part == "excluded":
        return category.in_(list(EXCLUSION_REASONS))
    raise ValueError(f"unknown part {part!r}")


def items(
    session: Session,
    key: RateKey,
    part: Part,
    at: datetime | None = None,
    unit_code: str | None = None,
    city_code: str | None = None,
    level: str | None = None,
    limit: int = 100,
    offset: int = 0,
    unit_ids: Iterable[int] | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """One page of the items behind a number, and how many there are in all.

    Each item: kind, id, code, name, unit_code, unit_name, city_code, city_name, level, status, category; excluded
    items also carry reason, and (when a determination decided it) decision, decided_by, decided_on, decision_reason.
    `unit_ids` restricts to those owner units (scoped callers).
    """
    at = utc(at)
    items_, det, category = _categorised(key, at)
    dim = unit_dimensions()
    rdim = region_dimensions()
    sub = select(items_, category.label("category")).subquery("rows")
    where: list[ColumnElement[bool]] = [_part_filter(part, sub.c.category)]
    if unit_code is not None:
        where.append(sub.c.unit_id.in_(select(dim.c.unit_id).where(dim.c.unit_code == unit_code)))
    for col, rcol, wanted in ((dim.c.city_code, rdim.c.city_code, city_code), (dim.c.level, rdim.c.level, level)):
        if wanted is not None:  # items without an owner unit go by their region
            where.append(
                or_(
                    sub.c.unit_id.in_(select(dim.c.unit_id).where(col == wanted)),
                    and_(sub.c.unit_id.is_(None), sub.c.region_id.in_(select(rdim.c.region_id).where(rcol == wanted))),
                )
            )
    if unit_ids is not None:
        where.append(sub.c.unit_id.in_(list(unit_ids)))
    total = session.scalar(select(func.count()).select_from(sub).where(*where)) or 0
    page = (
        select(sub)
        .where(*where)
        .order_by(sub.c.kind, sub.c.code, sub.c.id)
        .limit(limit)
        .offset(offset)
        .subquery("page")
    )
    rows = session.execute(
        select(
            page,
            dim.c.unit_code,
            dim.c.unit_name,
            func.coalesce(dim.c.level, rdim.c.level).label("level"),
            func.coalesce(dim.c.city_code, rdim.c.city_code).label("city_code"),
            func.coalesce(dim.c.city_name, rdim.c.city_name).label("city_name"),
            det.c.decision.label("decision"),
            det.c.decided_by.label("decided_by"),
            det.c.decided_on.label("decided_on"),
            det.c.reason.label("decision_reason"),
            det.c.code.label("decision_code"),
        )
        .outerjoin(dim, dim.c.unit_id == page.c.unit_id)
        .outerjoin(rdim, rdim.c.region_id == page.c.region_id)
        .outerjoin(det, and_(det.c.subject_kind == page.c.subject_kind, det.c.subject_id == page.c.id))
        .order_by(page.c.kind, page.c.code, page.c.id)
    ).mappings()
    out: list[dict[str, Any]] = []
    for r in rows:
        item: dict[str, Any] = {
            "kind": r["kind"],
            "id": r["id"],
            "code": r["code"],
            "name": r["name"],
            "unit_code": r["unit_code"],
            "unit_name": r["unit_name"],
            "city_code": r["city_code"],
            "city_name": r["city_name"],
            "level": r["level"],
            "status": r["status"],
            "category": r["category"],
        }
        if r["category"] == OPEN and r["note"]:
            item["open_reason"] = r["note"]
        if r["category"] in EXCLUSION_REASONS:
            decided = r["decision"] is not None and r["category"] != "classified"
            item.update(
                reason=r["category"],
                decision=r["decision"] if decided else None,
                decision_code=r["decision_code"] if decided else None,
                decided_by=r["decided_by"] if decided else None,
                decided_on=str(r["decided_on"]) if decided and r["decided_on"] is not None else None,
                decision_reason=r["decision_reason"] if decided else None,
            )
        out.append(item)
    return out, total
