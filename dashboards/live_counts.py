"""Live rates counted incrementally: after a write, only the items the new change-log rows can affect are recounted.

The exporter (dashboards.metrics) recomputes every rate now, every few seconds. A full count reads every item
(100,000 systems: ~1 s); a write changes one. `LiveCounts` keeps, per process, each counted rate's items with their
(owner unit, region, category) and the grouped counts, plus the change-log position they reflect (largest id, row
count, Beijing date). On the next recompute it reads the change-log rows after that position and:

- an item's own row (systems, networks, service items, rooms, internet exits, clouds; creates, updates, deletes,
  declarations and the office's confirmations, which are `decide` rows of the item's kind) → that item is recounted
  by id with the same SQL as the full count (`rates.per_item`): its old group out, its new one in;
- a determination → its subject (before and after the change) is recounted;
- a resource request → its system is recounted (a provisioned gov-cloud request is evidence of a declaration);
- what many items read (a cloud → all systems; a vertical system → all service items; units, node access and
  extranet nodes → horizontal access) → that rate is counted again whole;
- anything it cannot bound → every rate is counted again whole: the region tree, a unit deleted, a kind it does
  not know, more than `MAX_CHANGES` rows since, a new Beijing date (determinations and targets take effect at
  midnight), or a gap (a row committed below the position, which the row count reveals).

Rows of kinds no rate reads (accounts, tokens, devices, plans, reports…) are skipped. The figures are always
those of a full count (tests/unit/dashboards/test_live_counts.py checks it on random writes, both databases).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import times
from core.enums import ChangeAction
from core.models import ChangeLog
from dashboards import rate_snapshots, rates
from dashboards.rates import RateKey, RateReport
from inventory.enums import SubjectKind

K = RateKey
MAX_CHANGES = 5000  # more change-log rows than this since the last count: counting everything is as quick
# An item's own change-log rows: the kind whose objects are the items of a counted rate.
ITEM_RATE: dict[str, RateKey] = {
    "systems": K.SYSTEMS_MIGRATED,
    "networks": K.NETWORKS_INTERCONNECTED,
    "service_items": K.ITEMS_DOCKED,
    "rooms": K.ROOMS_CONSOLIDATED,
    "internet_exits": K.EXITS_CONSOLIDATED,
    "clouds": K.CLOUDS_MANAGED,
}
# Determinations are about one subject: the rate whose item it is.
SUBJECT_RATE: dict[str, RateKey] = {
    SubjectKind.SYSTEM.value: K.SYSTEMS_MIGRATED,
    SubjectKind.NETWORK.value: K.NETWORKS_INTERCONNECTED,
    SubjectKind.SERVICE_ITEM.value: K.ITEMS_DOCKED,
    SubjectKind.ROOM.value: K.ROOMS_CONSOLIDATED,
    SubjectKind.EXIT.value: K.EXITS_CONSOLIDATED,
    SubjectKind.CLOUD.value: K.CLOUDS_MANAGED,
}
# Kinds many items read: a change counts these rates again whole.
WHOLE_RATES: dict[str, tuple[RateKey, ...]] = {
    "clouds": (K.SYSTEMS_MIGRATED,),  # a system counts as migrated only on a gov or managed cloud
    "vertical_systems": (K.ITEMS_DOCKED,),  # scope, owner and classification of its service items
    "units": (K.HORIZONTAL_ACCESS,),
    "node_access": (K.HORIZONTAL_ACCESS,),
    "extranet_nodes": (K.HORIZONTAL_ACCESS,),
}
DETERMINATIONS, REQUESTS = "determinations", "resource_requests"
# Kinds no rate reads (checked against rates.item_source and its helpers): their rows change no figure.
IGNORED_KINDS = frozenset(
    {
        "devices",
        "snmp_devices",
        "device_credentials",
        "accounts",
        "account_logins",
        "api_tokens",
        "notification_subscriptions",
        "quotas",
        "cloud_quota",
        "provision_run",
        "reports",
        "plan_retirement_cases",
        "plan_wave_plans",
        "plan_wave_items",
    }
)
Group = tuple[Any, Any, str]  # (unit_id, region_id, category)


@dataclass
class _Rate:
    """One rate's items and grouped counts. Items map to group numbers (ints only: the garbage collector never
    scans a dict of 100,000 ints, while a dict of tuples would cost it a pause on every full collection)."""

    items: dict[int, int] = field(default_factory=dict)  # item id -> group number
    groups: list[Group] = field(default_factory=list)  # group number -> (unit_id, region_id, category)
    numbers: dict[Group, int] = field(default_factory=dict)
    counts: list[int] = field(default_factory=list)  # group number -> items in it

    @classmethod
    def of(cls, rows: Iterable[rates.ItemRow]) -> _Rate:
        rate = cls()
        rate.replace(set(), rows)
        return rate

    def _number(self, group: Group) -> int:
        n = self.numbers.get(group)
        if n is None:
            n = self.numbers[group] = len(self.groups)
            self.groups.append(group)
            self.counts.append(0)
        return n

    def replace(self, ids: set[int], rows: Iterable[rates.ItemRow]) -> None:
        """Recounted `ids`: each one's old group out, its new one (absent: deleted or no longer counted) in."""
        for i in ids:
            old = self.items.pop(i, None)
            if old is not None:
                self.counts[old] -= 1
        for i, u, r, c in rows:
            n = self._number((u, r, c))
            self.items[i] = n
            self.counts[n] += 1

    def grouped(self) -> rates.Grouped:
        return [(u, r, c, n) for (u, r, c), n in zip(self.groups, self.counts, strict=True) if n > 0]


