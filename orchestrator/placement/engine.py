"""Placement (统一调度): pure filters and weighers over candidate (cloud, region, availability zone) slots.

`place(request, candidates, policy)` scans every candidate and explains everything: which filter removed which
candidate and every survivor's weigher scores. `place_all(requests, candidates, policy)` places many requests in
order, consuming capacity as it goes, with heaps instead of scans (the benchmark's 10,000 requests); it makes the
same choices as `place` would on the same capacity, and explains the policy removals, the better-scored
candidates that were too small, and the chosen candidates' scores.

Policy (《广西政务数据资源管理与应用改革方案》§二(二)2): only non-classified systems; new resources go on the gov cloud or on sub-clouds built
on it, a sub-cloud serves only its owner unit's subtree; DR pairs are a hard constraint: the primary in the
core site (Nanning) and the replica in a DR site (Guilin, Wuzhou) different from the primary's.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from inventory.enums import CloudKind


class DRLevel(StrEnum):
    """Disaster recovery: none, a remote DR replica (异地灾备) or an active-active pair (双活)."""

    NONE = "none"
    REMOTE_DR = "remote_dr"
    ACTIVE_ACTIVE = "active_active"


class SiteRole(StrEnum):
    """What a site is for in the DR topology."""

    CORE = "core"
    DR = "dr"
    OTHER = "other"


class Role(StrEnum):
    """Which copy of a request a slot is being chosen for."""

    PRIMARY = "primary"
    REPLICA = "replica"


@dataclass(frozen=True)
class Candidate:
    """One (cloud, region, availability zone) slot with its free capacity (from the capacity collector)."""

    cloud: str  # clouds.yaml name
    region: str
    az: str
    site: str
    cloud_kind: CloudKind
    on_gov_cloud: bool = True
    owner_unit_id: int | None = None  # sub-clouds belong to a unit
    provisionable: bool = True  # has a clouds.yaml entry and is managed
    total_vcpus: int = 0
    total_ram_mb: int = 0
    total_disk_gb: int = 0
    free_vcpus: int = 0
    free_ram_mb: int = 0
    free_disk_gb: int = 0
    cost: float = 0.5  # relative price, 0 (cheapest) .. 1
    units_present: frozenset[int] = frozenset()  # units that already run resources here (affinity)

    @property
    def key(self) -> str:
        return f"{self.cloud}/{self.region}/{self.az}"


@dataclass(frozen=True)
class PlacementRequest:
    """What placement needs to know about a request: who, how big (one copy), how resilient."""

    request_id: str
    unit_id: int
    unit_path: tuple[int, ...]  # the unit and its ancestors, nearest first
    vcpus: int
    ram_mb: int
    disk_gb: int
    dr_level: DRLevel = DRLevel.NONE
    classified: bool = False


@dataclass(frozen=True)
class PlacementPolicy:
    """Site roles and weigher multipliers (from settings)."""

    core_sites: tuple[str, ...] = ("nanning", "南宁")
    dr_sites: tuple[str, ...] = ("guilin", "桂林", "wuzhou", "梧州")
    weight_free: float = 1.0  # prefer emptier slots (spread)
    weight_cost: float = 0.5  # prefer cheaper slots
    weight_affinity: float = 0.75  # prefer slots the unit already uses or owns
    weight_gov_cloud: float = 0.25  # prefer the gov cloud itself over sub-clouds built on it

    def site_role(self, site: str) -> SiteRole:
        low = site.lower()
        if any(m in low for m in self.core_sites):
            return SiteRole.CORE
        if any(m in low for m in self.dr_sites):
            return SiteRole.DR
        return SiteRole.OTHER


@dataclass(frozen=True)
class Removal:
    """A candidate a filter removed, and why."""

    candidate: str
    filter: str
    reason: str


@dataclass(frozen=True)
class Choice:
    """The slot chosen for one copy, with its weigher scores."""

    role: Role
    candidate: Candidate
    scores: dict[str, float]

    @property
    def total(self) -> float:
        return sum(self.scores.values())


@dataclass(frozen=True)
class Decision:
    """The outcome of placing one request, with its explanation."""

    request_id: str
    ok: bool
    primary: Choice | None = None
    replica: Choice | None = None
    removed: tuple[Removal, ...] = ()
    ranking: tuple[tuple[str, float], ...] = ()  # survivors by total score (full scans only)
    error: str | None = None

    def explain(self) -> dict[str, object]:
        """The decision as JSON-ready data (stored on the request and returned by the API)."""

        def choice(c: Choice | None) -> dict[str, object] | None:
            if c is None:
                return None
            return {
                "candidate": c.candidate.key,
                "cloud": c.candidate.cloud,
                "region": c.candidate.region,
                "az": c.candidate.az,
                "site": c.candidate.site,
                "scores": {k: round(v, 4) for k, v in c.scores.items()},
                "total": round(c.total, 4),
            }

        return {
            "ok": self.ok,
            "error": self.error,
            "primary": choice(self.primary),
            "replica": choice(self.replica),
            "removed": [{"candidate": r.candidate, "filter": r.filter, "reason": r.reason} for r in self.removed],
            "ranking": [{"candidate": k, "total": round(s, 4)} for k, s in self.ranking],
        }


# --- filters --------------------------------------------------------------------------------------------------
# A filter takes (request, role, candidate, policy, primary) and returns why it removes the candidate, or None.

Filter = Callable[[PlacementRequest, Role, Candidate, PlacementPolicy, "Candidate | None"], str | None]


def provisionable_filter(
    r: PlacementRequest, role: Role, c: Candidate, p: PlacementPolicy, primary: Candidate | None
) -> str | None:
    return None if c.provisionable else "not managed or no clouds.yaml entry"


def gov_cloud_filter(
    r: PlacementRequest, role: Role, c: Candidate, p: PlacementPolicy, primary: Candidate | None
) -> str | None:
    if c.cloud_kind == CloudKind.GOV_CLOUD or (c.cloud_kind == CloudKind.SUB_CLOUD and c.on_gov_cloud):
        return None
    return f"{c.cloud_kind} not built on the gov cloud; new resources go on the gov cloud"


def owner_filter(
    r: PlacementRequest, role: Role, c: Candidate, p: PlacementPolicy, primary: Candidate | None
) -> str | None:
    if not _owned_sub_cloud(c) or c.owner_unit_id in r.unit_path:
        return None
    return f"sub-cloud of unit {c.owner_unit_id}, outside the requesting unit's line"


def dr_site_filter(
    r: PlacementRequest, role: Role, c: Candidate, p: PlacementPolicy, primary: Candidate | None
) -> str | None:
    if r.dr_level == DRLevel.NONE:
        return None
    site_role = p.site_role(c.site)
    if role == Role.PRIMARY and site_role != SiteRole.CORE:
        return f"{r.dr_level.value}: the primary must be in the core site, {c.site!r} is {site_role.value}"
    if role == Role.REPLICA:
        if site_role != SiteRole.DR:
            return f"{r.dr_level.value}: the replica must be in a DR site, {c.site!r} is {site_role.value}"
        if primary is not None and c.site == primary.site:
            return "the replica must be in a different site from the primary"
    return None


POLICY_FILTERS: tuple[tuple[str, Filter], ...] = (
    ("provisionable", provisionable_filter),
    ("gov_cloud", gov_cloud_filter),
    ("owner", owner_filter),
    ("dr_site", dr_site_filter),
)


def fits(r: PlacementRequest, free_vcpus: int, free_ram_mb: int, free_disk_gb: int) -> bool:
    return free_vcpus >= r.vcpus and free_ram_mb >= r.ram_mb and free_disk_gb >= r.disk_gb


def capacity_reason(r: PlacementRequest, c: Candidate) -> str:
    short = [
        f"{name} {free} < {need}"
        for name, free, need in (
            ("vcpus", c.free_vcpus, r.vcpus),
            ("ram_mb", c.free_ram_mb, r.ram_mb),
            ("disk_gb", c.free_disk_gb, r.disk_gb),
        )
        if free < need
    ]
    return "not enough free capacity: " + ", ".join(short)


def policy_removal(
    r: PlacementRequest, role: Role, c: Candidate, p: PlacementPolicy, primary: Candidate | None
) -> Removal | None:
    for name, check in POLICY_FILTERS:
        why = check(r, role, c, p, primary)
        if why is not None:
            return Removal(c.key, name, why)
    return None


# --- weighers -------------------------------------------------------------------------------------------------


def base_scores(c: Candidate, p: PlacementPolicy) -> dict[str, float]:
    """Scores that do not depend on the request: free capacity (spread), cost, gov-cloud preference."""
    ratios = [
        free / total for free, total in ((c.free_vcpus, c.total_vcpus), (c.free_ram_mb, c.total_ram_mb)) if total > 0
    ]
    return {
        "free": p.weight_free * (min(ratios) if ratios else 0.0),
        "cost": p.weight_cost * (1.0 - c.cost),
        "gov_cloud": p.weight_gov_cloud if c.cloud_kind == CloudKind.GOV_CLOUD else 0.0,
    }


def has_affinity(r: PlacementRequest, c: Candidate) -> bool:
    return r.unit_id in c.units_present or (c.owner_unit_id is not None and c.owner_unit_id in r.unit_path)


def scores(r: PlacementRequest, c: Candidate, p: PlacementPolicy) -> dict[str, float]:
    """Every weigher's score for one candidate; the highest total wins, ties go to the smaller key."""
    s = base_scores(c, p)
    s["affinity"] = p.weight_affinity if has_affinity(r, c) else 0.0
    return s


