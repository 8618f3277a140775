"""Migration-planning API (/api/v1/plan): readiness, zombies and their retirement, wave plans, tracking, look-back.

What the planner needs from the rest of the service comes in one typed `PlanServices` (installed by the
orchestrator with `install(app, services)`, read through `get_plan_services`): free capacity per cloud, the
flavor table, zombie evidence (utilisation and probe history by system id) and the request factory that turns
a wave's systems into draft resource requests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.audit import ChangeContext
from core.deps import CurrentPrincipal, SessionDep, change_context
from core.errors import Conflict, NotFound, Problem
from core.identity import Principal
from core.threads import run_long
from core.times import today_beijing
from core.validation import INT32_MAX, Id, unsafe_reason
from core.wiring import Key, provider, services
from inventory.models import InformationSystem
from migrations_plan import api_models as m
from migrations_plan import export, guards, planning, retirement, store, tracking
from migrations_plan.facts import DEFAULT_FLAVORS, Capacity, Flavor, SystemFacts
from migrations_plan.load import load_inventory
from migrations_plan.models import ItemKind, ItemStatus, RetirementCase, WaveItem, WavePlan
from migrations_plan.readiness import Assessment, Outcome
from migrations_plan.zombies import ProbeHistory, Utilisation, ZombieScore, score

PREFIX = "/api/v1/plan"

XLSX_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"description": "XLSX", "content": {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}}}
}


Evidence = tuple[dict[int, Utilisation] | None, dict[int, ProbeHistory] | None]
# Creates a draft resource request for a wave's system on behalf of `principal`; returns its reference.
PlanRequestFactory = Callable[[Session, Principal, tracking.ResourceNeed, ChangeContext], str | None]


def _no_evidence(session: Session) -> Evidence:
    return None, None


@dataclass(frozen=True)
class PlanServices:
    """What the orchestrator supplies to the planner (all optional: without them the planner still works)."""

    capacity: planning.CapacityProvider = lambda session: None
    flavors: Callable[[], tuple[Flavor, ...]] = lambda: DEFAULT_FLAVORS
    zombie_evidence: Callable[[Session], Evidence] = _no_evidence
    request_factory: PlanRequestFactory | None = None


class DraftOut(BaseModel):
    item_id: int
    code: str  # the system's code
    request_code: str | None  # the resource request's code (RR000001); None when skipped
    reason: str | None = None  # skipped: already_migrated, item_status:<status>, retired, refused:<code>, …
    message: str | None = None  # skipped: why, Chinese first


class DraftRequestsIn(BaseModel):
    """What the caller chooses for the drafts: the image of their servers (nothing can edit a draft later)."""

    image: str = Field(min_length=1, max_length=128, description="镜像 / image of the drafted servers")

    @field_validator("image")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("镜像不能为空 / image must not be empty")
        if unsafe_reason(v):
            raise ValueError(f"镜像名不合法 / image name is not acceptable: {unsafe_reason(v)}")
        return v


class WaveRequestsOut(BaseModel):
    """Draft requests of a plan: created now, already there (not created again), skipped (with the reason)."""

    plan_id: int
    created: list[DraftOut]
    existing: list[DraftOut]
    skipped: list[DraftOut]


PLAN_SERVICES: Key[PlanServices] = Key("plan_services")
get_plan_services = provider(PLAN_SERVICES)
PlanDep = Annotated[PlanServices, Depends(get_plan_services)]


def install(app: FastAPI, plan: PlanServices) -> None:
    """The planning API with what the orchestrator supplies."""
    services(app).provide(PLAN_SERVICES, plan)
    app.include_router(build_router())


def _capacity(plan: PlanServices, session: Session) -> dict[int, Capacity] | None:
    got = plan.capacity(session)
    return dict(got) if got is not None else None


def _flavors(plan: PlanServices) -> tuple[Flavor, ...]:
    return plan.flavors() or DEFAULT_FLAVORS


def _visible_unit(principal: Principal, unit_id: int | None) -> bool:
    return principal.units is None or unit_id in principal.units


def _assessment_out(a: Assessment, s: SystemFacts) -> dict[str, Any]:
    return {
        "system_id": a.system_id,
        "code": a.code,
        "unit_id": s.unit_id,
        "hosting": s.hosting.value,
        "room_id": s.room_id,
        "cloud_id": s.cloud_id,
        "status": s.status.value,
        "outcome": a.outcome.value,
        "reasons": [{"code": r.code, "severity": r.severity.value, "zh": r.zh, "en": r.en} for r in a.reasons],
        "flavor": a.sizing.flavor if a.sizing else None,
        "instances": a.sizing.instances if a.sizing else None,
        "demand": asdict(a.sizing.demand) if a.sizing else None,
        "target_cloud_id": a.target_cloud_id,
        "candidate_clouds": list(a.candidate_clouds),
    }


def _zombie_out(z: ZombieScore) -> dict[str, Any]:
    return {
        "system_id": z.system_id,
        "code": z.code,
        "name": z.name,
        "unit_id": z.unit_id,
        "score": z.score,
        "candidate": z.candidate,
        "basis": z.basis,
        "evidence": z.as_json(),
    }


class UtilisationIn(BaseModel):
    cpu_ratio: float = Field(ge=0, le=1)
    days: int = Field(ge=0, le=100_000)


class ProbesIn(BaseModel):
    reachable_ratio: float = Field(ge=0, le=1)
    requests_seen: int = Field(ge=0, le=INT32_MAX)
    days: int = Field(ge=0, le=100_000)


class EvidenceIn(BaseModel):
    """Optional evidence per system id: cloud utilisation and probe history."""

    utilisation: dict[Id, UtilisationIn] = Field(default_factory=dict)
    probes: dict[Id, ProbesIn] = Field(default_factory=dict)


class ProposeIn(BaseModel):
    system_id: Id
    reason: str | None = Field(default=None, max_length=2000)


class PlanNoteIn(BaseModel):
    note: str | None = Field(default=None, max_length=2000)


class ApproveIn(PlanNoteIn):
    """`override_reason`: the office's explicit override, needed below the candidate threshold or with dependents."""

    override_reason: str | None = Field(default=None, max_length=2000)