@dataclass
class _Plan:
    """What the new change-log rows need: everything again, some rates whole, some items by id."""

    everything: bool = False
    dimensions: bool = False  # a unit written: names, levels and cities of the breakdowns read again
    whole: set[RateKey] = field(default_factory=set)
    ids: dict[RateKey, set[int]] = field(default_factory=dict)

    def item(self, key: RateKey, obj_id: Any) -> None:
        if obj_id is not None:
            self.ids.setdefault(key, set()).add(int(obj_id))


def plan(rows: Iterable[Any], system_of_request: dict[int, int | None]) -> _Plan:
    """What to recount for change-log rows (kind, object_id, action, before, after)."""
    p = _Plan()
    for kind, obj_id, action, before, after in rows:
        if kind in IGNORED_KINDS:
            continue
        known = False
        if kind in ITEM_RATE:
            p.item(ITEM_RATE[kind], obj_id)
            known = True
        if kind in WHOLE_RATES:
            p.dimensions |= kind == "units"
            if kind == "units" and action == ChangeAction.DELETE:
                p.everything = True  # owner of items: refused while it owns any, but not bounded here
            p.whole.update(WHOLE_RATES[kind])
            known = True
        if kind == DETERMINATIONS:
            for snap in (before, after):
                if not snap or snap.get("subject_id") is None:
                    continue  # an allow_new is about a new object (no subject yet): no item's category
                key = SUBJECT_RATE.get(str(snap.get("subject_kind")))
                if key is None:
                    p.everything = True
                else:
                    p.item(key, snap["subject_id"])
            known = True
        if kind == REQUESTS:
            for sid in (
                (before or {}).get("system_id"),
                (after or {}).get("system_id"),
                system_of_request.get(int(obj_id)) if obj_id is not None else None,
            ):
                p.item(K.SYSTEMS_MIGRATED, sid)
            known = True
        if not known:  # the region tree, and any kind not listed: not bounded
            p.everything = True
    return p


@dataclass(frozen=True)
class Position:
    top: int  # largest change-log id counted
    count: int  # change-log rows with id <= top
    day: str  # Beijing date of the count


