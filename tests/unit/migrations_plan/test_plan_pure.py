"""Readiness, zombie scores and wave plans over hand-built facts of known shape (pure functions, no database)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from inventory.enums import Decision, Hosting, NetworkStatus, SystemStatus
from migrations_plan.facts import Capacity, Demand, ExitFacts, Flavor, Inventory, NetworkFacts, SystemFacts
from migrations_plan.readiness import Outcome, assess, assess_all, size
from migrations_plan.waves import Constraints, Item, build_items, plan_waves, strongly_connected
from migrations_plan.zombies import Criteria, ProbeHistory, Utilisation, candidates, score

TODAY = date(2024, 6, 30)


def sysf(i: int, **kw: Any) -> SystemFacts:
    kw.setdefault("vcpus", 2)
    kw.setdefault("memory_gb", 4)
    return SystemFacts(id=i, code=f"S{i:03d}", name=f"系统{i}", unit_id=int(kw.pop("unit_id", 1)), **kw)


def inv_of(
    *systems: SystemFacts, networks: tuple[NetworkFacts, ...] = (), exits: tuple[ExitFacts, ...] = ()
) -> Inventory:
    return Inventory({s.id: s for s in systems}, {n.id: n for n in networks}, {e.id: e for e in exits})


# --- readiness ---------------------------------------------------------------------------------


def test_readiness_outcomes_with_reasons() -> None:
    secret = sysf(1, classified=True)
    uses_secret = sysf(2, depends_on=(1,))
    plain = sysf(3)
    exempt = sysf(4, determination=Decision.EXEMPT)
    retired = sysf(5, status=SystemStatus.RETIRED)
    unknown_size = sysf(6, vcpus=None, memory_gb=None)
    own_exit = sysf(7, exits=(1,))
    done = sysf(8, status=SystemStatus.MIGRATED, hosting=Hosting.GOV_CLOUD, cloud_id=1)
    inv = inv_of(secret, uses_secret, plain, exempt, retired, unknown_size, own_exit, done, exits=(ExitFacts(1, "E1"),))
    got = assess_all(inv)
    assert {sid: a.outcome for sid, a in got.items()} == {
        1: Outcome.OUT_OF_SCOPE,
        2: Outcome.BLOCKED,
        3: Outcome.READY,
        4: Outcome.OUT_OF_SCOPE,
        5: Outcome.OUT_OF_SCOPE,
        6: Outcome.NEEDS_WORK,
        7: Outcome.NEEDS_WORK,
        8: Outcome.OUT_OF_SCOPE,
    }
    assert got[1].reason_codes() == ["classified"]
    assert "depends_on_classified" in got[2].reason_codes()
    assert "S001" in got[2].reasons[[r.code for r in got[2].reasons].index("depends_on_classified")].zh
    assert got[4].reason_codes() == ["exempt"]
    assert got[5].reason_codes() == ["retired"]
    assert "size_unknown" in got[6].reason_codes()
    assert "own_internet_exit" in got[7].reason_codes()
    assert got[8].reason_codes() == ["already_migrated"]


def test_a_dependency_that_stays_by_exemption_is_noted_but_does_not_hold_the_system_back() -> None:
    stays = sysf(1, determination=Decision.EXEMPT)
    user = sysf(2, depends_on=(1,))
    inv = inv_of(stays, user)
    got = assess_all(inv)
    assert got[2].outcome == Outcome.READY and "depends_on_staying" in got[2].reason_codes()
    items, left_out = build_items(inv, got)
    assert [(i.code, i.needs) for i in items] == [("S002", ())] and left_out == []


def test_no_capacity_blocks_and_the_roomiest_fitting_cloud_is_the_target() -> None:
    big = sysf(1, vcpus=16, memory_gb=64)
    small = sysf(2, vcpus=1, memory_gb=1)
    cap = {10: Capacity(10, "C10", 8, 32, 1000), 11: Capacity(11, "C11", 12, 16, 1000)}
    inv = inv_of(big, small)
    a_big, a_small = assess(big, inv, cap), assess(small, inv, cap)
    assert a_big.outcome == Outcome.BLOCKED and "no_capacity" in a_big.reason_codes()
    assert a_small.outcome == Outcome.READY
    assert a_small.candidate_clouds == (11, 10)  # 12 free vCPUs before 8
    assert a_small.target_cloud_id == 11
    # Unknown capacity never blocks.
    assert assess(big, inv, None).outcome == Outcome.READY


def test_flavor_sizing_picks_the_smallest_that_holds_and_splits_the_too_large() -> None:
    flavors = (Flavor("a", 2, 4), Flavor("b", 4, 8), Flavor("c", 8, 32))
    sizing, reasons = size(sysf(1, vcpus=3, memory_gb=4), flavors)
    assert (sizing.flavor, sizing.instances, reasons) == ("b", 1, [])
    sizing, reasons = size(sysf(1, vcpus=20, memory_gb=40), flavors)
    assert (sizing.flavor, sizing.instances) == ("c", 3)
    assert sizing.demand == Demand(24, 96, 0)
    assert [r.code for r in reasons] == ["exceeds_largest_flavor"]


def test_classified_network_dependency_blocks_and_a_pending_network_is_only_noted() -> None:
    nets = (NetworkFacts(1, "N1", "涉密网", 1, classified=True), NetworkFacts(2, "N2", "专网", 1))
    inv = inv_of(sysf(1, networks=(1,)), sysf(2, networks=(2,)), networks=nets)
    got = assess_all(inv)
    assert got[1].outcome == Outcome.BLOCKED and "depends_on_classified_network" in got[1].reason_codes()
    assert got[2].outcome == Outcome.READY and "network_pending" in got[2].reason_codes()


# --- zombies -----------------------------------------------------------------------------------


def test_zombie_score_is_the_sum_of_the_criteria_met_with_their_evidence() -> None:
    z = sysf(
        1,
        business_active=False,
        replaced_by_id=2,
        last_access_at=date(2023, 1, 1),
        last_maintenance_at=date(2022, 6, 30),
        users_count=3,
        monthly_visits=500,
    )
    live = sysf(2, last_access_at=date(2024, 6, 29), last_maintenance_at=date(2024, 5, 1), users_count=500)
    got = score(z, TODAY, replacement_code="S002")
    assert got.score == 100
    assert [e.criterion for e in got.evidence] == ["detached", "replaceable", "idle", "unmaintained", "rare_use"]
    idle = got.evidence[2]
    assert idle.facts == {"days_since_last_access": 546, "unused_12_months": True}  # 2023-01-01 → 2024-06-30
    assert got.evidence[3].facts == {"days_since_last_maintenance": 731}
    assert got.evidence[4].facts == {"users_count": 3}
    assert "S002" in got.evidence[1].zh
    assert score(live, TODAY).score == 0


def test_optional_utilisation_and_probe_evidence_count_as_idle_only_when_long_enough() -> None:
    s = sysf(1)
    c = Criteria()
    assert score(s, TODAY, c, Utilisation(0.01, 90)).evidence[0].facts == {"cpu_ratio": 0.01, "utilisation_days": 90}
    assert score(s, TODAY, c, Utilisation(0.01, 5)).score == 0  # too short to judge
    assert score(s, TODAY, c, Utilisation(0.5, 90)).score == 0  # busy
    assert score(s, TODAY, c, probes=ProbeHistory(1.0, 0, 60)).score == c.idle_points


def test_candidates_meet_the_threshold_highest_first_and_skip_retired() -> None:
    a = sysf(1, business_active=False, replaced_by_id=3)  # 55
    b = sysf(2, business_active=False, users_count=1, last_access_at=date(2020, 1, 1))  # 60
    c = sysf(3, business_active=False)  # 30: below 50
    d = sysf(4, business_active=False, replaced_by_id=3, status=SystemStatus.RETIRED)
    got = candidates({s.id: s for s in (a, b, c, d)}, TODAY)
    assert [(z.code, z.score) for z in got] == [("S002", 60), ("S001", 55)]
    assert got[1].evidence[1].facts["replaced_by"] == "S003"


# --- waves -------------------------------------------------------------------------------------


def item(code: str, needs: tuple[str, ...] = (), unit: int = 1, city: int | None = None, **kw: Any) -> Item:
    return Item(
        key=code, kind="system", id=int(code[1:]), code=code, name=code, unit_id=unit, city_id=city, needs=needs, **kw
    )


def test_no_item_moves_before_what_it_needs() -> None:
    items = [item("S4", ("S3",)), item("S3", ("S1", "S2")), item("S2", ("S1",)), item("S1"), item("S5")]
    plan = plan_waves(items, Constraints(max_wave_size=10))
    by = {p.code: p for p in plan.items}
    assert {c: p.wave for c, p in by.items()} == {"S1": 1, "S5": 1, "S2": 2, "S3": 3, "S4": 4}
    for p in plan.items:
        for dep in p.depends_on:
            assert by[dep].wave is not None and p.wave is not None and by[dep].wave < p.wave  # type: ignore[operator]
    assert "S3" in by["S4"].reasons[0] and "第3批" in by["S4"].reasons[0]
    assert by["S1"].reasons[0].startswith("无待迁依赖")


def test_a_dependency_cycle_moves_together_and_is_reported() -> None:
    items = [item("S1", ("S2",)), item("S2", ("S3",)), item("S3", ("S1",)), item("S4", ("S3",)), item("S0")]
    plan = plan_waves(items, Constraints(max_wave_size=10))
    by = {p.code: p for p in plan.items}
    assert plan.cycles == [["S1", "S2", "S3"]]
    assert by["S1"].wave == by["S2"].wave == by["S3"].wave == 1
    assert by["S1"].group == by["S3"].group == 1 and by["S0"].group is None
    assert by["S4"].wave == 2
    assert any("循环依赖组 1" in r for r in by["S2"].reasons)


def test_max_wave_size_is_respected_and_an_oversized_cycle_gets_its_own_wave() -> None:
    items = [item(f"S{i}") for i in range(1, 8)]
    plan = plan_waves(items, Constraints(max_wave_size=3))
    sizes = [len(plan.wave(w)) for w in range(1, plan.waves + 1)]
    assert sizes == [3, 3, 1]
    assert any("full (max 3" in r for r in plan.by_key()["S7"].reasons)
    cyc = [item("S1", ("S2",)), item("S2", ("S3",)), item("S3", ("S1",)), item("S4")]
    plan = plan_waves(cyc, Constraints(max_wave_size=2))
    by = plan.by_key()
    assert by["S1"].wave == by["S2"].wave == by["S3"].wave
    assert len(plan.wave(by["S1"].wave or 0)) == 3
    assert by["S4"].wave != by["S1"].wave
    assert any("单独成批" in r for r in by["S1"].reasons)


def test_unit_and_city_limits_spread_items_over_waves() -> None:
    items = [item(f"S{i}", unit=1 if i <= 4 else 2, city=7) for i in range(1, 7)]
    plan = plan_waves(items, Constraints(max_wave_size=10, max_per_unit=2))
    for w in range(1, plan.waves + 1):
        units = [p.unit_id for p in plan.wave(w)]
        assert units.count(1) <= 2 and units.count(2) <= 2
    assert plan.waves == 2
    plan = plan_waves(items, Constraints(max_wave_size=10, max_per_city=4))
    assert [len(plan.wave(w)) for w in range(1, plan.waves + 1)] == [4, 2]


def test_capacity_is_consumed_and_what_does_not_fit_stays_out_with_its_dependents() -> None:
    cap = {1: Capacity(1, "GOV", 6, 100, 1000)}
    d = Demand(4, 8, 0)
    items = [item("S1", demand=d), item("S2", demand=d), item("S3", ("S2",), demand=Demand(1, 1, 0))]
    plan = plan_waves(items, Constraints(max_wave_size=10, capacity=cap))
    by = plan.by_key()
    assert by["S1"].wave == 1 and by["S1"].target_cloud_id == 1
    assert by["S2"].wave is None and "no target cloud has room" in by["S2"].reasons[0]
    assert by["S3"].wave is None and "S2" in by["S3"].reasons[0]
    assert [p.code for p in plan.unplanned()] == ["S2", "S3"]


def test_plans_are_deterministic_whatever_the_input_order() -> None:
    items = [item(f"S{i}", tuple(f"S{j}" for j in range(1, i) if (i * j) % 3 == 0), unit=i % 3) for i in range(1, 30)]
    a = plan_waves(items, Constraints(max_wave_size=4, max_per_unit=2))
    b = plan_waves(list(reversed(items)), Constraints(max_wave_size=4, max_per_unit=2))
    assert a == b


def test_build_items_plans_networks_first_and_leaves_out_dependents_of_blocked_systems() -> None:
    nets = (NetworkFacts(1, "N1", "专网", 1), NetworkFacts(2, "N2", "已打通", 1, status=NetworkStatus.INTERCONNECTED))
    secret = sysf(1, classified=True)
    blocked = sysf(2, depends_on=(1,))
    downstream = sysf(3, depends_on=(2,))
    uses_net = sysf(4, networks=(1, 2))
    inv = inv_of(secret, blocked, downstream, uses_net, networks=nets)
    items, left_out = build_items(inv, assess_all(inv))
    assert [i.key for i in items] == ["system:4", "network:1"]
    assert items[0].needs == ("network:1",)
    assert [(p.code, p.wave) for p in left_out] == [("S002", None), ("S003", None)]
    assert "S002" in left_out[1].reasons[0]
    plan = plan_waves(items)
    assert {p.code: p.wave for p in plan.items} == {"N1": 1, "S004": 2}


def test_tarjan_finds_components_dependencies_first() -> None:
    comps = strongly_connected(4, [[1], [0, 2], [], [2]])
    assert comps[0] == [2] and sorted(map(tuple, comps)) == [(0, 1), (2,), (3,)]


def test_invalid_max_wave_size_is_refused() -> None:
    with pytest.raises(ValueError):
        plan_waves([item("S1")], Constraints(max_wave_size=0))


def test_random_inventories_always_give_valid_plans() -> None:
    """Invariants over seeded random graphs with cycles: order, sizes, unit/city limits, capacity."""
    import random

    for seed in range(20):
        rnd = random.Random(seed)
        n = rnd.randint(5, 60)
        needs = {i: {rnd.randint(1, n) for _ in range(rnd.randint(0, 3))} - {i} for i in range(1, n + 1)}
        items = [
            item(f"S{i}", tuple(f"S{j}" for j in sorted(needs[i])), unit=rnd.randint(1, 4), city=rnd.randint(1, 2),
                 demand=Demand(rnd.randint(1, 4), 1, 0))
            for i in range(1, n + 1)
        ]  # fmt: skip
        cap = {1: Capacity(1, "A", rnd.randint(20, 200), 1000, 1000), 2: Capacity(2, "B", 30, 1000, 1000)}
        c = Constraints(max_wave_size=rnd.randint(1, 8), max_per_unit=rnd.randint(1, 4), max_per_city=6, capacity=cap)
        plan = plan_waves(items, c)
        by = plan.by_key()
        groups = {code for cyc in plan.cycles for code in cyc}
        for p in plan.items:
            for dep in p.depends_on:
                same_cycle = p.group is not None and by[dep].group == p.group
                if p.wave is not None:
                    assert by[dep].wave is not None, (seed, p.code, dep)
                    assert same_cycle or by[dep].wave < p.wave, (seed, p.code, dep)  # type: ignore[operator]
        for w in range(1, plan.waves + 1):
            members = plan.wave(w)
            if any(m.code in groups for m in members) and len(members) > c.max_wave_size:
                assert len({m.group for m in members}) == 1  # only an oversized cycle may overfill, alone
                continue
            assert len(members) <= c.max_wave_size
            units = [m.unit_id for m in members if m.group is None]
            assert all(units.count(u) <= (c.max_per_unit or n) for u in set(units))
        used: dict[int, float] = {1: 0, 2: 0}
        for p in plan.items:
            if p.wave is not None and p.target_cloud_id is not None:
                used[p.target_cloud_id] += next(i for i in items if i.code == p.code).demand.vcpus  # type: ignore[union-attr]
        assert all(used[k] <= cap[k].vcpus for k in used)
