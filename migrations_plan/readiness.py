"""Readiness assessment (迁移就绪度): can this system move to the gov cloud now, and if not, why.

Pure: takes facts, returns an `Assessment` whose reasons say, in Chinese and English, what was found.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from inventory.enums import Decision, SystemStatus
from migrations_plan.facts import DEFAULT_FLAVORS, Capacity, Demand, Flavor, Inventory, SystemFacts


class Outcome(StrEnum):
    READY = "ready"
    NEEDS_WORK = "needs_work"
    BLOCKED = "blocked"
    OUT_OF_SCOPE = "out_of_scope"


class Severity(StrEnum):
    SCOPE = "scope"  # takes the system out of migration altogether
    BLOCKER = "blocker"  # cannot move until resolved by a decision or capacity
    WORK = "work"  # can move once the owner has done something
    INFO = "info"  # explains the plan, nothing to do


OUTCOME_ZH = {
    Outcome.READY: "就绪",
    Outcome.NEEDS_WORK: "需整改",
    Outcome.BLOCKED: "受阻",
    Outcome.OUT_OF_SCOPE: "不纳入迁移",
}


@dataclass(frozen=True)
class Reason:
    code: str
    severity: Severity
    zh: str
    en: str

    def text(self) -> str:
        return f"{self.zh} / {self.en}"


@dataclass(frozen=True)
class Sizing:
    """Target flavor and how many instances of it; `demand` is what the target cloud must have free."""

    flavor: str
    instances: int
    demand: Demand
    estimated: bool  # size unknown in the inventory: smallest flavor assumed


@dataclass(frozen=True)
class Assessment:
    system_id: int
    code: str
    outcome: Outcome
    reasons: tuple[Reason, ...]
    sizing: Sizing | None = None
    target_cloud_id: int | None = None
    candidate_clouds: tuple[int, ...] = field(default=())

    def reason_codes(self) -> list[str]:
        return [r.code for r in self.reasons]


class _Sorted(tuple):  # type: ignore[type-arg]
    """Flavors already sorted smallest first (assess_all sorts once for thousands of systems)."""


def _ordered(flavors: Sequence[Flavor]) -> tuple[Flavor, ...]:
    return tuple(sorted(flavors, key=lambda f: (f.vcpus, f.memory_gb, f.name)))


def size(system: SystemFacts, flavors: Sequence[Flavor] = DEFAULT_FLAVORS) -> tuple[Sizing, list[Reason]]:
    """The smallest flavor that holds the system's vCPUs and memory; several of the largest when none does."""
    ordered = flavors if isinstance(flavors, _Sorted) else _ordered(flavors)
    reasons: list[Reason] = []
    storage = float(system.storage_gb or 0)
    if system.vcpus is None and system.memory_gb is None:
        f = ordered[0]
        reasons.append(
            Reason(
                "size_unknown",
                Severity.WORK,
                f"清单缺少 vCPU/内存，暂按 {f.name} 估算，请补录",
                f"vCPUs/memory unknown; {f.name} assumed, fill in the inventory",
            )
        )
        return Sizing(f.name, 1, Demand(f.vcpus, f.memory_gb, storage), True), reasons
    cpu, mem = float(system.vcpus or 0), float(system.memory_gb or 0)
    for f in ordered:
        if f.vcpus >= cpu and f.memory_gb >= mem:
            return Sizing(f.name, 1, Demand(f.vcpus, f.memory_gb, storage), False), reasons
    big = max(ordered, key=lambda f: (f.vcpus * f.memory_gb, f.name))
    n = max(math.ceil(cpu / big.vcpus), math.ceil(mem / big.memory_gb))
    reasons.append(
        Reason(
            "exceeds_largest_flavor",
            Severity.WORK,
            f"规模超过最大规格 {big.name}，需拆分为 {n} 台",
            f"larger than the largest flavor {big.name}; split across {n} instances",
        )
    )
    return Sizing(big.name, n, Demand(big.vcpus * n, big.memory_gb * n, storage), False), reasons


def _scope(s: SystemFacts) -> Reason | None:
    if s.classified:
        return Reason("classified", Severity.SCOPE, "涉密系统，不上云", "classified: never moves to the cloud")
    if s.status == SystemStatus.RETIRED or s.determination == Decision.RETIRE:
        return Reason("retired", Severity.SCOPE, "已认定下线（僵尸系统清理）", "retired by determination")
    if s.determination == Decision.EXEMPT:
        return Reason("exempt", Severity.SCOPE, "经技术认定豁免迁移", "exempt by technical determination")
    if s.determination == Decision.KEEP:
        return Reason("keep", Severity.SCOPE, "经技术认定保留现状", "kept where it is by determination")
    if s.status == SystemStatus.MIGRATED:
        return Reason("already_migrated", Severity.SCOPE, "已迁移上云", "already migrated")
    return None


