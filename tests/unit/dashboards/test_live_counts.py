"""Incremental live rates (dashboards.live_counts): after writes through the real service functions, the figures
recounted from the change-log rows since equal a full count (hand counts for a few writes; a property on random
write sequences), on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest

from core import times
from core.audit import ChangeContext
from core.db import Database
from core.errors import AppError
from dashboards import confirmations, live_counts, metrics, rates
from dashboards.metrics import RatesExporter, _Families
from dashboards.rates import RateKey, RateReport
from inventory import service
from tests.builders import Inv
from tests.unit.dashboards.test_rates_metrics import samples, value

K = RateKey
ALL = tuple(RateKey)
OFFICE = ChangeContext(actor="office", role="admin")
DEPARTMENT = ChangeContext(actor="dept", role="department_user")


def _compute(db: Database, counts: live_counts.LiveCounts) -> dict[RateKey, RateReport]:
    with db.read_session() as s:
        return counts.compute(s)


def _nd(report: RateReport) -> tuple[int, int]:
    return report.overall.numerator, report.overall.denominator


def _unit(report: RateReport, code: str) -> tuple[int, int]:
    b = next(b for b in report.by("unit") if b.key == code)
    return b.rate.numerator, b.rate.denominator


def _write(db: Database, fn: Any) -> None:
    with db.session() as s:
        fn(s)
        s.commit()


def _today() -> str:
    return times.today_beijing().isoformat()


# --- hand counts (known_rates: systems 5/7, networks 2/4, items 3/4, access 3/6, cloud-network 7/11) -------------


def test_a_system_migrated_is_recounted_alone(known: tuple[Database, dict[str, int]]) -> None:
    db, ids = known
    counts = live_counts.LiveCounts()
    first = _compute(db, counts)
    assert counts.last == "full"
    assert (_nd(first[K.SYSTEMS_MIGRATED]), _unit(first[K.SYSTEMS_MIGRATED], "RU2")) == ((5, 7), (0, 1))
    # S4 (RU2, not migrated) moves onto the gov cloud: RU2 1/1, systems 6/7, cloud-network 8/11
    _write(
        db, lambda s: Inv(s).set("systems", ids["S4"], status="migrated", hosting="gov_cloud", cloud_id=ids["CLOUD"])
    )
    after = _compute(db, counts)
    assert counts.last == "incremental"
    assert _nd(after[K.SYSTEMS_MIGRATED]) == (6, 7)
    assert _unit(after[K.SYSTEMS_MIGRATED], "RU2") == (1, 1)
    assert _nd(after[K.CLOUD_NETWORK_UTILISATION]) == (8, 11)
    assert _nd(after[K.NETWORKS_INTERCONNECTED]) == (2, 4)
    # S4 deleted: it leaves RU2 (0/0 now, S5 retired only) and the systems rate 5/6
    _write(db, lambda s: service.delete(s, "systems", ids["S4"], OFFICE))
    gone = _compute(db, counts)
    assert counts.last == "incremental"
    assert _nd(gone[K.SYSTEMS_MIGRATED]) == (5, 6)
    assert _unit(gone[K.SYSTEMS_MIGRATED], "RU2") == (0, 0)
    assert gone[K.SYSTEMS_MIGRATED].excluded_counts == {"classified": 1, "retired": 2, "exempt": 1}


def test_an_exemption_and_an_owner_change(known: tuple[Database, dict[str, int]]) -> None:
    db, ids = known
    counts = live_counts.LiveCounts()
    _compute(db, counts)
    # S11 (TU, in progress) exempted today: out of the denominator, 5/6, two exempt
    det = {
        "code": "D-S11",
        "subject_kind": "system",
        "subject_id": ids["S11"],
        "decision": "exempt",
        "reason": "有特殊规定",
        "decided_by": "云长制办公室",
        "decided_on": _today(),
    }
    _write(db, lambda s: service.create(s, "determinations", det, OFFICE))
    ex = _compute(db, counts)
    assert counts.last == "incremental"
    assert _nd(ex[K.SYSTEMS_MIGRATED]) == (5, 6)
    assert ex[K.SYSTEMS_MIGRATED].excluded_counts == {"classified": 1, "retired": 2, "exempt": 2}
    assert _unit(ex[K.SYSTEMS_MIGRATED], "TU") == (0, 0)
    # N5 (NU, in progress) handed to GU: NU keeps nothing open in networks (N4 retired), GU 0/1
    _write(db, lambda s: Inv(s).set("networks", ids["N5"], owner_unit_id=ids["GU"]))
    moved = _compute(db, counts)
    assert counts.last == "incremental"
    assert _nd(moved[K.NETWORKS_INTERCONNECTED]) == (2, 4)
    assert _unit(moved[K.NETWORKS_INTERCONNECTED], "GU") == (0, 1)
    assert _unit(moved[K.NETWORKS_INTERCONNECTED], "NU") == (0, 0)


def test_a_declaration_counts_once_confirmed(known: tuple[Database, dict[str, int]]) -> None:
    db, ids = known
    counts = live_counts.LiveCounts()
    _compute(db, counts)
    # N5 declared interconnected by its department: pending, still open (2/4); confirmed by the office: 3/4
    _write(db, lambda s: Inv(s, DEPARTMENT).set("networks", ids["N5"], status="interconnected"))
    declared = _compute(db, counts)
    assert counts.last == "incremental"
    assert _nd(declared[K.NETWORKS_INTERCONNECTED]) == (2, 4)
    _write(db, lambda s: confirmations.confirm(s, OFFICE, "networks", ids["N5"]))
    confirmed = _compute(db, counts)
    assert counts.last == "incremental"
    assert _nd(confirmed[K.NETWORKS_INTERCONNECTED]) == (3, 4)
    assert _nd(confirmed[K.CLOUD_NETWORK_UTILISATION]) == (8, 11)


def test_access_cloud_and_vertical_changes_recount_their_rate(known: tuple[Database, dict[str, int]]) -> None:
    db, ids = known
    counts = live_counts.LiveCounts()
    _compute(db, counts)
    # KU connected to its own county's node: horizontal access 4/6
    _write(db, lambda s: Inv(s).set("node_access", ids["A-KU"], status="connected"))
    acc = _compute(db, counts)
    assert counts.last == "incremental"
    assert _nd(acc[K.HORIZONTAL_ACCESS]) == (4, 6)
    # the gov cloud turned into an unmanaged industry cloud: no system on it counts (0/7), the cloud is open
    _write(
        db, lambda s: service.update(s, "clouds", ids["CLOUD"], {"kind": "industry_cloud", "managed": False}, OFFICE)
    )
    cl = _compute(db, counts)
    assert counts.last == "incremental"
    assert _nd(cl[K.SYSTEMS_MIGRATED]) == (0, 7)
    assert _nd(cl[K.CLOUDS_MANAGED]) == (0, 1)
    # VS2 (city vertical: I4 docked, I5 in progress) becomes national: items docked 2/2
    _write(db, lambda s: Inv(s).set("vertical_systems", ids["VS2"], scope="national"))
    vs = _compute(db, counts)
    assert _nd(vs[K.ITEMS_DOCKED]) == (2, 2)


def test_what_it_cannot_bound_counts_everything(known: tuple[Database, dict[str, int]]) -> None:
    db, ids = known
    counts = live_counts.LiveCounts(max_changes=2)
    _compute(db, counts)
    _write(db, lambda s: Inv(s).set("regions", ids["450300"], name="桂林"))  # the region tree
    _compute(db, counts)
    assert counts.last == "full"
    for code in ("S4", "S11", "S6"):  # three rows since: more than max_changes
        _write(db, lambda s, code=code: Inv(s).set("systems", ids[code], name=f"改名{code}"))
    _compute(db, counts)
    assert counts.last == "full"
    # a row committed below the position (late on PostgreSQL): the row count shows more rows than the new ones
    assert counts.position is not None
    counts.position = dataclasses.replace(counts.position, count=counts.position.count - 1)
    _write(db, lambda s: Inv(s).set("systems", ids["S4"], name="又改名"))
    _compute(db, counts)
    assert counts.last == "full"
    _write(db, lambda s: Inv(s).set("systems", ids["S4"], name="再改名"))
    _compute(db, counts)
    assert counts.last == "incremental"
    # a new Beijing date: determinations and targets may take effect
    counts.position = dataclasses.replace(counts.position, day="2000-01-01")
    _write(db, lambda s: Inv(s).set("systems", ids["S4"], name="三改名"))
    _compute(db, counts)
    assert counts.last == "full"


def test_the_exporter_renders_only_the_changed_rates_and_the_text_is_a_full_render(
    known: tuple[Database, dict[str, int]],
) -> None:
    db, ids = known
    exporter = RatesExporter(db, CollectorRegistry(), 60)
    exporter.recompute()
    before = dict(exporter.renderer.parts)
    _write(
        db, lambda s: Inv(s).set("systems", ids["S4"], status="migrated", hosting="gov_cloud", cloud_id=ids["CLOUD"])
    )
    snap = exporter.recompute()
    assert exporter.counts.last == "incremental"
    changed = {k for k, p in exporter.renderer.parts.items() if p.chunks is not before[k].chunks}
    assert changed == {K.SYSTEMS_MIGRATED, K.CLOUD_NETWORK_UTILISATION}
    at = snap.reports[K.SYSTEMS_MIGRATED].at
    assert snap.text == generate_latest(_Families(metrics.families(snap.reports, at)))
    found = samples(snap.text.decode())
    ru2 = {"rate": "systems_migrated", "unit": "RU2", "city": "450000", "level": "region"}
    assert value(found, "yunwang_rate_numerator_items", **ru2) == 1  # S4 migrated: RU2 1/1
    assert value(found, "yunwang_rate_denominator_items", **ru2) == 1
    assert value(found, "yunwang_rate_excluded_items", **ru2, reason="retired") == 1  # S5


def test_the_plan_of_change_log_rows() -> None:
    det = {"subject_kind": "network", "subject_id": 7}
    p = live_counts.plan(
        [
            ("systems", 3, "update", {}, {}),
            ("accounts", 1, "update", {}, {}),
            ("determinations", 9, "update", {**det, "subject_id": 6}, det),
            ("determinations", 10, "create", None, {"subject_kind": "room", "subject_id": None}),
            ("resource_requests", 4, "decide", {}, {"system_id": 5}),
            ("node_access", 2, "update", {}, {}),
        ],
        {4: 8},
    )
    assert not p.everything and not p.dimensions
    assert p.ids == {K.SYSTEMS_MIGRATED: {3, 5, 8}, K.NETWORKS_INTERCONNECTED: {6, 7}}
    assert p.whole == {K.HORIZONTAL_ACCESS}
    assert live_counts.plan([("regions", 1, "update", {}, {})], {}).everything
    assert live_counts.plan([("some_new_kind", 1, "create", None, {})], {}).everything
    assert live_counts.plan([("units", 1, "delete", {}, None)], {}).everything
    assert live_counts.plan([("units", 1, "update", {}, {})], {}).dimensions  # renamed or moved: read units again
    assert live_counts.plan(
        [("determinations", 1, "create", None, {"subject_kind": "x", "subject_id": 1})], {}
    ).everything


# --- the property: random writes, incremental == a full count --------------------------------------------------

BACK = datetime(2024, 3, 1, tzinfo=UTC)
SYSTEMS = ("S1", "S2", "S4", "S6", "S8", "S9", "S10", "S11")
NETWORKS = ("N1", "N3", "N5", "N6")
UNITS = ("RU1", "RU2", "NU", "KU", "GU", "TU")


def _w_system(s: Any, ids: dict[str, int], n: int, v: int, ctx: ChangeContext) -> None:
    sid = ids[SYSTEMS[n % len(SYSTEMS)]]
    if v % 4 == 0:
        Inv(s, ctx).set("systems", sid, status="migrated", hosting="gov_cloud", cloud_id=ids["CLOUD"])
    elif v % 4 == 1:
        Inv(s, ctx).set("systems", sid, status=("not_migrated", "in_progress", "retired")[v % 3])
    elif v % 4 == 2:
        Inv(s, ctx).set("systems", sid, owner_unit_id=ids[UNITS[v % len(UNITS)]])
    else:
        Inv(s, ctx).set("systems", sid, classified=bool(v % 2))


def _w_new_system(s: Any, ids: dict[str, int], n: int, v: int, ctx: ChangeContext) -> None:
    unit = ids[UNITS[n % len(UNITS)]]
    cloud = {"cloud_id": ids["CLOUD"], "status": "migrated"} if v % 2 else {"room_id": ids["ROOM"]}
    ids[f"NEW{n}{v}"] = Inv(s, ctx).system(unit, **cloud)


def _w_network(s: Any, ids: dict[str, int], n: int, v: int, ctx: ChangeContext) -> None:
    statuses = ("not_started", "in_progress", "interconnected", "migrated", "retired")
    Inv(s, ctx).set("networks", ids[NETWORKS[n % len(NETWORKS)]], status=statuses[v % len(statuses)])


def _w_delete(s: Any, ids: dict[str, int], n: int, v: int, ctx: ChangeContext) -> None:
    kind, codes = ("systems", SYSTEMS) if v % 2 else ("networks", NETWORKS)
    service.delete(s, kind, ids[codes[n % len(codes)]], OFFICE)


def _w_determination(s: Any, ids: dict[str, int], n: int, v: int, ctx: ChangeContext) -> None:
    kind, codes = ("system", SYSTEMS) if v % 2 else ("network", NETWORKS)
    code = f"D{n}{v}-{len(ids)}"
    data: dict[str, Any] = {
        "code": code,
        "subject_kind": kind,
        "subject_id": ids[codes[n % len(codes)]],
        "decision": ("exempt", "retire", "must_migrate")[v % 3],
        "reason": "认定",
        "decided_by": "云长制办公室",
        "decided_on": _today() if v % 4 else "2024-01-01",
    }
    ids[code] = int(service.create(s, "determinations", data, OFFICE).id)  # type: ignore[attr-defined]


def _w_withdraw(s: Any, ids: dict[str, int], n: int, v: int, ctx: ChangeContext) -> None:
    Inv(s, OFFICE).set("determinations", ids[("D-S6", "D-S9", "D-N6", "D-I3")[n % 4]], active=bool(v % 2))


def _w_unit_move(s: Any, ids: dict[str, int], n: int, v: int, ctx: ChangeContext) -> None:
    region = ids[("450000", "450100", "450102", "450300")[v % 4]]
    Inv(s, OFFICE).set("units", ids[UNITS[n % len(UNITS)]], region_id=region)


def _w_access(s: Any, ids: dict[str, int], n: int, v: int, ctx: ChangeContext) -> None:
    codes = ("A-RU1", "A-RU2", "A-NU", "A-KU", "A-GU")
    Inv(s, ctx).set("node_access", ids[codes[n % len(codes)]], status=("planned", "connected", "disconnected")[v % 3])


def _w_item(s: Any, ids: dict[str, int], n: int, v: int, ctx: ChangeContext) -> None:
    codes = ("I1", "I2", "I3", "I4", "I5")
    Inv(s, ctx).set("service_items", ids[codes[n % len(codes)]], docking_status=("not_docked", "docked")[v % 2])


def _w_confirm(s: Any, ids: dict[str, int], n: int, v: int, ctx: ChangeContext) -> None:
    kind, codes = ("systems", SYSTEMS) if v % 2 else ("networks", NETWORKS)
    confirmations.confirm(s, OFFICE, kind, ids[codes[n % len(codes)]])


def _w_cloud(s: Any, ids: dict[str, int], n: int, v: int, ctx: ChangeContext) -> None:
    data = {"kind": ("gov_cloud", "industry_cloud")[v % 2], "managed": bool(n % 2)}
    service.update(s, "clouds", ids["CLOUD"], data, OFFICE)


WRITERS = {
    "system": _w_system,
    "new_system": _w_new_system,
    "network": _w_network,
    "delete": _w_delete,
    "determination": _w_determination,
    "withdraw": _w_withdraw,
    "unit_move": _w_unit_move,
    "access": _w_access,
    "item": _w_item,
    "confirm": _w_confirm,
    "cloud": _w_cloud,
}
write = st.tuples(
    st.sampled_from(sorted(WRITERS)),
    st.integers(0, 7),
    st.integers(0, 11),
    st.sampled_from(["admin", "department_user"]),
    st.booleans(),  # back-dated
)


def _apply(db: Database, ids: dict[str, int], batch: list[tuple[str, int, int, str, bool]]) -> None:
    for name, n, v, role, back in batch:
        ctx = ChangeContext(actor=f"h-{role}", role=role, at=BACK if back else None)
        with db.session() as s:
            try:
                WRITERS[name](s, ids, n, v, ctx)
                s.commit()
            except (AppError, KeyError):  # refused (or already deleted) changes nothing
                s.rollback()


def _figures(reports: dict[RateKey, RateReport]) -> dict[RateKey, Any]:
    return {k: (r.overall, r.breakdowns, r.excluded_counts) for k, r in reports.items()}


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(write, min_size=1, max_size=4), min_size=1, max_size=4))
def test_random_writes_incremental_equals_a_full_count(
    known: tuple[Database, dict[str, int]], batches: list[list[tuple[str, int, int, str, bool]]]
) -> None:
    db, ids = known
    ids = dict(ids)  # examples share the database (function-scoped fixture): new objects per example
    counts = live_counts.LiveCounts()
    _compute(db, counts)
    incremental = 0
    for batch in batches:
        _apply(db, ids, batch)
        got = _compute(db, counts)
        incremental += counts.last == "incremental"
        with db.read_session() as s:
            full = rates.compute_all(s, keys=ALL)
        assert _figures(got) == _figures(full)
    assert incremental == len(batches)  # nothing unbounded written (no region edit): never counted everything again
