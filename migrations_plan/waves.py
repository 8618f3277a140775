"""Wave planning (分批迁移): systems and the dedicated networks they need, in dependency-respecting waves.

Pure and deterministic: the same items and constraints always give the same plan, and every item
carries the reasons for its wave. Rules:
- an item moves in a strictly later wave than everything it depends on;
- a dependency cycle (strongly connected component) moves together in one wave and is reported;
- a wave holds at most `max_wave_size` items, and at most `max_per_unit` / `max_per_city` of one
  unit / city; a cycle group larger than any of these limits gets a wave of its own (nothing else joins
  it), with a note naming the limit it exceeds, instead of silently breaking the limit;
- a system needs room on a target cloud (capacity is consumed as the plan goes); one that fits
  nowhere — and everything that depends on it — stays unplanned, with the reason.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from inventory.enums import Decision
from migrations_plan.facts import Capacity, Demand, Inventory
from migrations_plan.readiness import Assessment, Outcome, Severity


@dataclass(frozen=True)
class Item:
    """Something to move: `key` is "system:<id>" or "network:<id>"; `needs` are keys it depends on."""

    key: str
    kind: str
    id: int
    code: str
    name: str
    unit_id: int | None = None
    city_id: int | None = None
    needs: tuple[str, ...] = ()
    demand: Demand | None = None  # None: uses no cloud capacity (networks)
    targets: tuple[int, ...] = ()  # preferred target clouds; empty: any with room
    flavor: str | None = None
    notes: tuple[str, ...] = ()  # readiness findings carried into the plan


@dataclass(frozen=True)
class Constraints:
    max_wave_size: int = 50
    max_per_unit: int | None = None
    max_per_city: int | None = None
    capacity: Mapping[int, Capacity] | None = None  # free capacity per target cloud; None: unlimited


@dataclass(frozen=True)
class PlannedItem:
    key: str
    kind: str
    id: int
    code: str
    name: str
    unit_id: int | None
    city_id: int | None
    wave: int | None  # None: not planned
    target_cloud_id: int | None
    flavor: str | None
    group: int | None  # cycle group number, when part of a dependency cycle
    depends_on: tuple[str, ...]  # codes
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    items: list[PlannedItem]
    waves: int
    cycles: list[list[str]] = field(default_factory=list)  # codes of each cycle group

    def wave(self, n: int) -> list[PlannedItem]:
        return [i for i in self.items if i.wave == n]

    def unplanned(self) -> list[PlannedItem]:
        return [i for i in self.items if i.wave is None]

    def by_key(self) -> dict[str, PlannedItem]:
        return {i.key: i for i in self.items}


# --- from inventory facts to items ---------------------------------------------------------


def skey(system_id: int) -> str:
    return f"system:{system_id}"


def nkey(network_id: int) -> str:
    return f"network:{network_id}"


def build_items(inv: Inventory, assessments: Mapping[int, Assessment]) -> tuple[list[Item], list[PlannedItem]]:
    """Items to plan (ready and needs-work systems, and the pending networks they use) and those left out.

    A system that depends, directly or not, on a blocked system is left out too, with the chain named.
    """
    movable = {sid for sid, a in assessments.items() if a.outcome in (Outcome.READY, Outcome.NEEDS_WORK)}
    excluded: dict[int, str] = {}
    for sid, a in assessments.items():
        if a.outcome == Outcome.BLOCKED:
            blockers = [r.text() for r in a.reasons if r.severity == Severity.BLOCKER]
            excluded[sid] = "受阻 / blocked: " + "; ".join(blockers)
    # Propagate exclusion to dependents (a system cannot move before what it needs).
    dependents: dict[int, list[int]] = {}
    for s in inv.systems.values():
        for d in s.depends_on:
            dependents.setdefault(d, []).append(s.id)
    queue = sorted(excluded)
    while queue:
        bad = queue.pop()
        for dep_id in sorted(dependents.get(bad, ())):
            if dep_id in movable and dep_id not in excluded:
                code = inv.systems[bad].code
                excluded[dep_id] = f"依赖无法迁移的系统 {code} / depends on {code}, which cannot move"
                queue.append(dep_id)
    items: list[Item] = []
    networks_needed: set[int] = set()
    for sid in sorted(movable - set(excluded), key=lambda i: inv.systems[i].code):
        s, a = inv.systems[sid], assessments[sid]
        needs: list[str] = []
        for d in s.depends_on:
            dep = inv.systems.get(d)
            if dep is not None and d in movable:
                needs.append(skey(d))
        for n in s.networks:
            net = inv.networks.get(n)
            if net is not None and not net.classified and not net.done and net.determination not in _NET_OUT:
                needs.append(nkey(n))
                networks_needed.add(n)
        notes = tuple(r.text() for r in a.reasons if r.severity == Severity.WORK)
        items.append(
            Item(
                skey(sid),
                "system",
                sid,
                s.code,
                s.name,
                s.unit_id,
                s.city_id,
                tuple(sorted(needs)),
                a.sizing.demand if a.sizing else None,
                a.candidate_clouds,
                a.sizing.flavor if a.sizing else None,
                notes,
            )
        )
    for n in sorted(networks_needed, key=lambda i: inv.networks[i].code):
        net = inv.networks[n]
        items.append(Item(nkey(n), "network", n, net.code, net.name, net.unit_id, net.city_id))
    left_out = [
        PlannedItem(
            skey(sid),
            "system",
            sid,
            inv.systems[sid].code,
            inv.systems[sid].name,
            inv.systems[sid].unit_id,
            inv.systems[sid].city_id,
            None,
            None,
            None,
            None,
            tuple(sorted(inv.systems[d].code for d in inv.systems[sid].depends_on if d in inv.systems)),
            (why,),
        )
        for sid, why in sorted(excluded.items(), key=lambda kv: inv.systems[kv[0]].code)
    ]
    return items, left_out


_NET_OUT = (Decision.EXEMPT, Decision.RETIRE, Decision.KEEP)


# --- the planner ---------------------------------------------------------------------------


def strongly_connected(n: int, edges: Sequence[Sequence[int]]) -> list[list[int]]:
    """Tarjan's algorithm, iterative; components come out dependencies-first (reverse topological order)."""
    index = [-1] * n
    low = [0] * n
    on_stack = [False] * n
    stack: list[int] = []
    out: list[list[int]] = []
    counter = 0
    for root in range(n):
        if index[root] != -1:
            continue
        work = [(root, 0)]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack[root] = True
        while work:
            v, i = work[-1]
            succ = edges[v]
            if i < len(succ):
                work[-1] = (v, i + 1)
                w = succ[i]
                if index[w] == -1:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack[w] = True
                    work.append((w, 0))
                elif on_stack[w] and index[w] < low[v]:
                    low[v] = index[w]
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                if low[v] < low[parent]:
                    low[parent] = low[v]
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack[w] = False
                    comp.append(w)
                    if w == v:
                        break
                out.append(sorted(comp))
    return out