def _dependencies(s: SystemFacts, inv: Inventory) -> list[Reason]:
    out: list[Reason] = []
    pending: list[str] = []
    for dep_id in sorted(s.depends_on):
        dep = inv.systems.get(dep_id)
        if dep is None:
            continue
        if dep.classified:
            out.append(
                Reason(
                    "depends_on_classified",
                    Severity.BLOCKER,
                    f"依赖涉密系统 {dep.code}，需解耦或认定豁免",
                    f"depends on classified system {dep.code}: decouple or get an exemption",
                )
            )
        elif dep.status == SystemStatus.RETIRED or dep.determination == Decision.RETIRE:
            out.append(
                Reason(
                    "depends_on_retired",
                    Severity.WORK,
                    f"依赖已下线系统 {dep.code}，需改接替代系统",
                    f"depends on retired system {dep.code}: switch to its replacement",
                )
            )
        elif dep.determination in (Decision.EXEMPT, Decision.KEEP):
            out.append(
                Reason(
                    "depends_on_staying",
                    Severity.INFO,
                    f"依赖系统 {dep.code} 经认定保留原处，需经电子政务外网互通",
                    f"dependency {dep.code} stays where it is by determination: reach it over the extranet",
                )
            )
        elif dep.status != SystemStatus.MIGRATED and not dep.on_cloud:
            pending.append(dep.code)
    if pending:
        named = ", ".join(pending[:5]) + (f" (+{len(pending) - 5})" if len(pending) > 5 else "")
        out.append(
            Reason(
                "dependency_pending",
                Severity.INFO,
                f"依赖系统 {named} 尚未上云，将排在其后",
                f"dependencies {named} not yet on the cloud; moves after them",
            )
        )
    for net_id in sorted(s.networks):
        net = inv.networks.get(net_id)
        if net is None:
            continue
        if net.classified:
            out.append(
                Reason(
                    "depends_on_classified_network",
                    Severity.BLOCKER,
                    f"依赖涉密专网 {net.code}，需解耦或认定豁免",
                    f"depends on classified network {net.code}: decouple or get an exemption",
                )
            )
        elif not net.done:
            out.append(
                Reason(
                    "network_pending",
                    Severity.INFO,
                    f"依赖专网 {net.code} 尚未打通，先迁专网",
                    f"dedicated network {net.code} not yet interconnected; it moves first",
                )
            )
    for room_id in sorted(s.rooms):
        out.append(
            Reason(
                "depends_on_room",
                Severity.WORK,
                f"仍依赖机房资源（机房 #{room_id}），需制定替代方案",
                f"still depends on resources in room #{room_id}: plan their replacement",
            )
        )
    for exit_id in sorted(s.exits):
        ex = inv.exits.get(exit_id)
        if ex is not None and ex.active:
            out.append(
                Reason(
                    "own_internet_exit",
                    Severity.WORK,
                    f"使用自建互联网出口 {ex.code}，需改用政务云统一出口",
                    f"uses its own internet exit {ex.code}: switch to the gov cloud's unified exit",
                )
            )
    return out


def rank_clouds(capacity: Mapping[int, Capacity]) -> list[Capacity]:
    """Target clouds roomiest first (free vCPUs, then memory, then id)."""
    return sorted(capacity.values(), key=lambda c: (-c.vcpus, -c.memory_gb, c.cloud_id))


def pick_target(demand: Demand, capacity: Mapping[int, Capacity] | Sequence[Capacity]) -> list[int]:
    """Clouds that can hold the demand, roomiest first."""
    ranked = rank_clouds(capacity) if isinstance(capacity, Mapping) else capacity
    return [c.cloud_id for c in ranked if c.fits(demand)]


