"""Issue 9 planning rules on hand-drawn graphs: transitive readiness, oversized cycles, 12-month non-use, seasonal use.

Every expected outcome below was worked out by hand from the graph drawn in the test's docstring.
"""

from __future__ import annotations

from datetime import date

from inventory.enums import Hosting, SystemStatus
from migrations_plan.facts import Capacity, Inventory, SystemFacts
from migrations_plan.readiness import Outcome, assess_all
from migrations_plan.waves import Constraints, Item, plan_waves
from migrations_plan.zombies import ProbeHistory, score

TODAY = date(2024, 6, 30)


def sf(i: int, deps: tuple[int, ...] = (), **kw: object) -> SystemFacts:
    kw.setdefault("vcpus", 2)
    kw.setdefault("memory_gb", 4)
    return SystemFacts(id=i, code=f"S{i:03d}", name=f"系统{i}", unit_id=1, depends_on=deps, **kw)  # type: ignore[arg-type]


def test_a_system_depending_even_transitively_on_a_blocked_or_classified_one_is_not_ready() -> None:
    """S001 classified; S002→S001; S003→S002; S004→S003 (chain of 3 to the root).
    S006 too large for the only cloud (no_capacity); S005→S006.
    S008 already migrated, S008→S001; S007→S008: the path runs through a system that is not moving: S007 ready.
    S009 alone: ready. Cycle S010↔S011, S011→S001: both blocked, S010's root is S001 via S011.
    """
    systems = [
        sf(1, classified=True),
        sf(2, (1,)),
        sf(3, (2,)),
        sf(4, (3,)),
        sf(5, (6,)),
        sf(6, vcpus=32, memory_gb=128),
        sf(7, (8,)),
        sf(8, (1,), status=SystemStatus.MIGRATED, hosting=Hosting.GOV_CLOUD, cloud_id=1),
        sf(9),
        sf(10, (11,)),
        sf(11, (10, 1)),
    ]
    inv = Inventory({s.id: s for s in systems})
    got = assess_all(inv, {1: Capacity(1, "GOV", 16, 64, 1000)})
    outcome = {got[i].code: got[i].outcome.value for i in got}
    assert outcome == {
        "S001": "out_of_scope",
        "S002": "blocked",
        "S003": "blocked",
        "S004": "blocked",
        "S005": "blocked",
        "S006": "blocked",
        "S007": "ready",
        "S008": "out_of_scope",
        "S009": "ready",
        "S010": "blocked",
        "S011": "blocked",
    }
    assert sum(a.outcome == Outcome.BLOCKED for a in got.values()) == 7

    def chain(i: int) -> list[str]:
        return [r.zh for r in got[i].reasons if r.code == "depends_on_blocked"]

    assert got[2].reason_codes().count("depends_on_blocked") == 0  # says depends_on_classified itself
    assert chain(3) == ["依赖链 S003 → S002 → S001：根因 S001（涉密）"]
    assert chain(4) == ["依赖链 S004 → S003 → S002 → S001：根因 S001（涉密）"]
    assert len(chain(5)) == 1 and chain(5)[0].startswith("依赖链 S005 → S006：根因 S006（目标云无足够容量")
    assert chain(10) == ["依赖链 S010 → S011 → S001：根因 S001（涉密）"]
    assert "root cause S001 (classified)" in [r.en for r in got[4].reasons][-1]
    assert chain(7) == [] and chain(9) == []


def item(code: str, needs: tuple[str, ...] = (), unit: int = 1, city: int | None = None) -> Item:
    return Item(
        key=code, kind="system", id=int(code[1:]), code=code, name=code, unit_id=unit, city_id=city, needs=needs
    )