@dataclass
class _Wave:
    size: int = 0
    exclusive: bool = False  # holds one oversized cycle group: nothing else joins
    units: dict[int, int] = field(default_factory=dict)
    cities: dict[int, int] = field(default_factory=dict)


def _fits(
    wave: _Wave, k: int, units: dict[int, int], cities: dict[int, int], c: Constraints, oversized: bool = False
) -> tuple[bool, str | None]:
    if wave.exclusive or (oversized and wave.size):
        return False, "own"
    if wave.size and wave.size + k > c.max_wave_size:
        return False, "size"
    if c.max_per_unit is not None:
        for u, n in units.items():
            have = wave.units.get(u, 0)
            if have and have + n > c.max_per_unit:
                return False, "unit"
    if c.max_per_city is not None:
        for city, n in cities.items():
            have = wave.cities.get(city, 0)
            if have and have + n > c.max_per_city:
                return False, "city"
    return True, None


_FULL = {
    "size": "已满（每批上限 {n}）/ full (max {n} per wave)",
    "unit": "本单位已达每批上限 / unit limit reached",
    "city": "本市已达每批上限 / city limit reached",
    "own": "非空，超限循环组需单独成批 / not empty: an oversized cycle needs a wave of its own",
}


def _oversized(k: int, units: dict[int, int], cities: dict[int, int], c: Constraints) -> list[str]:
    """The limits a group breaks on its own (then it gets a wave of its own), as notes."""
    out = []
    if k > c.max_wave_size:
        out.append(
            f"循环组 {k} 项超过每批上限 {c.max_wave_size} / cycle of {k} exceeds max wave size {c.max_wave_size}"
        )
    if c.max_per_unit is not None and any(n > c.max_per_unit for n in units.values()):
        n = max(units.values())
        out.append(
            f"循环组含同一单位 {n} 项，超过每单位每批上限 {c.max_per_unit} / "
            f"cycle holds {n} items of one unit, over the per-unit limit {c.max_per_unit}"
        )
    if c.max_per_city is not None and any(n > c.max_per_city for n in cities.values()):
        n = max(cities.values())
        out.append(
            f"循环组含同一城市 {n} 项，超过每市每批上限 {c.max_per_city} / "
            f"cycle holds {n} items of one city, over the per-city limit {c.max_per_city}"
        )
    return out


