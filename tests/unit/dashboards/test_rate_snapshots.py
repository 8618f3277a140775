"""Stored month-end snapshots of the rates (dashboards.rate_snapshots) and the exporter's unchanged-log reuse:
figures read from them equal a full count from the change log, whatever was written, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from sqlalchemy import func, select

from core.audit import ChangeContext
from core.db import Database
from core.errors import AppError
from dashboards import rate_snapshots, rates, snapshot_job
from dashboards.metrics import RatesExporter
from dashboards.models import RateSnapshot, RateSnapshotCount
from dashboards.rates import RateKey
from tests.builders import Inv
from tests.known_rates import BETWEEN

K = RateKey
ALL = tuple(RateKey)


def test_a_snapshot_gives_the_hand_count_and_goes_stale_on_a_back_dated_change(
    known: tuple[Database, dict[str, int]],
) -> None:
    db, ids = known
    with db.session() as s:
        rates.take_snapshot(s, BETWEEN, "tester")
        s.commit()
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(RateSnapshot)) == 1
        # 6 counted rates x their (unit, region, category) groups: stored rows, not items
        assert (s.scalar(select(func.count()).select_from(RateSnapshotCount)) or 0) > 6
        assert rate_snapshots.stored(s, BETWEEN) is not None
        between = rates.compute_all(s, BETWEEN, ALL)
    # the figures of test_rates_engine.test_rates_as_of_past_dates_use_the_change_log, counted by hand
    assert (between[K.SYSTEMS_MIGRATED].overall.numerator, between[K.SYSTEMS_MIGRATED].overall.denominator) == (4, 9)
    assert between[K.SYSTEMS_MIGRATED].excluded_counts == {"classified": 1, "retired": 1, "exempt": 1}
    net = between[K.NETWORKS_INTERCONNECTED].overall
    assert (net.numerator, net.denominator) == (2, 3)
    cnu = between[K.CLOUD_NETWORK_UTILISATION].overall
    assert (cnu.numerator, cnu.denominator) == (6, 12)
    with db.session() as s:  # N5 (in progress) recorded as interconnected on 2022-04-01, before BETWEEN
        Inv(s).set("networks", ids["N5"], at=datetime(2022, 4, 1, tzinfo=UTC), status="interconnected")
        s.commit()
    with db.session() as s:
        assert rate_snapshots.stored(s, BETWEEN) is None  # stale: a change landed before its moment
        again = rates.compute_all(s, BETWEEN, ALL)
    net = again[K.NETWORKS_INTERCONNECTED].overall
    assert (net.numerator, net.denominator) == (3, 3)
    cnu = again[K.CLOUD_NETWORK_UTILISATION].overall
    assert (cnu.numerator, cnu.denominator) == (7, 12)


def test_a_change_after_the_moment_keeps_the_snapshot(known: tuple[Database, dict[str, int]]) -> None:
    db, ids = known
    with db.session() as s:
        rates.take_snapshot(s, BETWEEN, "tester")
        s.commit()
    with db.session() as s:
        Inv(s).set("networks", ids["N5"], status="interconnected")  # now: after BETWEEN
        s.commit()
    with db.session() as s:
        assert rate_snapshots.stored(s, BETWEEN) is not None
        net = rates.compute_all(s, BETWEEN)[K.NETWORKS_INTERCONNECTED].overall
    assert (net.numerator, net.denominator) == (2, 3)


def test_an_edit_of_the_region_tree_makes_snapshots_stale(known: tuple[Database, dict[str, int]]) -> None:
    db, ids = known
    with db.session() as s:
        rates.take_snapshot(s, BETWEEN, "tester")
        s.commit()
    with db.session() as s:
        Inv(s).set("regions", ids["450300"], name="桂林")
        s.commit()
    with db.session() as s:
        assert rate_snapshots.stored(s, BETWEEN) is None


def test_the_month_end_job_snapshots_both_moments_once(known: tuple[Database, dict[str, int]]) -> None:
    db, _ = known
    today = datetime(2022, 6, 15).date()
    first = snapshot_job.take_month_end(db, today)
    again = snapshot_job.take_month_end(db, today)
    assert (first.targets, again.targets) == (2, 0)
    with db.session() as s:
        taken = [at.replace(tzinfo=UTC) if at.tzinfo is None else at for at in rate_snapshots.moments(s)]
    # 2022-05-31T23:59:59.999999+08:00 (the report's month end) and 2022-06-01T00:00+08:00 (the target check's)
    assert taken == [datetime(2022, 5, 31, 15, 59, 59, 999999, tzinfo=UTC), datetime(2022, 5, 31, 16, 0, tzinfo=UTC)]


# --- the property: any write sequence, snapshot or reuse == a full count ---------------------------------

MOMENT = datetime(2024, 6, 1, tzinfo=UTC)
BEFORE, AFTER = datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 9, 1, tzinfo=UTC)
WRITES: dict[str, tuple[tuple[str, ...], str, tuple[str, ...]]] = {
    "networks": (("N1", "N3", "N5", "N6"), "status", ("not_started", "in_progress", "interconnected", "migrated")),
    "service_items": (("I1", "I2", "I3", "I4", "I5"), "docking_status", ("not_docked", "in_progress", "docked")),
    "node_access": (("A-RU1", "A-RU2", "A-NU", "A-KU", "A-GU"), "status", ("planned", "connected", "disconnected")),
    "systems": (("S2", "S4", "S6", "S8", "S9", "S11"), "status", ("not_migrated", "in_progress", "retired")),
}
write = st.tuples(
    st.sampled_from(sorted(WRITES)), st.integers(0, 5), st.integers(0, 3), st.sampled_from(["before", "after", "now"])
)


def _apply(db: Database, ids: dict[str, int], batch: list[tuple[str, int, int, str]], role: str = "admin") -> None:
    when = {"before": BEFORE, "after": AFTER, "now": None}
    for kind, which, value, at in batch:
        codes, field, values = WRITES[kind]
        with db.session() as s:
            ctx = ChangeContext(actor="hypothesis", role=role)
            try:
                Inv(s, ctx).set(
                    kind, ids[codes[which % len(codes)]], at=when[at], **{field: values[value % len(values)]}
                )
                s.commit()
            except AppError:  # a write the inventory refuses changes nothing
                s.rollback()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(write, max_size=6), st.lists(write, max_size=6))
def test_random_writes_snapshot_and_reuse_equal_a_full_count(
    known: tuple[Database, dict[str, int]],
    first: list[tuple[str, int, int, str]],
    then: list[tuple[str, int, int, str]],
) -> None:
    db, ids = known
    exporter = RatesExporter(db, CollectorRegistry(), 60)
    _apply(db, ids, first)
    with db.session() as s:
        rates.take_snapshot(s, MOMENT, "hypothesis")
        s.commit()
    exporter.recompute()
    _apply(db, ids, then)
    with db.session() as s:
        used = rate_snapshots.stored(s, MOMENT) is not None
        from_snapshot = rates.compute_all(s, MOMENT, ALL)
        counted = rates.compute_all(s, MOMENT, ALL, snapshots=False)
        live = rates.compute_all(s, keys=ALL)
    assert from_snapshot == counted
    if not any(at == "before" for _, _, _, at in then):  # nothing back-dated: the snapshot must have been read
        assert used
    served = exporter.recompute().reports
    assert {k: (r.overall, r.breakdowns, r.excluded_counts) for k, r in served.items()} == {
        k: (r.overall, r.breakdowns, r.excluded_counts) for k, r in live.items()
    }