class LiveCounts:
    """The live rates of one process, counted in full once and then by the change-log rows since."""

    def __init__(self, max_changes: int = MAX_CHANGES) -> None:
        self.max_changes = max_changes
        self.position: Position | None = None
        self.counted: dict[RateKey, _Rate] = {}
        self.last: str = "none"  # how the last compute went: "full", "incremental" (tests and logs)
        self._queries: dict[tuple[RateKey, str], Any] = {}  # by-id recount queries built for a Beijing date
        self._reports: dict[RateKey, RateReport] = {}
        self._dims: rates.Dimensions | None = None

    def compute(
        self, session: Session, now: datetime | None = None, fingerprint: tuple[int, int, str] | None = None
    ) -> dict[RateKey, RateReport]:
        """Every rate now, equal to `rates.compute_all(session, keys=tuple(RateKey))`. `fingerprint`: the
        `rate_snapshots.live_fingerprint` the caller read first in this session (read here when not given)."""
        now = now or times.now_utc()
        consistent = consistent_reads(session)
        top, n, day = fingerprint or rate_snapshots.live_fingerprint(session)
        touched: set[RateKey] | None = None  # None: every rate
        same_units = False  # no unit or region written since the dimensions were read
        try:
            p = self._changes(session, top, n, day, consistent)
            if p is None or p.everything:
                self._count_all(session, top, n, day, consistent)
            else:
                for key in p.whole:
                    self.counted[key] = _Rate.of(rates.per_item(session, key))
                for key, ids in p.ids.items():
                    if key not in p.whole:
                        rows = session.execute(self._by_id(key, day), {"ids": sorted(ids)})
                        self.counted[key].replace(ids, [(i, u, r, c) for i, u, r, c in rows])
                touched = p.whole | set(p.ids)
                same_units = not p.dimensions
                self.last = "incremental"
        except BaseException:
            self.position = None  # half applied: count everything next time
            raise
        dims = self._dims if same_units and self._dims is not None else rates.dimensions(session)
        if dims != self._dims:  # a unit renamed or moved: every breakdown may change
            touched = None
        self._dims = dims

        def grouped(key: RateKey) -> rates.Grouped:
            return [row for part in rates.UNION_OF.get(key, (key,)) for row in self.counted[part].grouped()]

        def changed(key: RateKey) -> bool:
            parts = rates.UNION_OF.get(key, (key,))
            return touched is None or key not in self._reports or any(part in touched for part in parts)

        # A rate nothing touched keeps its report (same items, same units, same day): only its time is new.
        self._reports = {
            key: rates.report(key, grouped(key), dims, now)
            if changed(key)
            else dataclasses.replace(self._reports[key], at=now)
            for key in RateKey
        }
        return dict(self._reports)

    def _by_id(self, key: RateKey, day: str) -> Any:
        """The by-id recount query of a rate, built once per Beijing date (its determinations in force)."""
        if (key, day) not in self._queries:
            self._queries = {k: q for k, q in self._queries.items() if k[1] == day}
            self._queries[(key, day)] = rates.per_item_query(key, by_id=True)
        return self._queries[(key, day)]

    def _changes(self, session: Session, top: int, n: int, day: str, consistent: bool) -> _Plan | None:
        """The recount the rows after the position need, and the new position; None: count everything."""
        pos = self.position
        if pos is None or day != pos.day or top < pos.top:
            return None
        if top == pos.top:  # no new row: nothing to recount, unless a row came in below the position
            return _Plan() if n == pos.count else None
        cols: list[Any] = [ChangeLog.kind, ChangeLog.object_id, ChangeLog.action, ChangeLog.before, ChangeLog.after]
        if not consistent:
            # The rows and the count of rows up to `top` in one statement (one snapshot): a row committed late
            # below the position makes the count exceed position + new rows.
            cols.append(select(func.count()).select_from(ChangeLog).where(ChangeLog.id <= top).scalar_subquery())
        rows = session.execute(
            select(*cols)
            .where(ChangeLog.id > pos.top, ChangeLog.id <= top)
            .order_by(ChangeLog.id)
            .limit(self.max_changes + 1)
        ).all()
        upto = n if consistent else (rows[0][5] if rows else -1)
        if not rows or len(rows) > self.max_changes or upto != pos.count + len(rows):
            return None
        request_ids = [int(r[1]) for r in rows if r[0] == REQUESTS and r[1] is not None]
        systems = _systems_of_requests(session, request_ids) if request_ids else {}
        p = plan((r[:5] for r in rows), systems)
        self.position = Position(top, pos.count + len(rows), day)
        return p

    def _count_all(self, session: Session, top: int, n: int, day: str, consistent: bool) -> None:
        if not consistent:
            n = session.scalar(select(func.count()).select_from(ChangeLog).where(ChangeLog.id <= top)) or 0
        self.counted = {key: _Rate.of(rates.per_item(session, key)) for key in rates.COUNTED_KEYS}
        self.position = Position(top, int(n), day)
        self.last = "full"


def consistent_reads(session: Session) -> bool:
    """Whether the session's reads see one state of the change log: on SQLite rows commit in id order (one
    writer), so the rows up to an id read once are all there; on PostgreSQL a lower id may commit after a higher
    one, so the reads must share one snapshot (REPEATABLE READ, set here when the session has not read yet)."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    if not session.in_transaction():
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        return True
    return str(session.connection().get_isolation_level()).upper() in ("REPEATABLE READ", "SERIALIZABLE")


def _systems_of_requests(session: Session, ids: list[int]) -> dict[int, int | None]:
    """The system of each resource request (read by table name: the orchestrator owns the table)."""
    t = rates.requests_table
    return {int(i): s for i, s in session.execute(select(t.c.id, t.c.system_id).where(t.c.id.in_(ids)))}