def plan_waves(items: Sequence[Item], constraints: Constraints = Constraints()) -> Plan:
    """Assign every item a wave (or leave it unplanned with the reason); see the module docstring."""
    if constraints.max_wave_size < 1:
        raise ValueError("max_wave_size must be at least 1")
    return _Planner(_Graph.build(items), constraints).run()


@dataclass
class _Graph:
    """The items in a fixed order, their dependency edges and its condensation into components."""

    ordered: list[Item]
    edges: list[list[int]]  # per item: the items it needs
    comps: list[list[int]]  # strongly connected components, dependencies first
    comp_of: list[int]
    needs_c: list[set[int]]  # per component: the components it needs
    users_c: list[set[int]]  # per component: the components that need it
    cycle_comps: list[int]  # components of more than one item, by their first code
    group_no: dict[int, int]  # cycle component → its group number (from 1)

    @classmethod
    def build(cls, items: Sequence[Item]) -> _Graph:
        ordered = sorted(items, key=lambda i: (i.code, i.key))
        pos = {it.key: n for n, it in enumerate(ordered)}
        edges = [sorted({pos[k] for k in it.needs if k in pos and k != it.key}) for it in ordered]
        comps = strongly_connected(len(ordered), edges)
        comp_of = [0] * len(ordered)
        for ci, comp in enumerate(comps):
            for v in comp:
                comp_of[v] = ci
        cycle_comps = sorted(
            (ci for ci, comp in enumerate(comps) if len(comp) > 1), key=lambda ci: ordered[comps[ci][0]].code
        )
        needs_c: list[set[int]] = [set() for _ in comps]
        users_c: list[set[int]] = [set() for _ in comps]
        for v, succ in enumerate(edges):
            for w in succ:
                a, b = comp_of[v], comp_of[w]
                if a != b:
                    needs_c[a].add(b)
                    users_c[b].add(a)
        group_no = {ci: g + 1 for g, ci in enumerate(cycle_comps)}
        return cls(ordered, edges, comps, comp_of, needs_c, users_c, cycle_comps, group_no)

    def first(self, ci: int) -> Item:
        return self.ordered[self.comps[ci][0]]


