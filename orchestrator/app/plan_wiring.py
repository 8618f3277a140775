"""What the orchestrator supplies to the migration planner (`migrations_plan.api.PlanServices`): free capacity
from the newest capacity samples, the flavor table from the clouds' flavor catalogue, zombie evidence from the
capacity samples of the system's cloud, and the request factory that turns a wave's gov-cloud systems into
DRAFT resource requests through the request service (`orchestrator.requests.service.create`, audited)."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import ValidationError
from sqlalchemy.orm import Session

from core.audit import ChangeContext
from core.errors import Problem, ValidationFailed
from core.identity import Principal
from inventory.enums import CloudKind
from inventory.models import Cloud
from migrations_plan.api import PlanRequestFactory, PlanServices
from migrations_plan.facts import DEFAULT_FLAVORS, Flavor
from migrations_plan.tracking import ResourceNeed
from orchestrator.app.plan_capacity import plan_capacity
from orchestrator.requests import service as request_service
from orchestrator.requests.flavors import FlavorCatalog, flavor_table
from orchestrator.requests.lifecycle import Bundle, RequestCreate, ServerItem, TargetHosting, VolumeItem

DRAFT_SERVER = "app"  # the draft's one server line: the plan's flavor ×instances, the caller's image
DRAFT_VOLUME = "data"  # the system's storage, when the inventory gives it


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
        if not need.image:
            raise ValidationFailed(
                "须选择镜像 / an image must be chosen", [Problem("镜像为空 / image is empty", field="image")]
            )
        size = {f.name: f for f in flavors()}.get(need.flavor)
        try:
            server = ServerItem(
                name=DRAFT_SERVER,
                flavor=need.flavor,
                image=need.image,
                count=need.instances,
                vcpus=size.vcpus if size else None,
                ram_mb=round(size.memory_gb * 1024) if size else None,
            )
            first = DRAFT_SERVER if need.instances == 1 else f"{DRAFT_SERVER}-1"
            volumes = (
                [VolumeItem(name=DRAFT_VOLUME, size_gb=need.storage_gb, attach_to=first)] if need.storage_gb else []
            )
            body = RequestCreate(
                title=f"迁移上云 {need.system_code} / migrate {need.system_code}",
                unit_id=need.unit_id,
                system_id=need.system_id,
                target_hosting=TargetHosting.GOV_CLOUD,
                bundle=Bundle(servers=[server], volumes=volumes),
                justification=f"迁移计划批次项 {need.wave_item_id} / wave plan item {need.wave_item_id}",
            )
        except ValidationError as e:  # e.g. more instances or storage than one request may ask for
            raise ValidationFailed(
                f"{need.system_code} 的计划规模无法生成申请 / the planned sizing of {need.system_code} is not requestable",
                [Problem(str(err["msg"]), field=".".join(str(x) for x in err["loc"])) for err in e.errors()],
            ) from e
        table, ambiguous = flavor_table(catalog)
        return request_service.create(session, principal, ctx, body, table, ambiguous).code

    return create


def plan_services(catalog: FlavorCatalog) -> PlanServices:
    def flavors() -> tuple[Flavor, ...]:
        return plan_flavors(catalog)

    return PlanServices(
        capacity=plan_capacity,
        flavors=flavors,
        request_factory=request_factory(catalog, flavors),
    )