def _rank_key(total: float, c: Candidate) -> tuple[float, str]:
    return (-total, c.key)


# --- one request, full explanation ----------------------------------------------------------------------------


def _choose(
    r: PlacementRequest,
    role: Role,
    candidates: Sequence[Candidate],
    p: PlacementPolicy,
    primary: Candidate | None,
    removed: list[Removal],
) -> tuple[Choice | None, list[tuple[str, float]]]:
    best: tuple[tuple[float, str], Candidate, dict[str, float]] | None = None
    ranking: list[tuple[str, float]] = []
    for c in candidates:
        gone = policy_removal(r, role, c, p, primary)
        if gone is None and not fits(r, c.free_vcpus, c.free_ram_mb, c.free_disk_gb):
            gone = Removal(c.key, "capacity", capacity_reason(r, c))
        if gone is not None:
            removed.append(replace(gone, reason=f"{role.value}: {gone.reason}"))
            continue
        sc = scores(r, c, p)
        total = sum(sc.values())
        ranking.append((c.key, total))
        key = _rank_key(total, c)
        if best is None or key < best[0]:
            best = (key, c, sc)
    ranking.sort(key=lambda kv: (-kv[1], kv[0]))
    return (Choice(role, best[1], best[2]) if best else None), ranking


def place(r: PlacementRequest, candidates: Sequence[Candidate], policy: PlacementPolicy | None = None) -> Decision:
    """Choose a slot for the request (and its DR replica), explaining every removal and every score."""
    p = policy or PlacementPolicy()
    if r.classified:
        return Decision(r.request_id, False, error="classified (涉密) systems are never placed on a cloud")
    if not candidates:
        return Decision(r.request_id, False, error="no candidate at all: no cloud with a capacity sample")
    removed: list[Removal] = []
    primary, ranking = _choose(r, Role.PRIMARY, candidates, p, None, removed)
    if primary is None:
        return Decision(r.request_id, False, removed=tuple(removed), error="no candidate passes every filter")
    replica = None
    if r.dr_level != DRLevel.NONE:
        replica, _ = _choose(r, Role.REPLICA, candidates, p, primary.candidate, removed)
        if replica is None:
            return Decision(
                r.request_id,
                False,
                removed=tuple(removed),
                ranking=tuple(ranking),
                error=f"{r.dr_level.value}: no DR-site candidate for the replica",
            )
    return Decision(r.request_id, True, primary, replica, tuple(removed), tuple(ranking))


