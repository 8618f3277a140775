"""What the orchestrator supplies to the migration planner (`migrations_plan.api.PlanServices`): free capacity
from the newest capacity samples, the flavor table from the clouds' flavor catalogue, zombie evidence and the
request factory that turns a wave's gov-cloud systems into draft resource requests."""

from __future__ import annotations

from core.db import Database
from migrations_plan.api import PlanServices
from migrations_plan.facts import DEFAULT_FLAVORS, Flavor
from orchestrator.app.plan_capacity import plan_capacity
from orchestrator.requests.flavors import FlavorCatalog


def plan_flavors(catalog: FlavorCatalog) -> tuple[Flavor, ...]:
    """The clouds' flavors (vCPUs, memory in GB) smallest first; the default table when no cloud answers."""
    table, ambiguous = catalog()
    if not table:
        return DEFAULT_FLAVORS
    got = [
        Flavor(name, size.vcpus, size.ram_mb / 1024)
        for name, size in table.items()
        if name not in ambiguous and size.vcpus > 0 and size.ram_mb > 0
    ]
    return tuple(sorted(got, key=lambda f: (f.vcpus, f.memory_gb, f.name))) or DEFAULT_FLAVORS


def plan_services(db: Database, flavors: FlavorCatalog) -> PlanServices:
    return PlanServices(capacity=plan_capacity, flavors=lambda: plan_flavors(flavors))