class _Waves:
    """The waves filled so far, and per limit the first wave that may still take more."""

    def __init__(self, c: Constraints) -> None:
        self.c = c
        self.waves: list[_Wave] = [_Wave()]  # index 0 unused; waves are numbered from 1
        self.first_open = 1  # waves before it are full
        self.unit_open: dict[int, int] = {}  # per unit: waves before it have reached max_per_unit
        self.city_open: dict[int, int] = {}

    def find(
        self, w: int, k: int, units: dict[int, int], cities: dict[int, int], oversized: bool
    ) -> tuple[int, dict[str, list[int]]]:
        """The first wave from `w` that takes a group of `k`, and the waves skipped by the limit that filled them."""
        skipped: dict[str, list[int]] = {}
        # Jump over waves known to be full for this group (size, or its unit's / city's limit).
        for kind, start in (
            ("size", self.first_open),
            *(("unit", self.unit_open.get(u, 1)) for u in units),
            *(("city", self.city_open.get(cy, 1)) for cy in cities),
        ):
            if start > w:
                skipped[kind] = [w, start - 1]
                w = start
        while True:
            while len(self.waves) <= w:
                self.waves.append(_Wave())
            ok, full = _fits(self.waves[w], k, units, cities, self.c, oversized)
            if ok:
                return w, skipped
            skipped.setdefault(full or "size", []).append(w)
            w += 1

    def add(self, w: int, k: int, units: dict[int, int], cities: dict[int, int], exclusive: bool) -> None:
        wave = self.waves[w]
        wave.exclusive = exclusive
        wave.size += k
        for u, n in units.items():
            wave.units[u] = wave.units.get(u, 0) + n
        for city, n in cities.items():
            wave.cities[city] = wave.cities.get(city, 0) + n
        waves, c = self.waves, self.c
        while self.first_open < len(waves) and (
            waves[self.first_open].size >= c.max_wave_size or waves[self.first_open].exclusive
        ):
            self.first_open += 1
        if c.max_per_unit is not None:
            _advance(self.unit_open, units, lambda p, u: waves[p].units.get(u, 0), c.max_per_unit, len(waves))
        if c.max_per_city is not None:
            _advance(self.city_open, cities, lambda p, cy: waves[p].cities.get(cy, 0), c.max_per_city, len(waves))


def _advance(
    open_at: dict[int, int], keys: Mapping[int, int], have: Callable[[int, int], int], limit: int, end: int
) -> None:
    for key in keys:
        p = open_at.get(key, 1)
        while p < end and have(p, key) >= limit:
            p += 1
        open_at[key] = p