def _replace(c: Candidate, **changes: object) -> Candidate:
    # dataclasses.replace re-runs field introspection; this copy is the hot path of place_all.
    new = object.__new__(Candidate)
    new.__dict__.update(c.__dict__)
    new.__dict__.update(changes)
    return new


def consume(c: Candidate, r: PlacementRequest) -> Candidate:
    """The candidate after one copy of the request is placed on it."""
    return _replace(
        c,
        free_vcpus=c.free_vcpus - r.vcpus,
        free_ram_mb=c.free_ram_mb - r.ram_mb,
        free_disk_gb=c.free_disk_gb - r.disk_gb,
        units_present=c.units_present if r.unit_id in c.units_present else c.units_present | {r.unit_id},
    )


# --- many requests, heaps -------------------------------------------------------------------------------------


@dataclass
class _Slot:
    cand: Candidate
    site_role: SiteRole
    version: int = 0
    base: float = 0.0
    key: str = ""

    def __post_init__(self) -> None:
        self.key = self.cand.key


@dataclass
class _Pools:
    """Heaps of eligible slots by the site constraint they satisfy; entries are (-base score, key, version)."""

    any: list[tuple[float, str, int]] = field(default_factory=list)
    core: list[tuple[float, str, int]] = field(default_factory=list)
    dr: list[tuple[float, str, int]] = field(default_factory=list)


