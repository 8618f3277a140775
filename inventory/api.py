"""FastAPI router for every inventory kind: thin, calling service (writes) and queries (reads)."""

import logging
from typing import Annotated, Any

import pydantic_core
from fastapi import APIRouter, Body, FastAPI, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from core.deps import CurrentPrincipal, SessionDep, change_context
from core.errors import AppError, Forbidden, NotFound, Problem, ValidationFailed
from core.identity import GLOBAL_READERS, Principal
from core.times import InputTime, iso
from core.validation import Id, Limit, Offset
from core.wiring import services
from inventory import field_meta, queries, service
from inventory.access import INVENTORY_WRITE, write_guard
from inventory.field_meta import KindOut
from inventory.io.api import SYNC_IMPORT_BYTES, SYNC_LIMIT, UPLOAD_LIMIT, add_io_routes
from inventory.kinds import KINDS, KindSpec
from inventory.schemas import ChangeOut, create_schema, out_schema, page_schema, update_schema

log = logging.getLogger("yunwang.http")

PREFIX = "/api/v1/inventory"


class BulkBody(BaseModel):
    """All-or-nothing batch: creates, patches (each with its id) and deletes."""

    model_config = ConfigDict(extra="forbid")

    create: list[dict[str, Any]] = Field(default_factory=list, max_length=10000)
    update: list[dict[str, Any]] = Field(default_factory=list, max_length=10000)
    delete: list[Id] = Field(default_factory=list, max_length=10000)


class ChangePage(BaseModel):
    items: list[ChangeOut]
    total: int


class BulkOut(BaseModel):
    """What an all-or-nothing batch wrote: the new ids (in order), how many patched and deleted."""

    created: list[int]
    updated: int
    deleted: int


def _visible(principal: Principal, spec: KindSpec, obj: dict[str, Any], session: Any) -> None:
    if principal.units is None:
        return
    from inventory.access import owner_unit

    owner = owner_unit(session, spec, obj)
    if owner is not False and owner not in principal.units:
        raise NotFound(f"{spec.name} {obj.get('id')} not found")