class PlanIn(BaseModel):
    name: str = Field(default="迁移批次计划 / wave plan", max_length=200)
    max_wave_size: int = Field(default=50, ge=1, le=10000)
    max_per_unit: int | None = Field(default=None, ge=1, le=INT32_MAX)
    max_per_city: int | None = Field(default=None, ge=1, le=INT32_MAX)
    store: bool = True


class StatusIn(BaseModel):
    status: ItemStatus
    cloud_id: Id | None = None


def _xlsx(data: bytes, filename: str) -> Response:
    return Response(
        data,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _case_out(case: RetirementCase, session: Any, live: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The case with its live dependents (any unit) and why approval would need an override, for everyone.

    An open case shows what approval would meet today: the dependents now and the system's score now.
    """
    out = retirement.case_dict(case)
    if case.state in retirement.OPEN:
        live = retirement.live_dependents(session, case.system_id) if live is None else live
        now = retirement.current_score(session, case.system_id, today_beijing())
        out["dependents"] = live
        out["override_needed"] = [p.message for p in retirement.override_needed(case, now, live)]
    else:
        out["override_needed"] = []
    return out


def _item_out(item: WaveItem, stale: list[guards.Note] | None = None) -> dict[str, Any]:
    return {
        **store.row_dict(item),
        "stale": [{"code": n.code, "zh": n.zh, "en": n.en} for n in stale or []],
    }


def build_router() -> APIRouter:  # noqa: C901 - the sum of independent nested routes, each simple
    """The /api/v1/plan router; included by orchestrator/app/factory.py."""
    router = APIRouter(prefix=PREFIX, tags=["migration planning / 迁移规划"])

    # --- readiness -----------------------------------------------------------------------

    @router.get("/readiness", summary="Readiness of every system / 迁移就绪度", response_model=m.ReadinessPage)
    def readiness(
        request: Request,
        session: SessionDep,
        principal: CurrentPrincipal,
        wired: PlanDep,
        outcome: Outcome | None = None,
        unit_id: Id | None = None,
    ) -> dict[str, Any]:
        inv, got = planning.assess(session, _capacity(wired, session), _flavors(wired))
        out = []
        for sid, a in got.items():
            unit = inv.systems[sid].unit_id
            if not _visible_unit(principal, unit) or (outcome and a.outcome != outcome):
                continue
            if unit_id is not None and unit != unit_id:
                continue
            out.append(_assessment_out(a, inv.systems[sid]))
        counts: dict[str, int] = {}
        for row in out:
            counts[row["outcome"]] = counts.get(row["outcome"], 0) + 1
        return {"items": out, "total": len(out), "by_outcome": counts}

    @router.get(
        "/readiness/{system_id}", summary="Readiness of one system / 单个系统就绪度", response_model=m.AssessmentOut
    )
    def readiness_one(
        system_id: Id, request: Request, session: SessionDep, principal: CurrentPrincipal, wired: PlanDep
    ) -> dict[str, Any]:
        inv, got = planning.assess(session, _capacity(wired, session), _flavors(wired))
        if system_id not in got or not _visible_unit(principal, inv.systems[system_id].unit_id):
            raise NotFound(f"system {system_id} not found", [Problem("no such id", field="system_id", value=system_id)])
        return _assessment_out(got[system_id], inv.systems[system_id])

    # --- zombies and their retirement -----------------------------------------------------

    @router.get("/zombies", summary="Zombie candidates with their evidence / 僵尸系统候选", response_model=m.ZombiePage)
    def zombies(
        request: Request,
        session: SessionDep,
        principal: CurrentPrincipal,
        wired: PlanDep,
        on: Annotated[date | None, Query(description="judge as of this date (default today)")] = None,
    ) -> dict[str, Any]:
        util, probes = wired.zombie_evidence(session)
        found = planning.zombies(session, on or today_beijing(), utilisation=util, probes=probes)
        items = [_zombie_out(z) for z in found if _visible_unit(principal, z.unit_id)]
        return {"items": items, "total": len(items)}

    @router.post(
        "/zombies/score",
        summary="Score systems with given utilisation/probe evidence / 带证据评分",
        response_model=m.ZombiePage,
    )
    def zombies_with_evidence(
        body: EvidenceIn,
        session: SessionDep,
        principal: CurrentPrincipal,
        on: date | None = None,
    ) -> dict[str, Any]:
        util = {k: Utilisation(v.cpu_ratio, v.days) for k, v in body.utilisation.items()}
        probes = {k: ProbeHistory(v.reachable_ratio, v.requests_seen, v.days) for k, v in body.probes.items()}
        found = planning.zombies(session, on or today_beijing(), utilisation=util, probes=probes)
        items = [_zombie_out(z) for z in found if _visible_unit(principal, z.unit_id)]
        return {"items": items, "total": len(items)}

    @router.get(
        "/retirements",
        summary="Retirement cases / 僵尸系统下线流程",
        response_model=list[m.RetirementCaseOut],
        response_model_exclude_unset=True,
    )
    def retirements(session: SessionDep, principal: CurrentPrincipal) -> list[dict[str, Any]]:
        rows = (
            session.query(RetirementCase, InformationSystem.owner_unit_id)
            .join(InformationSystem, InformationSystem.id == RetirementCase.system_id)
            .order_by(RetirementCase.id)
            .all()
        )
        live = retirement.dependents_of(session, (c.system_id for c, _ in rows))
        # everyone involved: the owner unit's subtree, and the units whose systems depend on the retiring one,
        # now (dependents added after the proposal included) or when the case was last decided on
        return [
            _case_out(c, session, live[c.system_id])
            for c, unit in rows
            if _visible_unit(principal, unit)
            or any(_visible_unit(principal, d.get("unit_id")) for d in [*live[c.system_id], *(c.dependents or [])])
        ]

    @router.post(
        "/retirements",
        status_code=201,
        summary="Propose retiring a zombie / 提出下线",
        response_model=m.RetirementCaseOut,
        response_model_exclude_unset=True,
    )
    def propose(body: ProposeIn, request: Request, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
        system = session.get(InformationSystem, body.system_id)
        if system is None or not _visible_unit(principal, system.owner_unit_id):
            raise NotFound(f"system {body.system_id} not found", [Problem("no such id", field="system_id")])
        inv_sys = load_inventory(session).systems
        facts = inv_sys[system.id]
        repl = inv_sys.get(facts.replaced_by_id) if facts.replaced_by_id else None
        z = score(facts, today_beijing(), replacement_code=repl.code if repl else None)
        case = retirement.propose(session, z, change_context(request, principal), body.reason)
        session.commit()
        return _case_out(case, session)

    @router.post(
        "/retirements/{case_id}/confirm",
        summary="Owner unit confirms / 责任单位确认",
        response_model=m.RetirementCaseOut,
        response_model_exclude_unset=True,
    )
    def confirm(
        case_id: Id, body: PlanNoteIn, request: Request, session: SessionDep, principal: CurrentPrincipal
    ) -> dict[str, Any]:
        case = retirement.confirm(session, case_id, change_context(request, principal), principal.units, body.note)
        session.commit()
        return _case_out(case, session)

    @router.post(
        "/retirements/{case_id}/approve",
        summary="Office approves: system retired / 云长办审批下线",
        response_model=m.RetirementCaseOut,
        response_model_exclude_unset=True,
    )
    def approve(
        case_id: Id, body: ApproveIn, request: Request, session: SessionDep, principal: CurrentPrincipal, wired: PlanDep
    ) -> dict[str, Any]:
        ctx = change_context(request, principal)
        util, probes = wired.zombie_evidence(session)
        system_id = retirement.get_case(session, case_id).system_id
        case = retirement.approve(
            session,
            case_id,
            ctx,
            today_beijing(),
            body.note,
            body.override_reason,
            (util or {}).get(system_id),
            (probes or {}).get(system_id),
        )
        session.commit()
        return _case_out(case, session)

    @router.post(
        "/retirements/{case_id}/reject",
        summary="Reject a retirement / 驳回",
        response_model=m.RetirementCaseOut,
        response_model_exclude_unset=True,
    )
    def reject(
        case_id: Id, body: PlanNoteIn, request: Request, session: SessionDep, principal: CurrentPrincipal
    ) -> dict[str, Any]:
        case = retirement.reject(session, case_id, change_context(request, principal), principal.units, body.note)
        session.commit()
        return _case_out(case, session)

    # --- wave plans -------------------------------------------------------------------------

    @router.post(
        "/waves",
        summary="Compute (and store) a wave plan / 计算分批迁移计划",
        response_model=m.ComputedPlanOut,
        response_model_exclude_unset=True,
    )
    def compute(
        body: PlanIn, request: Request, session: SessionDep, principal: CurrentPrincipal, wired: PlanDep
    ) -> dict[str, Any]:
        options = planning.Options(body.max_wave_size, body.max_per_unit, body.max_per_city, _flavors(wired))
        plan = planning.compute_plan(session, options, _capacity(wired, session))
        out: dict[str, Any] = {"summary": store.summary(plan), "items": [asdict(p) for p in plan.items]}
        if body.store:
            row = store.save_plan(session, plan, body.name, options.params(), change_context(request, principal))
            session.commit()
            out["plan_id"] = row.id
        return out

    @router.post(
        "/waves/export.xlsx",
        summary="Compute a plan and export it as XLSX (not stored) / 计算并导出",
        response_class=Response,
        responses=XLSX_RESPONSE,
    )
    async def compute_xlsx(
        body: PlanIn, request: Request, session: SessionDep, principal: CurrentPrincipal, wired: PlanDep
    ) -> Response:
        def workbook() -> bytes:
            options = planning.Options(body.max_wave_size, body.max_per_unit, body.max_per_city, _flavors(wired))
            plan = planning.compute_plan(session, options, _capacity(wired, session))
            rows = planning.rows_from_plan(plan, planning.Names.load(session))
            return export.workbook(rows, store.summary(plan), plan.cycles)

        return _xlsx(await run_long(workbook), "wave-plan.xlsx")

    @router.get("/waves", summary="Stored wave plans / 已存计划", response_model=list[m.WavePlanOut])
    def plans(session: SessionDep, principal: CurrentPrincipal) -> list[dict[str, Any]]:
        return [store.row_dict(p) for p in session.scalars(select(WavePlan).order_by(WavePlan.id.desc()))]

    @router.get(
        "/waves/{plan_id}", summary="One stored plan with its items / 计划详情", response_model=m.WavePlanDetail
    )
    def plan_detail(plan_id: Id, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
        row = store.get_plan(session, plan_id)
        visible = [i for i in store.plan_items(session, row.id) if _visible_unit(principal, i.unit_id)]
        stale = guards.stale_notes(session, visible)
        newest = session.scalar(select(func.max(WavePlan.id)))
        return {
            **store.row_dict(row),
            "superseded_by": newest if newest != row.id else None,
            "stale_items": len(stale),
            "items": [_item_out(i, stale.get(i.id)) for i in visible],
        }

    @router.get(
        "/waves/{plan_id}/export.xlsx",
        summary="Export a stored plan as XLSX / 导出计划",
        response_class=Response,
        responses=XLSX_RESPONSE,
    )
    async def plan_xlsx(plan_id: Id, session: SessionDep, principal: CurrentPrincipal) -> Response:
        def workbook() -> bytes:
            row = store.get_plan(session, plan_id)
            items = [i for i in store.plan_items(session, row.id) if _visible_unit(principal, i.unit_id)]
            rows = planning.rows_from_items(items, planning.Names.load(session), guards.stale_notes(session, items))
            return export.workbook(rows, row.summary, row.summary.get("cycles", []))

        return _xlsx(await run_long(workbook), f"wave-plan-{plan_id}.xlsx")

    @router.post(
        "/waves/{plan_id}/requests",
        summary="Draft resource requests for a stored plan's gov-cloud systems / 为迁移计划生成资源申请草稿",
    )
    def wave_requests(
        plan_id: Id,
        request: Request,
        session: SessionDep,
        principal: CurrentPrincipal,
        wired: PlanDep,
        body: DraftRequestsIn,
        wave: Annotated[
            int | None, Query(ge=1, le=INT32_MAX, description="only this wave (default: every wave)")
        ] = None,
    ) -> WaveRequestsOut:
        """One DRAFT request per system of the plan (or wave) that targets the gov cloud, through the request
        service (audited), with the image in the body and the plan's flavor ×instances and storage; a system
        that already has its request is left alone, so a second call creates nothing. Items already moved,
        stale, or refused by the request service are skipped with their reason; the others are still drafted."""
        make = wired.request_factory
        if make is None:
            raise Conflict(
                "没有接入资源申请 / no request service is wired into the planner",
                [Problem("the orchestrator supplies PlanServices.request_factory", field="plan_id", value=plan_id)],
            )
        row = store.get_plan(session, plan_id)
        ctx = change_context(request, principal, message=f"迁移计划 {row.id} / wave plan {row.id}")
        got = tracking.draft_requests(
            session,
            row.id,
            wave,
            principal.units,
            lambda s, need, c: make(s, principal, need, c),
            ctx,
            body.image,
            _flavors(wired),
        )
        session.commit()
        return WaveRequestsOut(
            plan_id=row.id,
            created=[DraftOut(item_id=i.id, code=i.code, request_code=i.request_ref) for i in got.created],
            existing=[DraftOut(item_id=i.id, code=i.code, request_code=i.request_ref) for i in got.existing],
            skipped=[
                DraftOut(item_id=k.item.id, code=k.item.code, request_code=None, reason=k.reason, message=k.message)
                for k in got.skipped
            ],
        )

    # --- tracking and look-back -------------------------------------------------------------

    @router.post(
        "/items/{item_id}/status", summary="Move a wave item / 更新迁移进度", response_model=m.WaveItemMovedOut
    )
    def item_status(
        item_id: Id, body: StatusIn, request: Request, session: SessionDep, principal: CurrentPrincipal
    ) -> dict[str, Any]:
        # Draft requests come from POST /waves/{plan_id}/requests (by a requesting role), not from moving an item.
        item = tracking.advance(
            session, item_id, body.status, change_context(request, principal), principal.units, body.cloud_id
        )
        warnings = (
            guards.out_of_order(session, item.object_id)
            if item.kind == ItemKind.SYSTEM and body.status == ItemStatus.MIGRATED
            else []
        )
        session.commit()
        return {**_item_out(item), "warnings": [{"code": w.code, "zh": w.zh, "en": w.en} for w in warnings]}

    @router.post("/lookback", summary="Run the look-back review / 回头看", response_model=m.LookbackOut)
    def lookback(
        request: Request, session: SessionDep, principal: CurrentPrincipal, on: date | None = None
    ) -> dict[str, Any]:
        found = planning.run_lookback(
            session, change_context(request, principal, message="回头看"), on or today_beijing()
        )
        session.commit()
        return {"findings": [asdict(f) for f in found], "total": len(found)}

    return router