class _Planner:
    """Takes components dependencies-first (best-ranked first among the ready ones) and gives each a wave."""

    def __init__(self, graph: _Graph, c: Constraints) -> None:
        self.g = graph
        self.c = c
        n = len(graph.comps)
        self.pending = [len(x) for x in graph.needs_c]
        self.earliest = [1] * n
        self.comp_wave: list[int | None] = [None] * n
        self.comp_blocked: dict[int, str] = {}
        self.waves = _Waves(c)
        self.remaining = dict(c.capacity) if c.capacity is not None else None
        self.reasons: dict[int, list[str]] = {}
        self.targets: dict[int, int | None] = {}

    def rank(self, ci: int) -> tuple[int, int, int, str]:
        first = self.g.first(ci)
        return (self.earliest[ci], first.city_id or -1, first.unit_id or -1, first.code)

    def run(self) -> Plan:
        heap = [(self.rank(ci), ci) for ci in range(len(self.g.comps)) if self.pending[ci] == 0]
        heapq.heapify(heap)
        while heap:
            _, ci = heapq.heappop(heap)
            self.place(ci)
            for u in self.release(ci):
                heapq.heappush(heap, (self.rank(u), u))
        return self.result()

    def place(self, ci: int) -> None:
        members = self.g.comps[ci]
        blocked_by = sorted(self.g.first(d).code for d in self.g.needs_c[ci] if d in self.comp_blocked)
        if blocked_by:
            self.comp_blocked[ci] = (
                f"依赖未排入的 {', '.join(blocked_by)} / depends on unplanned {', '.join(blocked_by)}"
            )
        elif self.remaining is not None:
            self.take_capacity(ci)
        if ci in self.comp_blocked:
            for v in members:
                self.reasons[v] = [self.comp_blocked[ci]]
        else:
            self.assign_wave(ci)

    def take_capacity(self, ci: int) -> None:
        """Room on a target cloud for every member, or the component is blocked (and nothing is taken)."""
        assert self.remaining is not None
        members = self.g.comps[ci]
        trial = dict(self.remaining)
        chosen: dict[int, int] = {}
        for v in members:
            it = self.g.ordered[v]
            if it.demand is None:
                continue
            prefs = list(it.targets) if it.targets else sorted(trial)
            got = next((t for t in prefs if t in trial and trial[t].fits(it.demand)), None)
            if got is None:
                self.comp_blocked[ci] = (
                    f"目标云容量不足（{it.code}）/ no target cloud has room left for {it.code}"
                    if len(members) > 1
                    else "目标云容量不足 / no target cloud has room left"
                )
                return
            trial[got] = trial[got].minus(it.demand)
            chosen[v] = got
        self.remaining = trial
        self.targets.update(chosen)

    def assign_wave(self, ci: int) -> None:
        members = self.g.comps[ci]
        unit_need: dict[int, int] = {}
        city_need: dict[int, int] = {}
        for v in members:
            it = self.g.ordered[v]
            if it.unit_id is not None:
                unit_need[it.unit_id] = unit_need.get(it.unit_id, 0) + 1
            if it.city_id is not None:
                city_need[it.city_id] = city_need.get(it.city_id, 0) + 1
        why = [self.dependency_reason(ci)]
        too_big = _oversized(len(members), unit_need, city_need, self.c)
        w, skipped = self.waves.find(self.earliest[ci], len(members), unit_need, city_need, bool(too_big))
        for kind, ws in skipped.items():
            span = f"{ws[0]}" if len(ws) == 1 else f"{ws[0]}–{ws[-1]}"
            why.append(f"第{span}批{_FULL[kind].format(n=self.c.max_wave_size)} → wave {w}")
        self.waves.add(w, len(members), unit_need, city_need, bool(too_big))
        self.comp_wave[ci] = w
        if len(members) > 1:
            codes = [self.g.ordered[v].code for v in members]
            why.append(
                f"循环依赖组 {self.g.group_no[ci]}：{'、'.join(codes)} 同批迁移 / dependency cycle: moves together"
            )
            why.extend(f"{note}，单独成批 / own wave {w}" for note in too_big)
        for v in members:
            self.reasons[v] = list(why)
            tgt = self.targets.get(v)
            if tgt is not None and self.remaining is not None:
                code = self.remaining[tgt].code
                self.reasons[v].append(f"目标云 {code} / target cloud {code}")
            self.reasons[v].extend(self.g.ordered[v].notes)

    def dependency_reason(self, ci: int) -> str:
        """Why the component can move no earlier: the latest-moving dependencies decide, so name those."""
        deps = [(-(self.comp_wave[d] or 0), self.g.first(d).code) for d in self.g.needs_c[ci]]
        if not deps:
            return "无待迁依赖，可最早批次 / no pending dependencies: earliest wave 1"
        dep_waves = sorted(deps) if len(deps) <= 5 else heapq.nsmallest(5, deps)
        named = ", ".join(f"{code}（第{-wv}批）" for wv, code in dep_waves)
        more = f" 等{len(deps)}项" if len(deps) > 5 else ""
        return f"排在所依赖的 {named}{more} 之后 / after what it depends on: earliest wave {self.earliest[ci]}"

    def release(self, ci: int) -> list[int]:
        """Tell the components that need `ci` where it went; those with nothing left pending are ready."""
        placed = self.comp_wave[ci]
        ready = []
        for u in self.g.users_c[ci]:
            if placed is not None and placed + 1 > self.earliest[u]:
                self.earliest[u] = placed + 1
            self.pending[u] -= 1
            if self.pending[u] == 0:
                ready.append(u)
        return ready

    def result(self) -> Plan:
        g = self.g
        out: list[PlannedItem] = []
        for v, it in enumerate(g.ordered):
            ci = g.comp_of[v]
            out.append(
                PlannedItem(
                    it.key,
                    it.kind,
                    it.id,
                    it.code,
                    it.name,
                    it.unit_id,
                    it.city_id,
                    self.comp_wave[ci],
                    self.targets.get(v),
                    it.flavor,
                    g.group_no.get(ci),
                    tuple(g.ordered[w].code for w in g.edges[v]),
                    tuple(self.reasons.get(v, ())),
                )
            )
        out.sort(key=lambda p: (p.wave is None, p.wave or 0, p.code))
        used = max((p.wave for p in out if p.wave is not None), default=0)
        return Plan(out, used, [[g.ordered[v].code for v in g.comps[ci]] for ci in g.cycle_comps])
