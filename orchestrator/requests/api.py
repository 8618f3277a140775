"""API of the multi-cloud governance scheduler: requests, approval, placement, provisioning, events, quotas.

Thin: every write goes through `orchestrator.requests.service` (authorisation, state machine, audit, events)
or, for provisioning and retirement, `orchestrator.requests.provisioning_hook`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.db import Database
from core.deps import CurrentPrincipal, DatabaseDep, SessionDep, change_context
from core.enums import Role
from core.identity import Principal
from core.tasks.api import TaskJobOut, TasksDep
from core.tasks.backends import Tasks
from core.tasks.visibility import read_subject
from core.times import OutputTime
from core.validation import INT32_MAX, Count, Id, Limit, Offset
from core.wiring import Key, provider, services
from orchestrator.placement.engine import DRLevel, PlacementPolicy
from orchestrator.provisioning import capacity
from orchestrator.provisioning.api import CloudsDep, StepOut
from orchestrator.provisioning.clouds import Clouds
from orchestrator.provisioning.driver import CloudCapacity
from orchestrator.provisioning.runs import steps_of
from orchestrator.requests import approval, quotas
from orchestrator.requests import provisioning_hook as provisioning
from orchestrator.requests import service as svc
from orchestrator.requests import tasks as request_tasks
from orchestrator.requests.catalogue import Catalogue, CloudCatalogue, CloudOffer, no_catalogue
from orchestrator.requests.flavors import CloudFlavors, FlavorCatalog, flavor_table, no_flavors
from orchestrator.requests.lifecycle import Action, RequestCreate, RequestStatus, copies
from orchestrator.requests.models import ResourceRequest, UnitQuota

PREFIX = "/api/v1"
CapacitySource = Callable[[Session], list[CloudCapacity]]


class ResourcesOut(BaseModel):
    """An amount of cloud resources (every field)."""

    vcpus: int
    ram_mb: int
    disk_gb: int
    instances: int
    floating_ips: int


class LimitsOut(BaseModel):
    """Limits set (a resource without a limit is left out)."""

    vcpus: int | None = None
    ram_mb: int | None = None
    disk_gb: int | None = None
    instances: int | None = None
    floating_ips: int | None = None


class QuotaLevelOut(BaseModel):
    unit_id: int
    limits: LimitsOut
    subtree_used: ResourcesOut


class HeadroomOut(BaseModel):
    """What is left under the tightest limit on the path to the root (null: no limit)."""

    vcpus: int | None
    ram_mb: int | None
    disk_gb: int | None
    instances: int | None
    floating_ips: int | None


class QuotaOut(BaseModel):
    unit_id: int
    limits: LimitsOut
    usage: ResourcesOut
    chain: list[QuotaLevelOut]
    headroom: HeadroomOut


class QuotaSetOut(BaseModel):
    unit_id: int
    limits: LimitsOut


class RequestOut(BaseModel):
    """A resource request as the API shows it."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    code: str
    title: str
    unit_id: int
    system_id: int | None
    target_hosting: str
    dr_level: str
    status: RequestStatus
    first_level_done: bool
    approver_unit_id: int | None
    bundle: dict[str, Any]
    justification: str | None
    demand: dict[str, int]
    placement: dict[str, Any] | None
    primary_cloud: str | None
    primary_az: str | None
    replica_cloud: str | None
    replica_az: str | None
    resources: list[dict[str, Any]] | None
    failure_reason: str | None
    office_review: str | None  # why only the office may approve (zombie candidate); never auto-approved
    created_by: str

    @classmethod
    def of(cls, row: ResourceRequest) -> RequestOut:
        data = {k: getattr(row, k) for k in cls.model_fields if k != "demand"}
        data["target_hosting"] = row.target_hosting.value
        data["dr_level"] = row.dr_level.value
        return cls(**data, demand=svc.demand_of(row).as_dict())


class RequestJobOut(RequestOut):
    """The request and, when the call started background work, its job (poll `job.url` or the request)."""

    job: TaskJobOut | None = None


class EventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    request_id: int
    unit_id: int
    at: OutputTime
    kind: str
    status: str
    actor: str
    actor_role: str | None
    message: str | None


class ImpactOut(BaseModel):
    """One resource of the unit's quota: left before the request, what it asks (replicas counted), left after
    (null: no limit on the unit's path); `unit_id` is the unit whose limit binds."""

    resource: str
    demand: int
    before: int | None
    after: int | None
    unit_id: int | None
    fits: bool