def assess(
    s: SystemFacts,
    inv: Inventory,
    capacity: Mapping[int, Capacity] | Sequence[Capacity] | None = None,
    flavors: Sequence[Flavor] = DEFAULT_FLAVORS,
) -> Assessment:
    """Assess one system; capacity None means unknown (never a blocker), an empty mapping means none anywhere."""
    scope = _scope(s)
    if scope is not None:
        return Assessment(s.id, s.code, Outcome.OUT_OF_SCOPE, (scope,))
    sizing, reasons = size(s, flavors)
    reasons += _dependencies(s, inv)
    candidates: list[int] = []
    if capacity is None:
        reasons.append(Reason("capacity_unknown", Severity.INFO, "目标云容量未知", "target capacity unknown"))
    else:
        candidates = pick_target(sizing.demand, capacity)
        if not candidates:
            reasons.append(
                Reason(
                    "no_capacity",
                    Severity.BLOCKER,
                    f"目标云无足够容量（需 {sizing.demand.vcpus:g} vCPU / {sizing.demand.memory_gb:g} GB）",
                    f"no target cloud has room for {sizing.demand.vcpus:g} vCPU / {sizing.demand.memory_gb:g} GB",
                )
            )
    severities = {r.severity for r in reasons}
    if Severity.BLOCKER in severities:
        outcome = Outcome.BLOCKED
    elif Severity.WORK in severities:
        outcome = Outcome.NEEDS_WORK
    else:
        outcome = Outcome.READY
    return Assessment(
        s.id,
        s.code,
        outcome,
        tuple(reasons),
        sizing,
        candidates[0] if candidates else None,
        tuple(candidates),
    )


def assess_all(
    inv: Inventory,
    capacity: Mapping[int, Capacity] | None = None,
    flavors: Sequence[Flavor] = DEFAULT_FLAVORS,
) -> dict[int, Assessment]:
    """Assess every system, by id (ordered by code for stable output)."""
    ordered = sorted(inv.systems.values(), key=lambda s: (s.code, s.id))
    ranked = rank_clouds(capacity) if capacity is not None else None
    sorted_flavors = _Sorted(_ordered(flavors))
    got = {s.id: assess(s, inv, ranked, sorted_flavors) for s in ordered}
    return _propagate_blockers(inv, got)


# Blockers that point at a dependency rather than at the system itself (the dependency is the root cause).
_VIA_DEPENDENCY = frozenset({"depends_on_classified"})


def _root_why(s: SystemFacts, a: Assessment) -> tuple[str, str] | None:
    """Why `s` is a root cause for what depends on it: classified, or blocked for a reason of its own."""
    if s.classified:
        return "涉密", "classified"
    own = [r for r in a.reasons if r.severity == Severity.BLOCKER and r.code not in _VIA_DEPENDENCY]
    if a.outcome == Outcome.BLOCKED and own:
        return "；".join(r.zh for r in own), "; ".join(r.en for r in own)
    return None


def _propagate_blockers(inv: Inventory, got: dict[int, Assessment]) -> dict[int, Assessment]:
    """A system depending, even transitively, on a blocked or classified system is blocked too.

    One breadth-first walk up the dependents from every root cause at once (roots in code order), through
    systems still to move, so each blocked system names its nearest root and the chain (A → B → C) in
    O(systems + edges). Direct dependents of a classified system already say so themselves.
    """
    dependents: dict[int, list[int]] = {}
    for s in inv.systems.values():
        for d in s.depends_on:
            if d in inv.systems:
                dependents.setdefault(d, []).append(s.id)
    whys: dict[int, tuple[str, str]] = {}
    for sid in sorted(got, key=lambda i: (inv.systems[i].code, i)):
        why = _root_why(inv.systems[sid], got[sid])
        if why is not None and sid in dependents:
            whys[sid] = why
    parent: dict[int, int] = {r: r for r in whys}
    root_of: dict[int, int] = {r: r for r in whys}
    frontier = list(whys)
    while frontier:
        nxt: list[int] = []
        for v in frontier:
            for u in sorted(dependents.get(v, ()), key=lambda i: (inv.systems[i].code, i)):
                if u in parent or got[u].outcome == Outcome.OUT_OF_SCOPE:
                    continue
                parent[u] = v
                root_of[u] = root_of[v]
                nxt.append(u)
        frontier = nxt
    for u, via in parent.items():
        root_id = root_of[u]
        root = inv.systems[root_id]
        if u == root_id or (via == root_id and root.classified):
            continue
        chain = [inv.systems[u].code]
        w = u
        while w != root_id and len(chain) < 4:  # name at most three links, then the root
            w = parent[w]
            chain.append(inv.systems[w].code)
        if w != root_id:
            chain += ["…", root.code]
        path = " → ".join(chain)
        why = whys[root_id]
        reason = Reason(
            "depends_on_blocked",
            Severity.BLOCKER,
            f"依赖链 {path}：根因 {root.code}（{why[0]}）",
            f"dependency chain {path}: root cause {root.code} ({why[1]})",
        )
        a = got[u]
        got[u] = Assessment(
            a.system_id, a.code, Outcome.BLOCKED, (*a.reasons, reason), a.sizing, a.target_cloud_id,
            a.candidate_clouds,
        )  # fmt: skip
    return got
