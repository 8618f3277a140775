"""What the orchestrator supplies to the migration planner (`migrations_plan.api.PlanServices`): free capacity
from the newest capacity samples, the flavor table from the clouds' flavor catalogue, zombie evidence from the
capacity samples of the system's cloud, and the request factory that turns a wave's gov-cloud systems into
DRAFT resource requests through the request service (`orchestrator.requests.service.create`, audited)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from core.audit import ChangeContext
from core.identity import Principal
from inventory.enums import CloudKind
from inventory.models import Cloud
from migrations_plan.api import PlanRequestFactory, PlanServices
from migrations_plan.facts import DEFAULT_FLAVORS, Flavor
from migrations_plan.tracking import ResourceNeed
from orchestrator.app.plan_capacity import plan_capacity
from orchestrator.app.plan_evidence import zombie_evidence
from orchestrator.requests import service as request_service
from orchestrator.requests.flavors import FlavorCatalog, flavor_table
from orchestrator.requests.lifecycle import Bundle, RequestCreate, ServerItem, TargetHosting

DRAFT_SERVER = "app"  # the draft's one server line; the unit completes image and count before submitting
DRAFT_IMAGE = "待定 / to be chosen"


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


def request_factory(catalog: FlavorCatalog, flavors: Callable[[], tuple[Flavor, ...]]) -> PlanRequestFactory:
    """A DRAFT request (target hosting: gov cloud) for a wave's system bound for the gov cloud: its planned target
    is a gov cloud, or it has none yet; None (skipped) for a system planned onto any other cloud kind."""

    def create(session: Session, principal: Principal, need: ResourceNeed, ctx: ChangeContext) -> str | None:
        if need.unit_id is None or need.flavor is None:
            return None
        if need.target_cloud_id is not None:  # no target yet (capacity unknown): the gov cloud, placement picks
            cloud = session.get(Cloud, need.target_cloud_id)
            if cloud is None or cloud.kind != CloudKind.GOV_CLOUD:
                return None
        size = {f.name: f for f in flavors()}.get(need.flavor)
        server = ServerItem(
            name=DRAFT_SERVER,
            flavor=need.flavor,
            image=DRAFT_IMAGE,
            vcpus=size.vcpus if size else None,
            ram_mb=round(size.memory_gb * 1024) if size else None,
        )
        body = RequestCreate(
            title=f"迁移上云 {need.system_code} / migrate {need.system_code}",
            unit_id=need.unit_id,
            system_id=need.system_id,
            target_hosting=TargetHosting.GOV_CLOUD,
            bundle=Bundle(servers=[server]),
            justification=f"迁移计划批次项 {need.wave_item_id} / wave plan item {need.wave_item_id}",
        )
        table, ambiguous = flavor_table(catalog)
        return request_service.create(session, principal, ctx, body, table, ambiguous).code

    return create


def plan_services(catalog: FlavorCatalog) -> PlanServices:
    def flavors() -> tuple[Flavor, ...]:
        return plan_flavors(catalog)

    return PlanServices(
        capacity=plan_capacity,
        flavors=flavors,
        zombie_evidence=zombie_evidence,
        request_factory=request_factory(catalog, flavors),
    )
