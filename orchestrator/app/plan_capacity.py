"""Free capacity per inventory cloud for migration planning (PlanServices.capacity), from capacity samples."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from inventory.models import Cloud
from migrations_plan.facts import Capacity
from orchestrator.provisioning.capacity import latest_capacities


def plan_capacity(session: Session) -> dict[int, Capacity] | None:
    """Free vCPUs, memory (GB) and disk (GB) of every sampled cloud known to the inventory; None when unknown."""
    samples = latest_capacities(session)
    if not samples:
        return None
    clouds = {c.clouds_yaml_name: c for c in session.scalars(select(Cloud).where(Cloud.clouds_yaml_name.is_not(None)))}
    out: dict[int, Capacity] = {}
    for sample in samples:
        cloud = clouds.get(sample.cloud)
        if cloud is None:
            continue
        totals = sample.totals()

        def free(rc: str, totals: dict[str, tuple[float, int]] = totals) -> float:
            total, used = totals.get(rc, (0.0, 0))
            return max(0.0, total - used)

        out[cloud.id] = Capacity(cloud.id, cloud.code, free("VCPU"), free("MEMORY_MB") / 1024, free("DISK_GB"))
    return out or None
