"""Placement: every filter, every weigher, the DR rule, explanations, and place_all == place + consume."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from orchestrator.placement.engine import (
    Candidate,
    DRLevel,
    PlacementPolicy,
    PlacementRequest,
    Role,
    consume,
    place,
    place_all,
)


def cand(cloud: str = "gov-nanning", az: str = "az1", site: str = "南宁核心", **kw: object) -> Candidate:
    base: dict[str, object] = {
        "cloud": cloud,
        "region": "RegionOne",
        "az": az,
        "site": site,
        "cloud_kind": "gov_cloud",
        "total_vcpus": 100,
        "total_ram_mb": 409600,
        "total_disk_gb": 10000,
        "free_vcpus": 100,
        "free_ram_mb": 409600,
        "free_disk_gb": 10000,
    }
    base.update(kw)
    return Candidate(**base)  # type: ignore[arg-type]


def req(vcpus: int = 4, ram_mb: int = 8192, disk_gb: int = 100, **kw: object) -> PlacementRequest:
    base: dict[str, object] = {"request_id": "R1", "unit_id": 7, "unit_path": (7, 3, 1)}
    base.update(kw)
    return PlacementRequest(vcpus=vcpus, ram_mb=ram_mb, disk_gb=disk_gb, **base)  # type: ignore[arg-type]


def removed_by(decision, key: str) -> set[str]:  # type: ignore[no-untyped-def]
    return {r.filter for r in decision.removed if r.candidate == key}


def test_classified_request_is_never_placed() -> None:
    d = place(req(classified=True), [cand()])
    assert not d.ok and d.primary is None
    assert "classified" in (d.error or "")


def test_capacity_filter_removes_too_small_slots_and_says_which_resource() -> None:
    small = cand(az="small", free_vcpus=2)
    big = cand(az="big")
    d = place(req(vcpus=4), [small, big])
    assert d.ok and d.primary is not None and d.primary.candidate.az == "big"
    [r] = [r for r in d.removed if r.candidate == small.key]
    assert r.filter == "capacity" and "vcpus 2 < 4" in r.reason


def test_industry_cloud_and_legacy_sub_cloud_are_filtered_new_sub_cloud_on_gov_cloud_allowed() -> None:
    industry = cand("industry", cloud_kind="industry_cloud", on_gov_cloud=False, cost=0.0)
    legacy = cand("legacy-sub", cloud_kind="sub_cloud", on_gov_cloud=False, cost=0.0)
    new_sub = cand("new-sub", cloud_kind="sub_cloud", on_gov_cloud=True, owner_unit_id=3, cost=0.0)
    d = place(req(), [industry, legacy, new_sub])
    assert removed_by(d, industry.key) == {"gov_cloud"}
    assert removed_by(d, legacy.key) == {"gov_cloud"}
    assert d.primary is not None and d.primary.candidate.cloud == "new-sub"


def test_sub_cloud_serves_only_its_owner_units_line() -> None:
    other = cand("other-sub", cloud_kind="sub_cloud", owner_unit_id=99)
    gov = cand("gov", free_vcpus=10)
    d = place(req(), [other, gov])
    assert removed_by(d, other.key) == {"owner"}
    assert d.primary is not None and d.primary.candidate.cloud == "gov"


def test_unmanaged_cloud_is_not_provisionable() -> None:
    d = place(req(), [cand(provisionable=False)])
    assert not d.ok and {r.filter for r in d.removed} == {"provisionable"}


def test_free_capacity_weigher_prefers_emptier_slot() -> None:
    busy = cand(az="busy", free_vcpus=20, free_ram_mb=81920)
    idle = cand(az="idle", free_vcpus=90, free_ram_mb=368640)
    d = place(req(), [busy, idle])
    assert d.primary is not None and d.primary.candidate.az == "idle"
    ranks = dict(d.ranking)
    assert ranks[idle.key] > ranks[busy.key]


def test_cost_weigher_prefers_cheaper_slot_when_equally_free() -> None:
    d = place(req(), [cand(az="dear", cost=0.9), cand(az="cheap", cost=0.1)])
    assert d.primary is not None and d.primary.candidate.az == "cheap"
    assert d.primary.scores["cost"] == pytest.approx(0.5 * 0.9)


def test_unit_affinity_beats_slightly_more_free_capacity() -> None:
    mine = cand(az="mine", free_vcpus=80, free_ram_mb=327680, units_present=frozenset({7}))
    other = cand(az="other")
    d = place(req(), [mine, other])
    assert d.primary is not None and d.primary.candidate.az == "mine"
    assert d.primary.scores["affinity"] > 0


def test_remote_dr_puts_primary_in_nanning_core_and_replica_in_guilin_or_wuzhou() -> None:
    nn = cand("gov-nanning", site="南宁核心", free_vcpus=50)
    gl = cand("gov-guilin", site="桂林灾备", cost=0.2)
    wz = cand("gov-wuzhou", site="梧州灾备")
    liuzhou = cand("gov-liuzhou", site="柳州")
    d = place(req(dr_level=DRLevel.REMOTE_DR), [gl, wz, liuzhou, nn])
    assert d.ok and d.primary is not None and d.replica is not None
    assert d.primary.candidate.cloud == "gov-nanning"
    assert d.replica.candidate.cloud == "gov-guilin"
    assert d.primary.candidate.site != d.replica.candidate.site
    reasons = {(r.candidate, r.filter) for r in d.removed}
    assert (liuzhou.key, "dr_site") in reasons and (gl.key, "dr_site") in reasons


def test_active_active_without_dr_site_capacity_fails_with_reason() -> None:
    nn = cand("gov-nanning", site="Nanning core")
    gl = cand("gov-guilin", site="Guilin DR", free_vcpus=1)
    d = place(req(dr_level=DRLevel.ACTIVE_ACTIVE), [nn, gl])
    assert not d.ok and "replica" in (d.error or "")
    assert any(r.candidate == gl.key and r.filter == "capacity" for r in d.removed)


def test_without_dr_any_site_may_host_the_request() -> None:
    d = place(req(), [cand("gov-guilin", site="桂林")])
    assert d.ok and d.primary is not None and d.primary.candidate.cloud == "gov-guilin"


def test_explanation_is_json_ready_and_names_chosen_slot() -> None:
    d = place(req(), [cand(az="a"), cand(az="b", free_vcpus=1)])
    e = d.explain()
    assert e["ok"] is True
    assert e["primary"]["az"] == "a"  # type: ignore[index]
    assert e["removed"] == [
        {
            "candidate": "gov-nanning/RegionOne/b",
            "filter": "capacity",
            "reason": "primary: not enough free capacity: vcpus 1 < 4",
        }
    ]


def test_consume_reduces_free_capacity_and_records_presence() -> None:
    c = consume(cand(), req(vcpus=10, ram_mb=1000, disk_gb=5))
    assert (c.free_vcpus, c.free_ram_mb, c.free_disk_gb) == (90, 408600, 9995)
    assert 7 in c.units_present


def test_place_all_spreads_different_units_as_capacity_is_consumed() -> None:
    cands = [cand(az="a"), cand(az="b")]
    reqs = [req(request_id=f"R{i}", unit_id=10 + i, unit_path=(10 + i,), vcpus=10) for i in range(4)]
    decisions, final = place_all(reqs, cands)
    assert all(d.ok for d in decisions)
    chosen = [d.primary.candidate.az for d in decisions if d.primary]
    assert sorted(chosen) == ["a", "a", "b", "b"]
    assert sum(c.free_vcpus for c in final) == 200 - 40


def test_place_all_keeps_one_units_requests_together_by_affinity() -> None:
    decisions, _ = place_all([req(request_id=f"R{i}", vcpus=10) for i in range(3)], [cand(az="a"), cand(az="b")])
    chosen = {d.primary.candidate.az for d in decisions if d.primary}
    assert len(chosen) == 1


def test_place_all_fails_a_request_when_everything_is_full() -> None:
    decisions, _ = place_all([req(request_id="R1", vcpus=80), req(request_id="R2", vcpus=80)], [cand()])
    assert [d.ok for d in decisions] == [True, False]
    assert any(r.filter == "capacity" for r in decisions[1].removed)


def _random_world(rng: random.Random) -> tuple[list[Candidate], list[PlacementRequest]]:
    sites = ["南宁核心", "桂林灾备", "梧州灾备", "柳州"]
    cands = []
    for i in range(rng.randint(1, 25)):
        kind = rng.choice(["gov_cloud", "gov_cloud", "sub_cloud", "industry_cloud"])
        total = rng.choice([32, 64, 128])
        cands.append(
            cand(
                f"c{i}",
                az=f"az{rng.randint(1, 3)}",
                site=rng.choice(sites),
                cloud_kind=kind,
                on_gov_cloud=rng.random() < 0.7,
                owner_unit_id=rng.choice([None, 1, 3, 5]) if kind != "gov_cloud" or rng.random() < 0.2 else None,
                provisionable=rng.random() < 0.95,
                total_vcpus=total,
                free_vcpus=rng.randint(0, total),
                total_ram_mb=total * 4096,
                free_ram_mb=rng.randint(0, total * 4096),
                free_disk_gb=rng.randint(0, 5000),
                cost=rng.choice([0.1, 0.5, 0.9]),
                units_present=frozenset(rng.sample([1, 3, 5, 7, 9], rng.randint(0, 2))),
            )
        )
    reqs = []
    for j in range(rng.randint(1, 40)):
        unit = rng.choice([7, 9, 5])
        path = {7: (7, 3, 1), 9: (9, 1), 5: (5,)}[unit]
        reqs.append(
            req(
                request_id=f"R{j}",
                unit_id=unit,
                unit_path=path,
                vcpus=rng.randint(1, 24),
                ram_mb=rng.randint(512, 65536),
                disk_gb=rng.randint(0, 800),
                dr_level=rng.choice([DRLevel.NONE, DRLevel.NONE, DRLevel.REMOTE_DR, DRLevel.ACTIVE_ACTIVE]),
                classified=rng.random() < 0.05,
            )
        )
    return cands, reqs


@pytest.mark.parametrize("seed", range(60))
def test_place_all_makes_the_same_choices_as_place_then_consume(seed: int) -> None:
    rng = random.Random(seed)
    cands, reqs = _random_world(rng)
    fast, fast_final = place_all(reqs, cands)
    state = {c.key: c for c in cands}
    for r, got in zip(reqs, fast, strict=True):
        want = place(r, list(state.values()))
        assert got.ok == want.ok, (r, got.error, want.error)
        for role in (Role.PRIMARY, Role.REPLICA):
            g = got.primary if role == Role.PRIMARY else got.replica
            w = want.primary if role == Role.PRIMARY else want.replica
            assert (g and g.candidate.key) == (w and w.candidate.key)
            if g and w:
                assert g.scores == w.scores
        if want.ok:
            for ch in (want.primary, want.replica):
                if ch is not None:
                    state[ch.candidate.key] = consume(state[ch.candidate.key], r)
    assert [(c.key, c.free_vcpus) for c in fast_final] == [(c.key, state[c.key].free_vcpus) for c in cands]


def test_policy_site_markers_are_configurable() -> None:
    policy = PlacementPolicy(core_sites=("core-a",), dr_sites=("dr-b",))
    d = place(req(dr_level=DRLevel.REMOTE_DR), [cand("x", site="core-A"), cand("y", site="dr-b")], policy)
    assert d.ok and d.replica is not None and d.replica.candidate.cloud == "y"
    assert replace(policy).site_role("elsewhere").value == "other"