class InboxItemOut(BaseModel):
    """A request waiting for the caller's approval level, with what it does to the unit's quota."""

    request: RequestOut
    level: str  # "first" (sub-cloud chief) or "final" (office)
    quota: list[ImpactOut]
    fits: bool


class PlacementPreviewOut(BaseModel):
    """Where placement would put the request now, explained; nothing is stored or reserved."""

    request_id: int
    code: str
    candidates: int
    placement: dict[str, Any]


class ResumeOut(BaseModel):
    """The request after resuming, and what resuming did."""

    request: RequestOut
    message: str | None


class FlavorOfferOut(BaseModel):
    name: str
    vcpus: int
    ram_mb: int
    disk_gb: int
    clouds: list[str]


class ImageOfferOut(BaseModel):
    name: str
    min_disk_gb: int
    clouds: list[str]


class NetworkOfferOut(BaseModel):
    name: str
    external: bool
    shared: bool
    clouds: list[str]


class CloudOfferOut(BaseModel):
    cloud: str
    availability_zone: str | None
    errors: list[str]


class DRChoiceOut(BaseModel):
    value: str
    label: str
    copies: int
    explanation: str


class CatalogueOut(BaseModel):
    """What the clouds offer to a request (申请目录): flavors (with the clouds whose sizes agree), images, the
    external/shared networks requested networks are routed to, and the DR choices with the sites they use."""

    clouds: list[CloudOfferOut]
    flavors: list[FlavorOfferOut]
    ambiguous_flavors: dict[str, str]
    images: list[ImageOfferOut]
    networks: list[NetworkOfferOut]
    dr_levels: list[DRChoiceOut]
    core_sites: list[str]
    dr_sites: list[str]


class CommentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment: str | None = Field(default=None, max_length=2000)


class RejectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment: str = Field(min_length=1, max_length=2000)


class RequestNoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=2000)


class QuotaIn(BaseModel):
    """New limits; a null clears that limit, an absent field keeps it."""

    model_config = ConfigDict(extra="forbid")
    vcpus: int | None = Field(default=None, ge=0, le=INT32_MAX)
    ram_mb: int | None = Field(default=None, ge=0, le=INT32_MAX)
    disk_gb: int | None = Field(default=None, ge=0, le=INT32_MAX)
    instances: int | None = Field(default=None, ge=0, le=INT32_MAX)
    floating_ips: int | None = Field(default=None, ge=0, le=INT32_MAX)


@dataclass(frozen=True)
class RequestsConfig:
    """The request scheduler's settings: auto-approval rules, placement policy, cloud quota mode."""

    auto_rules: approval.AutoRules
    policy: PlacementPolicy
    managed_quotas: bool = False


REQUESTS_CONFIG: Key[RequestsConfig] = Key("requests_config")
CAPACITY_SOURCE: Key[CapacitySource] = Key("capacity_source")
FLAVOR_CATALOG: Key[FlavorCatalog] = Key("flavor_catalog")
CLOUD_CATALOGUE: Key[Catalogue] = Key("cloud_catalogue")
get_cloud_catalogue = provider(CLOUD_CATALOGUE)
get_requests_config = provider(REQUESTS_CONFIG)
get_capacity_source = provider(CAPACITY_SOURCE)
get_flavor_catalog = provider(FLAVOR_CATALOG)
ConfigDep = Annotated[RequestsConfig, Depends(get_requests_config)]
CapacityDep = Annotated[CapacitySource, Depends(get_capacity_source)]
FlavorsDep = Annotated[FlavorCatalog, Depends(get_flavor_catalog)]
CatalogueDep = Annotated[Catalogue, Depends(get_cloud_catalogue)]


