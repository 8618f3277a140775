"""Zombie evidence from data the service already holds: the capacity samples of the cloud a system runs on.

`cloud_capacity_samples` (the capacity/drift sweep, `orchestrator.provisioning.capacity`) holds, per cloud sweep,
every host's VCPU total and allocation (Placement). A system in the inventory on a cloud (`cloud_id` → the cloud's
`clouds_yaml_name`) gets `Utilisation(cpu_ratio, days)`: the mean over the sweeps of the last `WINDOW_DAYS` of
allocated/total VCPU, and the days those sweeps span. It is the cloud's allocation, not the system's own CPU
load (the service measures no per-server load), so it only counts as idle evidence when the whole cloud is idle.
Probe history (`ProbeHistory.requests_seen`) is not derived: the collectors see reachability, not application
requests.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.times import now_utc
from inventory.models import Cloud, InformationSystem
from migrations_plan.api import Evidence
from migrations_plan.zombies import Utilisation
from orchestrator.provisioning.models import CapacitySample

WINDOW_DAYS = 90
RESOURCE_CLASS = "VCPU"


def cloud_utilisation(session: Session, since: datetime) -> dict[str, Utilisation]:
    """Per clouds.yaml name: mean allocated/total VCPU over its sweeps since `since`, and the days they span."""
    sweeps: dict[str, dict[datetime, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0.0, 0.0]))
    rows = session.scalars(
        select(CapacitySample).where(CapacitySample.resource_class == RESOURCE_CLASS, CapacitySample.at >= since)
    )
    for r in rows:
        t = sweeps[r.cloud][r.at if r.at.tzinfo else r.at.replace(tzinfo=UTC)]  # SQLite: naive UTC
        t[0] += float(r.used or 0)
        t[1] += float(r.total or 0)
    out: dict[str, Utilisation] = {}
    for cloud, by_at in sweeps.items():
        ratios = [used / total for used, total in by_at.values() if total > 0]
        if ratios:
            out[cloud] = Utilisation(sum(ratios) / len(ratios), (max(by_at) - min(by_at)).days)
    return out


def zombie_evidence(session: Session) -> Evidence:
    """Utilisation by system id (systems on a sampled cloud); no probe history (see the module docstring)."""
    by_cloud = cloud_utilisation(session, now_utc() - timedelta(days=WINDOW_DAYS))
    if not by_cloud:
        return None, None
    rows = session.execute(
        select(InformationSystem.id, Cloud.clouds_yaml_name).join(Cloud, Cloud.id == InformationSystem.cloud_id)
    )
    util = {sid: by_cloud[name] for sid, name in rows if name in by_cloud}
    return util or None, None