def place_all(
    requests: Sequence[PlacementRequest], candidates: Sequence[Candidate], policy: PlacementPolicy | None = None
) -> tuple[list[Decision], list[Candidate]]:
    """Place requests in order, each consuming capacity; returns the decisions and the candidates' final state.

    Chooses exactly what `place` then `consume` per request would, in about O(log n) per request instead of O(n).
    """
    placer = _Placer(candidates, policy or PlacementPolicy())
    decisions = [placer.place(r) for r in requests]
    final = [placer.slots[c.key].cand if c.key in placer.slots else c for c in candidates]
    return decisions, final


_PROBE = PlacementRequest("", -1, (), 0, 0, 0)  # for the filters that do not depend on the request


def _owned_sub_cloud(c: Candidate) -> bool:
    """A sub-cloud (or industry cloud) owned by a unit: eligible only inside that unit's line, never pooled."""
    return c.owner_unit_id is not None and c.cloud_kind != CloudKind.GOV_CLOUD


class _Placer:
    """The candidates as slots in heaps by site role, consumed request after request."""

    def __init__(self, candidates: Sequence[Candidate], p: PlacementPolicy) -> None:
        self.p = p
        self.slots: dict[str, _Slot] = {}
        self.pools = _Pools()
        self.by_owner: dict[int, list[str]] = {}  # slots owned by a unit (affinity for that unit's line)
        self.owned_sub: dict[str, int] = {}  # owned sub-clouds: eligible only inside the owner's line
        self.static_removed: list[Removal] = []  # removed whatever the request
        for c in candidates:
            self._add(c)
        self.owner_removals: dict[int, list[Removal]] = {}  # what each owned sub-cloud is to units outside its line
        for key, owner in self.owned_sub.items():
            reason = owner_filter(_PROBE, Role.PRIMARY, self.slots[key].cand, p, None) or ""
            self.owner_removals.setdefault(owner, []).append(Removal(key, "owner", reason))
        self.by_line: dict[frozenset[int], tuple[Removal, ...]] = {}
        self.affinity: dict[int, set[str]] = {}
        for key, s in self.slots.items():
            for u in s.cand.units_present:
                self.affinity.setdefault(u, set()).add(key)

    def _add(self, c: Candidate) -> None:
        p = self.p
        gone = next(
            (
                Removal(c.key, name, why)
                for name, check in POLICY_FILTERS[:2]
                if (why := check(_PROBE, Role.PRIMARY, c, p, None)) is not None
            ),
            None,
        )
        if gone is not None:
            self.static_removed.append(gone)
            return
        s = _Slot(c, SiteRole(p.site_role(c.site)), 0, sum(base_scores(c, p).values()))
        self.slots[c.key] = s
        if c.owner_unit_id is not None:
            self.by_owner.setdefault(c.owner_unit_id, []).append(c.key)
        if c.owner_unit_id is not None and _owned_sub_cloud(c):
            self.owned_sub[c.key] = c.owner_unit_id
        else:
            _push(self.pools, s)

    def _policy_removed(self, r: PlacementRequest) -> tuple[Removal, ...]:
        """What the policy removes for this request's unit line: shared by every request of the same line."""
        mine = frozenset(u for u in r.unit_path if u in self.owner_removals)
        removed = self.by_line.get(mine)
        if removed is None:
            removed = self.by_line[mine] = tuple(self.static_removed) + tuple(
                x for owner, outside in self.owner_removals.items() if owner not in mine for x in outside
            )
        return removed

    def place(self, r: PlacementRequest) -> Decision:
        if r.classified:
            return Decision(r.request_id, False, error="classified (涉密) systems are never placed on a cloud")
        policy_removed = self._policy_removed(r)
        removed: list[Removal] = []  # capacity removals of this request
        extra = {k for u in r.unit_path for k in self.by_owner.get(u, ())} | self.affinity.get(r.unit_id, set())
        need_core = r.dr_level != DRLevel.NONE
        pools, slots, p = self.pools, self.slots, self.p
        primary = _best(r, Role.PRIMARY, pools.core if need_core else pools.any, slots, extra, p, None, removed)
        if primary is None:
            error = "no candidate passes every filter"
            return Decision(r.request_id, False, removed=policy_removed + tuple(removed), error=error)
        replica = None
        if need_core:
            replica = _best(r, Role.REPLICA, pools.dr, slots, extra, p, primary.candidate, removed)
            if replica is None:
                error = f"{r.dr_level.value}: no DR-site candidate for the replica"
                return Decision(r.request_id, False, removed=policy_removed + tuple(removed), error=error)
        for ch in (primary, replica):
            if ch is not None:
                self._consume(ch.candidate.key, r)
        explained = policy_removed + tuple(removed) if removed else policy_removed
        return Decision(r.request_id, True, primary, replica, explained)

    def _consume(self, key: str, r: PlacementRequest) -> None:
        s = self.slots[key]
        s.cand = consume(s.cand, r)
        s.version += 1
        s.base = sum(base_scores(s.cand, self.p).values())
        self.affinity.setdefault(r.unit_id, set()).add(s.key)
        if s.key not in self.owned_sub:
            _push(self.pools, s)