class RequestsCollector(Collector):
    """`yunwang_resource_requests{status}`: how many requests are in each state (one GROUP BY per scrape)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterable[GaugeMetricFamily]:
        g = GaugeMetricFamily("yunwang_resource_requests", "Resource requests by lifecycle state", labels=["status"])
        with self.db.sessions() as s:
            rows = s.execute(select(ResourceRequest.status, func.count()).group_by(ResourceRequest.status)).all()
        counts = {status: int(n) for status, n in rows}
        for status in RequestStatus:
            g.add_metric([status.value], counts.get(status, 0))
        yield g


def sampled_capacity(clouds: Clouds) -> CapacitySource:
    """Capacity from the newest samples, each cloud with its availability zone from clouds.yaml."""

    def source(session: Session) -> list[CloudCapacity]:
        return capacity.latest_capacities(session, clouds.availability_zone)

    return source


def may_read_request(session: Session, p: Principal, request_id: str) -> bool:
    """Who may see a request's jobs (core/tasks/visibility.py): whoever may read the request."""
    row = session.get(ResourceRequest, int(request_id)) if request_id.isdigit() else None
    return row is not None and approval.can_read(p, row.unit_id)


def install(
    app: FastAPI, db: Database, config: RequestsConfig, clouds: Clouds, registry: CollectorRegistry
) -> FlavorCatalog:
    """Wire the scheduler into the app: router, metrics collector, capacity source and flavor catalogue."""
    services(app).provide(REQUESTS_CONFIG, config)
    read_subject(request_tasks.SUBJECT, may_read_request)  # a request's jobs: whoever may read the request
    catalog = provide_clouds(app, clouds)
    app.include_router(build_router())
    registry.register(RequestsCollector(db))
    return catalog


def provide_clouds(app: FastAPI, clouds: Clouds) -> FlavorCatalog:
    """What the request routes read from the clouds: capacity samples, the flavor table, the catalogue."""
    services(app).provide(CAPACITY_SOURCE, sampled_capacity(clouds))
    services(app).provide(CLOUD_CATALOGUE, CloudCatalogue(clouds.drivers) if clouds.configured else no_catalogue)
    return services(app).provide(FLAVOR_CATALOG, CloudFlavors(clouds.drivers) if clouds.configured else no_flavors)


DR_TEXT = {
    DRLevel.NONE: ("不做灾备 / no DR", "一个站点一份 / one copy in one site"),
    DRLevel.REMOTE_DR: (
        "异地灾备 / remote DR",
        "主用在核心站点，副本在另一城市的灾备站点；配额按两份计 / primary in a core site, a replica in a DR site of "
        "another city; quota counts both copies",
    ),
    DRLevel.ACTIVE_ACTIVE: (
        "双活 / active-active",
        "两份同时服务：核心站点与另一城市的灾备站点；配额按两份计 / two serving copies, a core site and a DR site "
        "of another city; quota counts both",
    ),
}


def catalogue_of(offers: list[CloudOffer], flavors: FlavorCatalog, policy: PlacementPolicy) -> CatalogueOut:
    """The clouds' offers merged by name (a flavor whose sizes differ between clouds is listed as ambiguous)."""
    table, ambiguous = flavor_table(flavors)
    by_flavor: dict[str, list[str]] = {}
    images: dict[str, tuple[int, list[str]]] = {}
    networks: dict[str, tuple[bool, bool, list[str]]] = {}
    for o in offers:
        for name in o.flavors:
            by_flavor.setdefault(name, []).append(o.cloud)
        for img in o.images:
            images.setdefault(img.name, (img.min_disk_gb, []))[1].append(o.cloud)
        for net in o.networks:
            networks.setdefault(net.name, (net.external, net.shared, []))[2].append(o.cloud)
    return CatalogueOut(
        clouds=[CloudOfferOut(cloud=o.cloud, availability_zone=o.availability_zone, errors=o.errors) for o in offers],
        flavors=[
            FlavorOfferOut(name=n, vcpus=f.vcpus, ram_mb=f.ram_mb, disk_gb=f.disk_gb, clouds=by_flavor.get(n, []))
            for n, f in sorted((table or {}).items(), key=lambda kv: (kv[1].vcpus, kv[1].ram_mb, kv[0]))
        ],
        ambiguous_flavors=dict(ambiguous),
        images=[ImageOfferOut(name=n, min_disk_gb=d, clouds=c) for n, (d, c) in sorted(images.items())],
        networks=[
            NetworkOfferOut(name=n, external=e, shared=sh, clouds=c) for n, (e, sh, c) in sorted(networks.items())
        ],
        dr_levels=[
            DRChoiceOut(value=level.value, label=DR_TEXT[level][0], copies=copies(level), explanation=DR_TEXT[level][1])
            for level in DRLevel
        ],
        core_sites=list(policy.core_sites),
        dr_sites=list(policy.dr_sites),
    )