def _kind_routes(router: APIRouter, spec: KindSpec) -> None:  # noqa: C901 - one small nested route per verb
    name = spec.name
    create_model = create_schema(name)
    update_model = update_schema(name)
    out_model = out_schema(name)
    path = f"/{name}"

    @router.get(
        path,
        summary=f"List {spec.en} / 列出{spec.zh}",
        name=f"list_{name}",
        response_model=page_schema(name),
        response_model_exclude_unset=True,
    )
    def list_objects(
        request: Request,
        session: SessionDep,
        principal: CurrentPrincipal,
        as_of: Annotated[
            InputTime | None,
            Query(description="read the state as it was at this time (no offset: Beijing time) / 历史口径时点"),
        ] = None,
    ) -> dict[str, Any] | Response:
        """Filters: `field=value`, `field__in=a,b`, `__gte/__lte/__gt/__lt/__ne/__isnull/__contains`; `sort=-field`; `q`; `limit`, `offset`.

        Filters, sort, `q` and paging work the same with `as_of` (see docs/LISTS.md)."""
        lq = queries.parse_list_params(spec, dict(request.query_params), as_of)
        items, total = queries.list_objects(session, spec, lq, principal.units)
        page: dict[str, Any] = {"items": items, "total": total, "limit": lq.limit, "offset": lq.offset}
        if as_of is not None:  # rebuilt from change-log snapshots: validated against the page model
            page["as_of"] = iso(as_of)
            return page
        # Live rows are already in their JSON form (queries.list_objects): the same bytes the page model would
        # write, without validating and re-serialising every cell (docs/LISTS.md, "Speed").
        return Response(pydantic_core.to_json(page), media_type="application/json")

    @router.get(path + "/{obj_id}", summary=f"Get one of {spec.en}", name=f"get_{name}", response_model=out_model)
    def get_object(obj_id: Id, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
        out = queries.to_out(spec, service.get_or_404(session, spec, obj_id))
        _visible(principal, spec, out, session)
        return out

    @router.post(
        path, status_code=201, summary=f"Create one of {spec.en}", name=f"create_{name}", response_model=out_model
    )
    def create_object(
        body: create_model,  # type: ignore[valid-type]
        request: Request,
        session: SessionDep,
        principal: CurrentPrincipal,
        message: Annotated[str | None, Query(max_length=500)] = None,
    ) -> dict[str, Any]:
        ctx = change_context(request, principal, write_guard(principal), message)
        obj = service.create(session, name, body.model_dump(exclude_unset=True), ctx)  # type: ignore[attr-defined]
        session.commit()
        return queries.to_out(spec, obj)

    @router.patch(
        path + "/{obj_id}", summary=f"Update one of {spec.en}", name=f"update_{name}", response_model=out_model
    )
    def update_object(
        obj_id: Id,
        body: update_model,  # type: ignore[valid-type]
        request: Request,
        session: SessionDep,
        principal: CurrentPrincipal,
        message: Annotated[str | None, Query(max_length=500)] = None,
    ) -> dict[str, Any]:
        ctx = change_context(request, principal, write_guard(principal), message)
        obj = service.update(session, name, obj_id, body.model_dump(exclude_unset=True), ctx)  # type: ignore[attr-defined]
        session.commit()
        return queries.to_out(spec, obj)

    @router.delete(path + "/{obj_id}", status_code=204, summary=f"Delete one of {spec.en}", name=f"delete_{name}")
    def delete_object(
        obj_id: Id,
        request: Request,
        session: SessionDep,
        principal: CurrentPrincipal,
        message: Annotated[str | None, Query(max_length=500)] = None,
    ) -> None:
        service.delete(session, name, obj_id, change_context(request, principal, write_guard(principal), message))
        session.commit()

    @router.post(
        path + "/bulk",
        summary=f"Bulk create/update/delete {spec.en} (all or nothing)",
        name=f"bulk_{name}",
        response_model=BulkOut,
    )
    def bulk(
        body: Annotated[BulkBody, Body()],
        request: Request,
        session: SessionDep,
        principal: CurrentPrincipal,
        message: Annotated[str | None, Query(max_length=500)] = None,
    ) -> dict[str, Any]:
        ctx = change_context(request, principal, write_guard(principal), message)
        problems: list[Problem] = []
        created: list[int] = []
        for i, item in enumerate(body.create):
            try:
                with session.begin_nested():
                    created.append(service.create(session, name, item, ctx, row=i).id)  # type: ignore[attr-defined]
            except AppError as exc:
                problems += _at(exc, f"create[{i}]")
        for i, item in enumerate(body.update):
            patch = dict(item)
            obj_id = patch.pop("id", None)
            if not isinstance(obj_id, int):
                problems.append(Problem("each update needs an integer id", field=f"update[{i}].id"))
                continue
            try:
                with session.begin_nested():
                    service.update(session, name, obj_id, patch, ctx, row=i)
            except AppError as exc:
                problems += _at(exc, f"update[{i}]")
        for i, obj_id in enumerate(body.delete):
            try:
                with session.begin_nested():
                    service.delete(session, name, obj_id, ctx)
            except AppError as exc:
                problems += _at(exc, f"delete[{i}]")
        if problems:
            session.rollback()
            raise ValidationFailed(f"bulk {name}: nothing was written ({len(problems)} problems)", problems)
        session.commit()
        return {"created": created, "updated": len(body.update), "deleted": len(body.delete)}

    @router.get(path + "/{obj_id}/changes", summary=f"Change history of one of {spec.en}", name=f"changes_{name}")
    def object_changes(obj_id: Id, session: SessionDep, principal: CurrentPrincipal) -> ChangePage:
        rows, total = queries.changes(session, kind=name, object_id=obj_id, limit=1000)
        if not rows:
            raise NotFound(f"no changes recorded for {name} {obj_id}")
        latest = rows[0].after or rows[0].before or {}
        _visible(principal, spec, latest, session)
        return ChangePage(items=[ChangeOut.model_validate(r) for r in rows], total=total)


def _at(exc: AppError, where: str) -> list[Problem]:
    if not exc.problems:
        return [Problem(exc.message, field=where)]
    return [Problem(p.message, field=f"{where}.{p.field}" if p.field else where, value=p.value) for p in exc.problems]


def install(app: FastAPI, max_upload_bytes: int) -> None:
    """The inventory API: objects, change log, import/export."""
    services(app).provide(UPLOAD_LIMIT, max_upload_bytes)
    services(app).provide(SYNC_LIMIT, SYNC_IMPORT_BYTES)  # larger imports run as a task
    app.include_router(build_router())


def build_router() -> APIRouter:
    """The inventory router: CRUD, bulk and history for every kind, plus kinds metadata and the global change log."""
    router = APIRouter(prefix=PREFIX, tags=["inventory"])

    @router.get("/kinds", summary="Inventory kinds with their fields / 资源类型及字段", response_model=list[KindOut])
    def kinds(principal: CurrentPrincipal) -> list[KindOut]:
        """Each kind's columns and links with type, required, enum values (code and Chinese label) and reference
        kind, and whether the caller's role may write it (scoped roles: inside their unit subtree)."""
        return field_meta.describe(INVENTORY_WRITE[principal.role])

    @router.get("/changes", summary="Global change log / 变更日志")
    def global_changes(
        session: SessionDep,
        principal: CurrentPrincipal,
        kind: Annotated[str | None, Query(max_length=40)] = None,
        object_id: Id | None = None,
        actor: Annotated[str | None, Query(max_length=100)] = None,
        since: Annotated[InputTime | None, Query(description="no offset: Beijing time")] = None,
        until: Annotated[InputTime | None, Query(description="no offset: Beijing time")] = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> ChangePage:
        if principal.role not in GLOBAL_READERS:
            raise Forbidden("the global change log is for admin, the cloud-chief office and auditors")
        rows, total = queries.changes(session, kind, object_id, actor, since, until, limit, offset)
        return ChangePage(items=[ChangeOut.model_validate(r) for r in rows], total=total)

    add_io_routes(router)  # before /{kind}/{obj_id}, which would swallow /{kind}/export
    for spec in KINDS.values():
        _kind_routes(router, spec)
    return router