def test_a_cycle_larger_than_the_unit_limit_gets_a_wave_of_its_own_with_a_note() -> None:
    """X1→X2→X3→X1, all unit 1, per-unit limit 2; Y1 (unit 1) and Y2 (unit 2) free.
    X-group first (rank X1 < Y1 < Y2) takes wave 1 alone; Y1 and Y2 share wave 2."""
    items = [item("X1", ("X2",)), item("X2", ("X3",)), item("X3", ("X1",)), item("Y1"), item("Y2", unit=2)]
    plan = plan_waves(items, Constraints(max_wave_size=10, max_per_unit=2))
    waves = {p.code: p.wave for p in plan.items}
    assert waves == {"X1": 1, "X2": 1, "X3": 1, "Y1": 2, "Y2": 2}
    x1 = plan.by_key()["X1"]
    assert any("超过每单位每批上限 2" in r and "own wave 1" in r for r in x1.reasons)
    assert plan.cycles == [["X1", "X2", "X3"]]


def test_a_cycle_larger_than_the_city_or_wave_limit_also_gets_its_own_wave() -> None:
    """C1↔C2↔C3 in city 7 (per-city limit 2) and D4 in city 8: D4 may not join the cycle's wave.
    Size: E1↔E2↔E3 with max wave size 2 after A0 took a place in wave 1: the cycle goes alone to wave 2."""
    city = [item("C1", ("C2",), city=7), item("C2", ("C3",), city=7), item("C3", ("C1",), city=7)]
    plan = plan_waves([*city, item("D4", unit=2, city=8)], Constraints(max_wave_size=10, max_per_city=2))
    assert {p.code: p.wave for p in plan.items} == {"C1": 1, "C2": 1, "C3": 1, "D4": 2}
    assert any("超过每市每批上限 2" in r for r in plan.by_key()["C2"].reasons)
    sized = [item("A0"), item("E1", ("E2",)), item("E2", ("E3",)), item("E3", ("E1",)), item("F9", unit=3)]
    plan = plan_waves(sized, Constraints(max_wave_size=2))
    assert {p.code: p.wave for p in plan.items} == {"A0": 1, "E1": 2, "E2": 2, "E3": 2, "F9": 1}
    assert any("循环组 3 项超过每批上限 2" in r for r in plan.by_key()["E1"].reasons)


def test_twelve_months_without_use_makes_a_candidate_on_usage_evidence_alone() -> None:
    # 2023-06-30 → 2024-06-30 is 366 days (2024 is a leap year); 2023-07-02 → 364 days.
    year = score(sf(1, last_access_at=date(2023, 6, 30)), TODAY)
    assert (year.score, year.candidate, year.basis) == (20, True, "unused_12_months")
    assert year.evidence[0].facts == {"days_since_last_access": 366, "unused_12_months": True}
    short = score(sf(2, last_access_at=date(2023, 7, 2)), TODAY)
    assert (short.score, short.candidate, short.basis) == (20, False, None)  # idle (≥180 days) but not a year
    probed = score(sf(3), TODAY, probes=ProbeHistory(1.0, 0, 365))
    assert (probed.score, probed.candidate, probed.basis) == (20, True, "unused_12_months")
    assert score(sf(4), TODAY, probes=ProbeHistory(1.0, 0, 364)).candidate is False
    assert score(sf(5), TODAY, probes=ProbeHistory(1.0, 3, 400)).score == 0  # requests seen: used


def test_a_seasonal_system_with_a_large_user_base_is_not_rare_use() -> None:
    seasonal = score(sf(1, users_count=50000, monthly_visits=3), TODAY)  # used in tax season only
    assert (seasonal.score, seasonal.evidence) == (0, ())
    unknown_users = score(sf(2, monthly_visits=3), TODAY)
    assert unknown_users.score == 10 and unknown_users.evidence[0].facts == {"monthly_visits": 3}
    small = score(sf(3, users_count=5, monthly_visits=3), TODAY)
    assert small.score == 10 and small.evidence[0].facts == {"users_count": 5, "monthly_visits": 3}
    meeting = score(sf(6, business_active=False, monthly_visits=50), TODAY)  # detached 30 + rare use 10
    assert (meeting.score, meeting.candidate) == (40, False)
    # detached (30) + replaceable (25) = 55 ≥ 50: a candidate by score, whatever its user base
    both = score(sf(4, business_active=False, replaced_by_id=9, users_count=50000, monthly_visits=3), TODAY)
    assert (both.score, both.basis) == (55, "score")