def build_router() -> APIRouter:  # noqa: C901 - the sum of independent nested routes, each simple
    router = APIRouter(prefix=PREFIX, tags=["multi-cloud scheduler / 多云共治"])

    @router.get("/catalogue", summary="What the clouds offer / 申请目录", response_model=CatalogueOut)
    def catalogue(p: CurrentPrincipal, offers: CatalogueDep, flavors: FlavorsDep, config: ConfigDep) -> CatalogueOut:
        return catalogue_of(list(offers()), flavors, config.policy)

    @router.get("/requests/inbox", summary="Waiting for my approval / 待我审批", response_model=list[InboxItemOut])
    def inbox(session: SessionDep, p: CurrentPrincipal) -> list[InboxItemOut]:
        out = []
        for row in svc.inbox(session, p):
            rows = quotas.impact(quotas.chain_for(session, row.unit_id), svc.demand_of(row))
            impact = [ImpactOut(**vars(i), fits=i.fits) for i in rows]
            out.append(
                InboxItemOut(
                    request=RequestOut.of(row),
                    level="final" if row.first_level_done else "first",
                    quota=impact,
                    fits=all(i.fits for i in impact),
                )
            )
        return out

    @router.post("/requests", status_code=201, summary="Create a draft request / 新建资源申请")
    def create_request(
        body: RequestCreate, request: Request, session: SessionDep, p: CurrentPrincipal, flavors: FlavorsDep
    ) -> RequestOut:
        table, ambiguous = flavor_table(flavors)
        row = svc.create(session, p, change_context(request, p), body, table, ambiguous)
        session.commit()
        return RequestOut.of(row)

    @router.get("/requests", summary="List requests / 申请列表")
    def list_requests(
        session: SessionDep,
        p: CurrentPrincipal,
        status: RequestStatus | None = None,
        unit_id: Id | None = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> list[RequestOut]:
        rows = svc.list_requests(session, p, status, unit_id, min(max(limit, 1), 1000), max(offset, 0))
        return [RequestOut.of(r) for r in rows]

    @router.get("/requests/counts", summary="How many requests by status / 各状态申请数")
    def request_counts(session: SessionDep, p: CurrentPrincipal) -> dict[str, int]:
        return svc.counts_by_status(session, p)

    @router.get("/requests/{request_id}", summary="One request / 申请详情")
    def get_request(request_id: Id, session: SessionDep, p: CurrentPrincipal) -> RequestOut:
        return RequestOut.of(svc.get(session, p, request_id))

    @router.post("/requests/{request_id}/submit", summary="Submit (quota check, auto-approval) / 提交")
    def submit(
        request_id: Id, request: Request, session: SessionDep, p: CurrentPrincipal, config: ConfigDep
    ) -> RequestOut:
        row = svc.get(session, p, request_id)
        svc.submit(session, p, change_context(request, p), row, config.auto_rules)
        session.commit()
        return RequestOut.of(row)

    @router.post("/requests/{request_id}/approve", summary="Approve: first level (sub-cloud chief) or final (office)")
    def approve(
        request_id: Id, request: Request, session: SessionDep, p: CurrentPrincipal, body: CommentIn | None = None
    ) -> RequestOut:
        row = svc.get(session, p, request_id)
        ctx = change_context(request, p)
        text = body.comment if body else None
        if p.role == Role.SUB_CLOUD_CHIEF:
            svc.first_approve(session, p, ctx, row, text)
        else:
            svc.approve(session, p, ctx, row, text)
        session.commit()
        return RequestOut.of(row)

    @router.post("/requests/{request_id}/reject", summary="Reject with a comment / 驳回")
    def reject(
        request_id: Id, body: RejectIn, request: Request, session: SessionDep, p: CurrentPrincipal
    ) -> RequestOut:
        row = svc.get(session, p, request_id)
        svc.reject(session, p, change_context(request, p), row, body.comment)
        session.commit()
        return RequestOut.of(row)

    @router.post("/requests/{request_id}/comments", status_code=201, summary="Comment / 评论")
    def add_comment(
        request_id: Id, body: RequestNoteIn, request: Request, session: SessionDep, p: CurrentPrincipal
    ) -> EventOut:
        row = svc.get(session, p, request_id)
        ev = svc.comment(session, p, change_context(request, p), row, body.text)
        session.commit()
        return EventOut.model_validate(ev)

    @router.post("/requests/{request_id}/schedule", summary="Place it (explained) / 调度")
    def schedule(
        request_id: Id,
        request: Request,
        session: SessionDep,
        p: CurrentPrincipal,
        config: ConfigDep,
        source: CapacityDep,
    ) -> RequestOut:
        row = svc.get(session, p, request_id)
        approval.authorize(p, Action.SCHEDULE, svc.facts(row))
        cands = svc.candidates(session, source(session))
        try:
            svc.schedule(session, p, change_context(request, p), row, cands, config.policy)
        except svc.PlacementRefused:
            session.commit()  # the refusal and its reasons stay on the request
            raise
        session.commit()
        return RequestOut.of(row)

    def started(
        tasks: Tasks, name: str, data: dict[str, Any], p: CurrentPrincipal, response: Response, session: Session
    ) -> RequestJobOut:
        """Submit the request's task (or find the one already running): 202, the job and where to poll it."""
        job_id = tasks.submit(name, data, subject=request_tasks.subject(data["request_id"]), requested_by=p.name)
        job = tasks.get(job_id)
        response.status_code = 202
        response.headers["Location"] = job["url"]
        row = svc.get(session, p, data["request_id"])
        return RequestJobOut(**RequestOut.of(row).model_dump(), job=job)

    def answered_at_once(session: Session, p: CurrentPrincipal, request_id: int, response: Response) -> RequestJobOut:
        """A provision/retire that needed no job (a repeat): 200 with the request as it is now."""
        response.status_code = 200
        session.rollback()
        return RequestJobOut(**RequestOut.of(svc.get(session, p, request_id)).model_dump())

    @router.post(
        "/requests/{request_id}/provision",
        summary="Provision on the chosen clouds: 202 with the job / 开通（后台任务）",
        response_model=RequestJobOut,
        status_code=202,
    )
    def provision(
        request_id: Id,
        request: Request,
        response: Response,
        session: SessionDep,
        p: CurrentPrincipal,
        db: DatabaseDep,
        clouds: CloudsDep,
        config: ConfigDep,
        tasks: TasksDep,
    ) -> RequestJobOut:
        row = svc.get(session, p, request_id)
        approval.authorize(p, Action.PROVISION, svc.facts(row))
        status = row.status
        session.rollback()  # end this read; provisioning commits step by step in its own sessions
        ctx = change_context(request, p)
        driver_for = clouds.driver_for()  # no clouds configured: 409 now, not a failed job
        if status not in (RequestStatus.SCHEDULED, RequestStatus.PROVISIONING):
            provisioning.provision(db, p, ctx, request_id, driver_for, config.managed_quotas)  # a repeat or a 409
            return answered_at_once(session, p, request_id, response)
        data = request_tasks.payload(request_id, p, ctx, config.managed_quotas)
        return started(tasks, request_tasks.PROVISION, data, p, response, session)

    @router.post(
        "/requests/{request_id}/retire",
        summary="Retire: delete what it created; 202 with the job / 退役（后台任务）",
        response_model=RequestJobOut,
        status_code=202,
    )
    def retire(
        request_id: Id,
        request: Request,
        response: Response,
        session: SessionDep,
        p: CurrentPrincipal,
        db: DatabaseDep,
        clouds: CloudsDep,
        tasks: TasksDep,
    ) -> RequestJobOut:
        row = svc.get(session, p, request_id)
        approval.authorize(p, Action.RETIRE, svc.facts(row))
        status = row.status
        session.rollback()  # end this read; provisioning commits step by step in its own sessions
        ctx = change_context(request, p)
        if status not in (RequestStatus.ACTIVE, RequestStatus.FAILED, RequestStatus.RETIRING):
            provisioning.retire(db, p, ctx, request_id, clouds.driver_for())  # a repeat or a 409, at once
            return answered_at_once(session, p, request_id, response)
        clouds.driver_for()  # no clouds configured: 409 now
        return started(tasks, request_tasks.RETIRE, request_tasks.payload(request_id, p, ctx), p, response, session)

    @router.get(
        "/requests/{request_id}/jobs",
        summary="Its background jobs (provisioning, retirement), newest first / 后台任务",
        response_model=list[TaskJobOut],
    )
    def request_jobs(request_id: Id, session: SessionDep, p: CurrentPrincipal, tasks: TasksDep) -> list[dict[str, Any]]:
        svc.get(session, p, request_id)  # 404 outside the caller's units
        session.rollback()
        return tasks.page(p, request_tasks.subject(request_id), limit=1000)[0]  # core/tasks/visibility.py

    @router.get(
        "/requests/{request_id}/placement-preview",
        summary="Where placement would put it now, explained (stores nothing) / 调度预览",
        response_model=PlacementPreviewOut,
    )
    def placement_preview(
        request_id: Id, session: SessionDep, p: CurrentPrincipal, config: ConfigDep, source: CapacityDep
    ) -> PlacementPreviewOut:
        row = svc.get(session, p, request_id)
        cands = svc.candidates(session, source(session))
        decision = svc.explained_placement(session, row, cands, config.policy)
        session.rollback()  # a read: nothing of it is kept
        return PlacementPreviewOut(
            request_id=request_id, code=row.code, candidates=len(cands), placement=decision.explain()
        )

    @router.get(
        "/requests/{request_id}/steps",
        summary="Its provisioning step log / 开通步骤",
        response_model=list[StepOut],
    )
    def request_steps(
        request_id: Id, session: SessionDep, p: CurrentPrincipal, db: DatabaseDep
    ) -> list[dict[str, Any]]:
        code = svc.get(session, p, request_id).code
        session.rollback()
        return steps_of(db, code)

    @router.post(
        "/requests/{request_id}/resume",
        summary="Resume an interrupted provisioning or retirement / 继续开通或退役",
        response_model=ResumeOut,
    )
    def resume(
        request_id: Id,
        request: Request,
        session: SessionDep,
        p: CurrentPrincipal,
        db: DatabaseDep,
        clouds: CloudsDep,
        config: ConfigDep,
    ) -> ResumeOut:
        row = svc.get(session, p, request_id)
        approval.authorize(p, Action.PROVISION, svc.facts(row))
        session.rollback()  # end this read; provisioning commits step by step in its own sessions
        ctx = change_context(request, p)
        result = provisioning.resume(db, p, ctx, request_id, clouds.driver_for(), config.managed_quotas)
        session.rollback()
        return ResumeOut(request=RequestOut.of(svc.get(session, p, request_id)), message=result.message)

    @router.get("/requests/{request_id}/events", summary="A request's events / 申请动态")
    def request_events(request_id: Id, session: SessionDep, p: CurrentPrincipal) -> list[EventOut]:
        svc.get(session, p, request_id)
        return [EventOut.model_validate(e) for e in svc.events(session, p, request_id=request_id, limit=1000)]

    @router.get("/events", summary="Notifications / 通知 (poll with since_id)")
    def all_events(session: SessionDep, p: CurrentPrincipal, since_id: Count = 0, limit: Limit = 200) -> list[EventOut]:
        return [
            EventOut.model_validate(e)
            for e in svc.events(session, p, since_id=since_id, limit=min(max(limit, 1), 1000))
        ]

    @router.get(
        "/quotas/{unit_id}",
        summary="A unit's quota, usage and headroom / 配额",
        response_model=QuotaOut,
        response_model_exclude_unset=True,
    )
    def get_quota(unit_id: Id, session: SessionDep, p: CurrentPrincipal) -> dict[str, Any]:
        approval.require_read(p, unit_id, "quota")
        chain = quotas.chain_for(session, unit_id)
        own = quotas.limits_of(session.get(UnitQuota, unit_id))
        headroom = quotas.headroom(chain)
        return {
            "unit_id": unit_id,
            "limits": own,
            "usage": quotas.usage_of(session, unit_id).as_dict(),
            "chain": [{"unit_id": lv.unit_id, "limits": lv.limits, "subtree_used": lv.used.as_dict()} for lv in chain],
            "headroom": headroom,
        }

    @router.put(
        "/quotas/{unit_id}",
        summary="Set a unit's quota (office) / 分配配额",
        response_model=QuotaSetOut,
        response_model_exclude_unset=True,
    )
    def put_quota(
        unit_id: Id, body: QuotaIn, request: Request, session: SessionDep, p: CurrentPrincipal
    ) -> dict[str, Any]:
        row = quotas.set_limits(session, change_context(request, p), unit_id, body.model_dump(exclude_unset=True))
        session.commit()
        return {"unit_id": unit_id, "limits": quotas.limits_of(row)}

    return router
