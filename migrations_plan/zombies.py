"""Zombie detection (僵尸信息系统识别) by the five criteria of 《全区政务信息系统整合共享工作要点》§三(一).

使用与实际业务流程长期脱节、功能可被其他系统替代、所占用资源长期处于空闲状态、运行维护停止更新服务、
使用范围小、频度低. Each criterion adds points with the facts behind it; the score is their sum (0–100).
A system is a candidate when the score reaches `candidate_score`, or on usage evidence alone when nobody
has used it for `unused_days` (12 months). A large user base is never "small scope and rare use", however
seldom a seasonal system is visited. Worked examples: docs/zombie-scoring.md.
Pure: optional evidence (cloud utilisation, probe history) is passed in as data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from inventory.enums import SystemStatus
from migrations_plan.facts import SystemFacts


@dataclass(frozen=True)
class Utilisation:
    """Average cloud utilisation of a system's servers over a period (e.g. from Prometheus)."""

    cpu_ratio: float  # 0..1
    days: int


@dataclass(frozen=True)
class ProbeHistory:
    """Reachability of a system's endpoint over a period (e.g. from the collectors)."""

    reachable_ratio: float  # 0..1
    requests_seen: int  # application requests observed in the period
    days: int


@dataclass(frozen=True)
class Criteria:
    """Weights and thresholds; the defaults follow the five criteria and sum to 100."""

    detached_points: float = 30
    replaceable_points: float = 25
    idle_points: float = 20
    unmaintained_points: float = 15
    rare_use_points: float = 10
    idle_days: int = 180
    unmaintained_days: int = 365
    idle_cpu_ratio: float = 0.05
    min_evidence_days: int = 30
    few_users: int = 20
    few_monthly_visits: int = 100
    candidate_score: float = 50
    unused_days: int = 365  # no access / no request seen for this long: a candidate on usage evidence alone


@dataclass(frozen=True)
class Evidence:
    criterion: str
    zh: str
    en: str
    points: float
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ZombieScore:
    system_id: int
    code: str
    name: str
    unit_id: int
    score: float
    evidence: tuple[Evidence, ...]
    candidate: bool
    basis: str | None = None  # why a candidate: "score" (threshold reached) or "unused_12_months"

    def as_json(self) -> list[dict[str, Any]]:
        return [
            {"criterion": e.criterion, "zh": e.zh, "en": e.en, "points": e.points, "facts": e.facts}
            for e in self.evidence
        ]


def _days(since: date | None, today: date) -> int | None:
    return None if since is None else (today - since).days


def score(
    s: SystemFacts,
    today: date,
    criteria: Criteria = Criteria(),
    utilisation: Utilisation | None = None,
    probes: ProbeHistory | None = None,
    replacement_code: str | None = None,
) -> ZombieScore:
    """Score one system against the five criteria; every point comes with the facts that earned it."""
    c = criteria
    ev: list[Evidence] = []
    if not s.business_active:
        ev.append(
            Evidence(
                "detached",
                "使用与实际业务流程长期脱节",
                "detached from the business process",
                c.detached_points,
                {"business_active": False},
            )
        )
    if s.replaced_by_id is not None:
        ev.append(
            Evidence(
                "replaceable",
                f"功能可被其他系统替代（{replacement_code or s.replaced_by_id}）",
                f"replaceable by another system ({replacement_code or s.replaced_by_id})",
                c.replaceable_points,
                {"replaced_by_id": s.replaced_by_id, "replaced_by": replacement_code},
            )
        )
    idle_facts: dict[str, Any] = {}
    idle_days = _days(s.last_access_at, today)
    if idle_days is not None and idle_days >= c.idle_days:
        idle_facts["days_since_last_access"] = idle_days
    if utilisation is not None and utilisation.days >= c.min_evidence_days and utilisation.cpu_ratio < c.idle_cpu_ratio:
        idle_facts["cpu_ratio"] = utilisation.cpu_ratio
        idle_facts["utilisation_days"] = utilisation.days
    if probes is not None and probes.days >= c.min_evidence_days and probes.requests_seen == 0:
        idle_facts["requests_seen"] = 0
        idle_facts["probe_days"] = probes.days
    unused = (idle_days is not None and idle_days >= c.unused_days) or (
        probes is not None and probes.requests_seen == 0 and probes.days >= c.unused_days
    )
    if unused:
        idle_facts["unused_12_months"] = True
    if idle_facts:
        ev.append(
            Evidence("idle", "所占用资源长期处于空闲状态", "resources idle for a long time", c.idle_points, idle_facts)
        )
    maint_days = _days(s.last_maintenance_at, today)
    if maint_days is not None and maint_days >= c.unmaintained_days:
        ev.append(
            Evidence(
                "unmaintained",
                "运行维护停止更新服务",
                "maintenance and updates stopped",
                c.unmaintained_points,
                {"days_since_last_maintenance": maint_days},
            )
        )
    rare: dict[str, Any] = {}
    large_base = s.users_count is not None and s.users_count > c.few_users  # e.g. a seasonal system: not rare use
    if s.users_count is not None and s.users_count <= c.few_users:
        rare["users_count"] = s.users_count
    if s.monthly_visits is not None and s.monthly_visits <= c.few_monthly_visits and not large_base:
        rare["monthly_visits"] = s.monthly_visits
    if rare:
        ev.append(Evidence("rare_use", "使用范围小、频度低", "small scope and rare use", c.rare_use_points, rare))
    total = round(sum(e.points for e in ev), 2)
    basis = "score" if total >= c.candidate_score else "unused_12_months" if unused else None
    return ZombieScore(s.id, s.code, s.name, s.unit_id, total, tuple(ev), basis is not None, basis)


def candidates(
    systems: Mapping[int, SystemFacts],
    today: date,
    criteria: Criteria = Criteria(),
    utilisation: Mapping[int, Utilisation] | None = None,
    probes: Mapping[int, ProbeHistory] | None = None,
) -> list[ZombieScore]:
    """Scores of every system not yet retired that reaches the candidate threshold, highest first."""
    out = []
    for s in systems.values():
        if s.status == SystemStatus.RETIRED:
            continue
        repl = systems.get(s.replaced_by_id) if s.replaced_by_id is not None else None
        z = score(
            s,
            today,
            criteria,
            (utilisation or {}).get(s.id),
            (probes or {}).get(s.id),
            repl.code if repl else None,
        )
        if z.candidate:
            out.append(z)
    out.sort(key=lambda z: (-z.score, z.code))
    return out