def _push(pools: _Pools, s: _Slot) -> None:
    entry = (-s.base, s.key, s.version)
    heapq.heappush(pools.any, entry)
    if s.site_role == SiteRole.CORE:
        heapq.heappush(pools.core, entry)
    elif s.site_role == SiteRole.DR:
        heapq.heappush(pools.dr, entry)


def _best(
    r: PlacementRequest,
    role: Role,
    heap: list[tuple[float, str, int]],
    slots: dict[str, _Slot],
    extra: set[str],
    p: PlacementPolicy,
    primary: Candidate | None,
    removed: list[Removal],
) -> Choice | None:
    """The best slot: the heap's best that fits and passes the site rule, against the affinity/owned extras."""
    best: tuple[tuple[float, str], Candidate] | None = None
    popped: list[tuple[float, str, int]] = []
    need = SiteRole.CORE if role == Role.PRIMARY else SiteRole.DR
    while heap:
        entry = heap[0]
        s = slots[entry[1]]
        if entry[2] != s.version:
            heapq.heappop(heap)  # stale: the slot was re-pushed with its new capacity
            continue
        c = s.cand
        if primary is not None and c.site == primary.site:
            popped.append(heapq.heappop(heap))  # the pools hold only the right site role; the site must differ
            continue
        if not fits(r, c.free_vcpus, c.free_ram_mb, c.free_disk_gb):
            removed.append(Removal(s.key, "capacity", f"{role.value}: {capacity_reason(r, c)}"))
            popped.append(heapq.heappop(heap))
            continue
        best = ((-(s.base + (p.weight_affinity if has_affinity(r, c) else 0.0)), s.key), c)
        break
    for e in popped:
        heapq.heappush(heap, e)
    for key in extra:
        s = slots[key]
        c = s.cand
        if (
            (r.dr_level != DRLevel.NONE and s.site_role != need)
            or (primary is not None and c.site == primary.site)
            or (_owned_sub_cloud(c) and c.owner_unit_id not in r.unit_path)
            or not fits(r, c.free_vcpus, c.free_ram_mb, c.free_disk_gb)
        ):
            continue
        k = (-(s.base + (p.weight_affinity if has_affinity(r, c) else 0.0)), key)
        if best is None or k < best[0]:
            best = (k, c)
    if best is None:
        return None
    return Choice(role, best[1], scores(r, best[1], p))
