"""Rates API: every rate now or as of a date, its breakdowns, and the items behind each number.

Any authenticated role may read. Scoped roles (sub-cloud chiefs, department users) see the overall, city and
level figures — the aggregates the office publishes in its monthly supervision report — but only their own
units in the unit breakdown and in the item lists.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel
from sqlalchemy import select

from core.deps import CurrentPrincipal, SessionDep, change_context
from core.errors import NotFound, Problem
from core.identity import Principal
from core.responses import Number
from core.times import InputTime, OutputTime
from core.validation import Id, Offset
from dashboards import confirmations, rates
from dashboards.rates import Breakdown, Rate, RateKey, RateReport
from inventory import history
from inventory.enums import SubjectKind
from inventory.models import Unit

PREFIX = "/api/v1/rates"


class RateOut(BaseModel):
    numerator: int
    denominator: int
    ratio: Number | None
    target: Number | None


class BreakdownOut(BaseModel):
    dimension: str
    key: str
    label: str
    rate: RateOut
    excluded_counts: dict[str, int]


class TargetOut(BaseModel):
    deadline: str
    effective_from: OutputTime
    value: Number
    source: str


class ReportOut(BaseModel):
    key: str
    label_zh: str
    label_en: str
    at: OutputTime
    overall: RateOut
    excluded_counts: dict[str, int]
    targets: list[TargetOut]
    breakdowns: list[BreakdownOut]


class HistoryOut(BaseModel):
    earliest: OutputTime | None
    every_kind_since: OutputTime | None
    kinds: dict[str, OutputTime]
    note_zh: str
    note_en: str


class ItemsPage(BaseModel):
    key: str
    part: str
    at: OutputTime | None
    total: int
    limit: int
    offset: int
    items: list[dict[str, Any]]


class DeterminationOut(BaseModel):
    """A determination with its standing: in_force, superseded (see superseded_by), withdrawn or not_yet_in_force."""

    id: int
    code: str | None
    subject_kind: str
    subject_id: int | None
    new_object_code: str | None
    decision: str
    decided_by: str | None
    decided_on: str | None
    reason: str | None
    active: bool
    standing: Literal["in_force", "superseded", "withdrawn", "not_yet_in_force"]
    superseded_by: str | None


class PendingOut(BaseModel):
    """A self-declared completion awaiting the office (the object as it is now)."""

    kind: str
    id: int
    code: str
    name: str | None
    unit_code: str | None
    declared_status: str | None
    status: str | None
    declared_by: str | None
    declared_at: str | None


class ConfirmedOut(BaseModel):
    kind: str
    id: int
    code: str
    status: str | None
    confirmed: bool


def _rate(r: Rate) -> RateOut:
    return RateOut(numerator=r.numerator, denominator=r.denominator, ratio=r.ratio, target=r.target)


def _breakdown(b: Breakdown) -> BreakdownOut:
    return BreakdownOut(
        dimension=b.dimension, key=b.key, label=b.label, rate=_rate(b.rate), excluded_counts=b.excluded_counts or {}
    )


def report_out(report: RateReport, unit_codes: frozenset[str] | None = None) -> ReportOut:
    """A report as JSON; with `unit_codes`, the unit breakdown keeps only those units."""
    shown = [b for b in report.breakdowns if b.dimension != "unit" or unit_codes is None or b.key in unit_codes]
    return ReportOut(
        key=report.key.value,
        label_zh=report.label_zh,
        label_en=report.label_en,
        at=report.at,
        overall=_rate(report.overall),
        excluded_counts=report.excluded_counts,
        targets=[
            TargetOut(deadline=t.deadline.isoformat(), effective_from=t.effective_from, value=t.value, source=t.source)
            for t in rates.TARGETS[report.key]
        ],
        breakdowns=[_breakdown(b) for b in shown],
    )


def _key(key: str) -> RateKey:
    try:
        return RateKey(key)
    except ValueError:
        raise NotFound(
            f"unknown rate {key!r}", [Problem(f"one of: {', '.join(k.value for k in RateKey)}", field="key", value=key)]
        ) from None


def _own_unit_codes(session: Any, principal: Principal) -> frozenset[str] | None:
    if principal.units is None:
        return None
    return frozenset(session.scalars(select(Unit.code).where(Unit.id.in_(principal.units))))


RateKeyPath = Annotated[str, Path(max_length=40)]
AsOf = Annotated[
    InputTime | None,
    Query(description="as of this time (ISO 8601; no offset: Beijing time); omitted: now / 截至该时间"),
]


def build_router() -> APIRouter:
    """The /api/v1/rates routes."""
    router = APIRouter(prefix=PREFIX, tags=["rates 三个100%"])

    @router.get("", summary="All rates / 全部指标", response_model=list[ReportOut])
    def all_rates(session: SessionDep, principal: CurrentPrincipal, as_of: AsOf = None) -> list[ReportOut]:
        """The five rates overall and by unit, city and level, with excluded counts and the dated targets."""
        own = _own_unit_codes(session, principal)
        return [report_out(r, own) for r in rates.compute_all(session, as_of).values()]

    @router.get(
        "/consolidation",
        summary="Rooms, exits and clouds consolidated / 机房、出口、云平台整合",
        response_model=list[ReportOut],
    )
    def consolidation(session: SessionDep, principal: CurrentPrincipal, as_of: AsOf = None) -> list[ReportOut]:
        """Rooms and internet exits consolidated / in scope, clouds under unified management / all clouds; each also
        at /api/v1/rates/{key} with its items at /api/v1/rates/{key}/items."""
        own = _own_unit_codes(session, principal)
        return [report_out(r, own) for r in rates.compute_all(session, as_of, rates.CONSOLIDATION_KEYS).values()]

    @router.get(
        "/determinations/history",
        summary="Determinations and which supersede which / 技术认定历史",
        response_model=list[DeterminationOut],
    )
    def determination_history(
        session: SessionDep,
        principal: CurrentPrincipal,
        subject_kind: Annotated[
            SubjectKind | None, Query(description="system|network|room|exit|service_item|cloud")
        ] = None,
        subject_id: Annotated[Id | None, Query()] = None,
        superseded_only: bool = False,
        as_of: AsOf = None,
    ) -> list[dict[str, Any]]:
        """Every determination with its standing: in_force (the latest in force for its subject, by decision date
        then record), superseded (with superseded_by) or withdrawn. 同一对象以最新有效认定为准，其余留作历史。"""
        return rates.determination_history(session, as_of, subject_kind, subject_id, superseded_only)

    @router.get(
        "/confirmations/pending",
        summary="Self-declared completions awaiting the office / 待确认自报完成",
        response_model=list[PendingOut],
    )
    def pending_confirmations(
        session: SessionDep, principal: CurrentPrincipal, as_of: AsOf = None
    ) -> list[dict[str, Any]]:
        """Systems and networks a department user set to migrated/interconnected itself; they count once confirmed."""
        return confirmations.pending(session, as_of)

    @router.post(
        "/confirmations/{kind}/{obj_id}",
        summary="Confirm a self-declared completion / 确认自报完成",
        response_model=ConfirmedOut,
    )
    def confirm_completion(
        kind: Literal["systems", "networks", "internet_exits"],
        obj_id: Id,
        session: SessionDep,
        principal: CurrentPrincipal,
        request: Request,
    ) -> dict[str, Any]:
        """The office confirms; from then on the item counts in its rate (recorded in the change log)."""
        out = confirmations.confirm(session, change_context(request, principal), kind, obj_id)
        session.commit()
        return out

    @router.get(
        "/history", summary="How far back history is backed by records / 历史记录起点", response_model=HistoryOut
    )
    def records(session: SessionDep, principal: CurrentPrincipal) -> HistoryOut:
        """The earliest change-log time overall and per kind; as-of figures before it are not backed by records."""
        since = history.records_since(session)
        zh, en = history.records_note(session)
        return HistoryOut(
            earliest=min(since.values(), default=None),
            every_kind_since=max(since.values(), default=None),
            kinds=since,
            note_zh=zh,
            note_en=en,
        )

    @router.get("/{key}", summary="One rate / 单项指标", response_model=ReportOut)
    def one_rate(key: RateKeyPath, session: SessionDep, principal: CurrentPrincipal, as_of: AsOf = None) -> ReportOut:
        """One rate overall and broken down."""
        return report_out(rates.compute(session, _key(key), as_of), _own_unit_codes(session, principal))

    @router.get("/{key}/items", summary="Items behind a number / 指标明细", response_model=ItemsPage)
    def rate_items(
        key: RateKeyPath,
        session: SessionDep,
        principal: CurrentPrincipal,
        part: Annotated[Literal["numerator", "denominator", "excluded"], Query()] = "denominator",
        unit: Annotated[str | None, Query(description="unit code / 单位编码", max_length=40)] = None,
        city: Annotated[str | None, Query(description="city region code / 市级区划代码", max_length=12)] = None,
        level: Annotated[str | None, Query(description="region|city|county|township", max_length=20)] = None,
        as_of: AsOf = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Offset = 0,
    ) -> ItemsPage:
        """The items counted in the numerator, the denominator, or excluded (with reason, who and when)."""
        rk = _key(key)
        found, total = rates.items(
            session,
            rk,
            part,
            at=as_of,
            unit_code=unit,
            city_code=city,
            level=level,
            limit=limit,
            offset=offset,
            unit_ids=principal.units,
        )
        return ItemsPage(key=rk.value, part=part, at=as_of, total=total, limit=limit, offset=offset, items=found)

    return router
