"""Provisioning: turn a `ProvisionPlan` into cloud resources, durably, idempotently and reversibly.

Each resource is one *step* with a stable key ("server:web-1"). Before the cloud call the step is logged
STARTED (own transaction); the call is find-or-create by the resource's marker (request, cloud, key), so a
retried or resumed step adopts what an earlier attempt created instead of creating it twice; the cloud's id
is logged (CREATED) before waiting for it to be usable (READY). Transient cloud errors are retried with
back-off (one policy, `RETRY`); a permanent failure rolls back exactly what this request created, newest
first. A run left RUNNING by a killed process is continued by `resume`; a run whose rollback failed
(ROLLBACK_PENDING, e.g. the cloud went down) is rolled back by `resume`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import func, select
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from inventory.db import Database
from inventory.enums import ChangeAction
from inventory.service import ChangeContext, record_change
from inventory.times import iso
from orchestrator.cloud_driver import CloudDriver, CloudError, CloudObject, marker
from orchestrator.cloud_models import ProvisionRun, ProvisionStep, RunStatus, StepStatus
from orchestrator.provision_plan import (
    CreatedResource,
    NetworkSpec,
    ProvisionOutcome,
    ProvisionPlan,
    ResourceKind,
    SecurityGroupSpec,
    ServerSpec,
    VolumeSpec,
)

log = logging.getLogger("yunwang.provision")
T = TypeVar("T")
SYSTEM_CTX = ChangeContext(actor="yunwang-provisioner", role="system")


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of transient cloud errors (5xx, 429, clearing 409s, timeouts, refused connections)."""

    attempts: int = 6
    initial_s: float = 0.2
    max_s: float = 4.0


RETRY = RetryPolicy()
SETTLE_S = 10.0  # how long a dead process's in-flight create may take to land (see `settle`)


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, CloudError) and exc.transient


class _Attempts:
    """Counts retries per run, for the run row and the metrics."""

    def __init__(self) -> None:
        self.retries = 0


def call(fn: Callable[[], T], policy: RetryPolicy | None = None, counter: _Attempts | None = None) -> T:
    """Run one cloud call under the retry policy (the single place retries are declared)."""
    policy = policy or RETRY

    def before_sleep(_state: Any) -> None:
        if counter is not None:
            counter.retries += 1

    for attempt in Retrying(
        retry=retry_if_exception(_is_transient),
        stop=stop_after_attempt(policy.attempts),
        wait=wait_exponential_jitter(initial=policy.initial_s, max=policy.max_s),
        before_sleep=before_sleep,
        reraise=True,
    ):
        with attempt:
            return fn()
    raise AssertionError("unreachable")  # pragma: no cover


# --- plan (de)serialisation ------------------------------------------------------------------------------------


def plan_to_dict(plan: ProvisionPlan) -> dict[str, Any]:
    return asdict(plan)


def plan_from_dict(d: Mapping[str, Any]) -> ProvisionPlan:
    return ProvisionPlan(
        request_id=d["request_id"],
        cloud=d["cloud"],
        project=d["project"],
        unit_code=d["unit_code"],
        servers=tuple(ServerSpec(**s) for s in d.get("servers", ())),
        volumes=tuple(VolumeSpec(**v) for v in d.get("volumes", ())),
        networks=tuple(NetworkSpec(**n) for n in d.get("networks", ())),
        security_groups=tuple(
            SecurityGroupSpec(g["name"], tuple(tuple(r) for r in g.get("rules", ())))  # type: ignore[misc]
            for g in d.get("security_groups", ())
        ),
        floating_ips=int(d.get("floating_ips", 0)),
        availability_zone=d.get("availability_zone"),
        quota=d.get("quota"),
    )


# --- the engine ------------------------------------------------------------------------------------------------


class _Run:
    """One run's state while it executes; every step transition is its own committed transaction."""

    def __init__(self, db: Database, run_id: int, driver: CloudDriver, plan: ProvisionPlan) -> None:
        self.db = db
        self.run_id = run_id
        self.driver = driver
        self.plan = plan
        self.counter = _Attempts()
        self.project_id: str | None = None

    def _step(self, key: str) -> ProvisionStep | None:
        with self.db.session() as s:
            return s.scalars(select(ProvisionStep).filter_by(run_id=self.run_id, key=key)).one_or_none()

    def _log(self, key: str, kind: ResourceKind, name: str, **fields: Any) -> None:
        with self.db.session() as s:
            step = s.scalars(select(ProvisionStep).filter_by(run_id=self.run_id, key=key)).one_or_none()
            if step is None:
                seq = len(s.scalars(select(ProvisionStep.id).filter_by(run_id=self.run_id)).all())
                step = ProvisionStep(run_id=self.run_id, seq=seq, key=key, kind=kind.value, name=name, owned=True)
                s.add(step)
            for k, v in fields.items():
                setattr(step, k, v)

    def mark(self, key: str) -> str:
        return marker(self.plan.request_id, self.plan.cloud, key)

    def ensure(self, key: str, kind: ResourceKind, spec: Mapping[str, Any], wait: bool = True) -> CloudObject:
        """Find-or-create one resource (logged), optionally waiting until it is usable."""
        assert self.project_id is not None
        pid = self.project_id
        name = str(spec.get("name", key))
        prior = self._step(key)
        if prior is not None and prior.status == StepStatus.READY and prior.cloud_id:
            return CloudObject(kind, prior.cloud_id, prior.name, pid, self.mark(key), "ready", prior.attrs or {})
        mark = self.mark(key)
        obj: CloudObject | None = None
        if prior is None or prior.status != StepStatus.CREATED or not prior.cloud_id:
            self._log(key, kind, name, status=StepStatus.STARTED, attrs=dict(spec))

            # Look before creating whenever an earlier attempt may have reached the cloud: a step this run
            # already started (resume, re-provision) or any retry. A step never started before (its STARTED row
            # is committed before any call) cannot exist yet, so its first attempt creates directly.
            tries = {"n": 0 if prior is None else 1}

            def find_or_create() -> CloudObject:
                tries["n"] += 1
                found = self.driver.find(kind, pid, mark, spec) if tries["n"] > 1 else None
                return found if found is not None else self.driver.create(kind, pid, mark, spec)

            obj = call(find_or_create, counter=self.counter)
            self._log(key, kind, name, status=StepStatus.CREATED, cloud_id=obj.cloud_id, attrs=dict(obj.attrs))
        else:
            obj = CloudObject(kind, prior.cloud_id, prior.name, pid, mark, None, prior.attrs or {})
        if wait:
            obj = self.ready(key, kind, obj)
        return obj

    def ready(self, key: str, kind: ResourceKind, obj: CloudObject) -> CloudObject:
        assert self.project_id is not None
        pid = self.project_id
        done = call(lambda: self.driver.wait_ready(kind, pid, obj), counter=self.counter)
        self._log(key, kind, obj.name, status=StepStatus.READY)
        return done

    # --- the plan's steps, in order --------------------------------------------------------------------------
    def execute(self) -> None:
        plan = self.plan
        pid, created = call(lambda: self.driver.ensure_project(plan.project, plan.unit_code), counter=self.counter)
        self.project_id = pid
        self._log(
            "project",
            ResourceKind.PROJECT,
            plan.project,
            status=StepStatus.READY,
            cloud_id=pid,
            owned=False,
            attrs={"created": created},
        )
        with self.db.session() as s:
            run = s.get(ProvisionRun, self.run_id)
            assert run is not None
            run.project_id = pid
        if plan.quota:
            quota = dict(plan.quota)
            call(lambda: self.driver.set_quota(pid, quota), counter=self.counter)
        network_id: str | None = None
        for i, n in enumerate(plan.networks):
            net = self.ensure(f"network:{n.name}", ResourceKind.NETWORK, {"name": n.name})
            sub = self.ensure(
                f"subnet:{n.name}",
                ResourceKind.SUBNET,
                {"name": f"{n.name}-v4", "network_id": net.cloud_id, "cidr": n.cidr},
            )
            if i == 0:
                network_id = net.cloud_id
                self.ensure(
                    f"router:{n.name}", ResourceKind.ROUTER, {"name": f"{n.name}-router", "subnet_id": sub.cloud_id}
                )
        groups = []
        for g in plan.security_groups:
            self.ensure(
                f"sg:{g.name}", ResourceKind.SECURITY_GROUP, {"name": g.name, "rules": [list(r) for r in g.rules]}
            )
            groups.append(g.name)
        az = plan.availability_zone or self.driver.availability_zone
        flavors: dict[str, ServerSpec] = {}
        for sspec in plan.servers:
            names = [sspec.name] if sspec.count == 1 else [f"{sspec.name}-{i}" for i in range(1, sspec.count + 1)]
            for sname in names:
                flavors[sname] = sspec
        # create every server first (Nova builds them in parallel), then wait for each
        servers: dict[str, CloudObject] = {}
        for sname, spec in flavors.items():
            servers[sname] = self.ensure(
                f"server:{sname}",
                ResourceKind.SERVER,
                {
                    "name": sname,
                    "flavor": spec.flavor,
                    "image": spec.image,
                    "network_id": network_id,
                    "security_groups": groups,
                    "availability_zone": az,
                },
                wait=False,
            )
        for sname, obj in servers.items():
            servers[sname] = self.ready(f"server:{sname}", ResourceKind.SERVER, obj)
        volumes: dict[str, CloudObject] = {}
        for v in plan.volumes:
            volumes[v.name] = self.ensure(
                f"volume:{v.name}", ResourceKind.VOLUME, {"name": v.name, "size_gb": v.size_gb}, wait=False
            )
        for name, obj in volumes.items():
            volumes[name] = self.ready(f"volume:{name}", ResourceKind.VOLUME, obj)
        for v in plan.volumes:
            if v.attach_to is None:
                continue
            if v.attach_to not in servers:
                raise CloudError(f"volume {v.name}: no server {v.attach_to!r} in this plan")
            self.ensure(
                f"attach:{v.name}",
                ResourceKind.VOLUME_ATTACHMENT,
                {
                    "name": f"{v.name}@{v.attach_to}",
                    "server_id": servers[v.attach_to].cloud_id,
                    "volume_id": volumes[v.name].cloud_id,
                },
            )
        targets = list(servers.values())
        for i in range(plan.floating_ips):
            if i >= len(targets) or network_id is None:
                raise CloudError("floating IPs need a network and one server each")
            self.ensure(
                f"fip:{i + 1}", ResourceKind.FLOATING_IP, {"name": f"fip-{i + 1}", "server_id": targets[i].cloud_id}
            )

    # --- compensation ----------------------------------------------------------------------------------------
    def undo(self) -> str | None:
        """Delete everything this run created, newest first; the first error text when something remains."""
        with self.db.session() as s:
            steps = s.scalars(
                select(ProvisionStep).filter_by(run_id=self.run_id).order_by(ProvisionStep.seq.desc())
            ).all()
            run = s.get(ProvisionRun, self.run_id)
            assert run is not None
            pid = run.project_id
        first_error: str | None = None
        for step in steps:
            if not step.owned or step.status in (StepStatus.DELETED, StepStatus.ADOPTED) or pid is None:
                continue
            kind = ResourceKind(step.kind)
            mark = self.mark(step.key)
            try:
                obj: CloudObject | None
                if step.cloud_id:
                    obj = CloudObject(kind, step.cloud_id, step.name, pid, mark, None, dict(step.attrs or {}))
                else:  # STARTED: the call may have created it before we lost the answer
                    spec = dict(step.attrs or {})
                    obj = call(_bind(self.driver.find, kind, pid, mark, spec), counter=self.counter)
                if obj is not None:
                    call(_bind(self.driver.delete, kind, pid, obj), counter=self.counter)
                self._log(step.key, kind, step.name, status=StepStatus.DELETED, error=None)
            except CloudError as exc:
                self._log(step.key, kind, step.name, error=exc.message)
                first_error = first_error or exc.message
        return first_error


def _bind(fn: Callable[..., T], *args: Any) -> Callable[[], T]:
    return lambda: fn(*args)


def _now() -> datetime:
    return datetime.now(UTC)


def _outcome(db: Database, run_id: int, ok: bool, error: str | None, rolled_back: bool = False) -> ProvisionOutcome:
    with db.session() as s:
        run = s.get(ProvisionRun, run_id)
        assert run is not None
        steps = s.scalars(select(ProvisionStep).filter_by(run_id=run_id).order_by(ProvisionStep.seq)).all()
        resources = tuple(
            CreatedResource(ResourceKind(st.kind), st.name, st.cloud_id or "", run.project_id, {"key": st.key})
            for st in steps
            if st.owned and st.cloud_id and st.status in (StepStatus.CREATED, StepStatus.READY)
        )
        return ProvisionOutcome(run.request_id, run.cloud, ok, resources, error, rolled_back)


def _audit(
    db: Database, ctx: ChangeContext, run_id: int, before: RunStatus | None, after: RunStatus, msg: str | None
) -> None:
    with db.session() as s:
        run = s.get(ProvisionRun, run_id)
        assert run is not None
        record_change(
            s,
            ctx,
            "provision_run",
            run.id,
            ChangeAction.CREATE if before is None else ChangeAction.DECIDE,
            {"status": before.value} if before else None,
            {"status": after.value, "cloud": run.cloud, "request_id": run.request_id, "error": run.error},
            object_code=f"{run.request_id}@{run.cloud}",
            message=msg,
        )


def _set_status(db: Database, run_id: int, status: RunStatus, error: str | None = None, **extra: Any) -> RunStatus:
    with db.session() as s:
        run = s.get(ProvisionRun, run_id)
        assert run is not None
        before = run.status
        run.status = status
        run.error = error
        for k, v in extra.items():
            setattr(run, k, v)
        return before


def _run_plan(
    db: Database, run_id: int, plan: ProvisionPlan, driver: CloudDriver, ctx: ChangeContext
) -> ProvisionOutcome:
    engine = _Run(db, run_id, driver, plan)
    started = time.perf_counter()
    try:
        engine.execute()
    except CloudError as exc:
        error = exc.message
        log.warning("provisioning %s@%s failed: %s; rolling back", plan.request_id, plan.cloud, error)
        _set_status(db, run_id, RunStatus.ROLLING_BACK, error)
        undo_error = engine.undo()
        status = RunStatus.ROLLBACK_PENDING if undo_error else RunStatus.ROLLED_BACK
        text = error if not undo_error else f"{error}; rollback incomplete: {undo_error}"
        _set_status(
            db,
            run_id,
            status,
            text,
            finished_at=_now(),
            duration_s=time.perf_counter() - started,
            attempts=engine.counter.retries,
        )
        _audit(db, ctx, run_id, RunStatus.RUNNING, status, "provisioning failed")
        return _outcome(db, run_id, False, text, rolled_back=not undo_error)
    _set_status(
        db,
        run_id,
        RunStatus.DONE,
        None,
        finished_at=_now(),
        duration_s=time.perf_counter() - started,
        attempts=engine.counter.retries,
    )
    _audit(db, ctx, run_id, RunStatus.RUNNING, RunStatus.DONE, "provisioned")
    return _outcome(db, run_id, True, None)


def settle(db: Database, run_id: int, seconds: float | None = None) -> float:
    """Before looking for what a dead process may have created, let its in-flight call land.

    A step logged STARTED with no cloud id may have a create request still being processed by the cloud
    (the client died, the server did not); looking too early would miss it and create a duplicate. Waits
    until the newest such step is `SETTLE_S` old; returns the seconds waited.
    """
    seconds = SETTLE_S if seconds is None else seconds
    with db.session() as s:
        newest = s.scalar(
            select(func.max(ProvisionStep.updated_at)).where(
                ProvisionStep.run_id == run_id,
                ProvisionStep.status == StepStatus.STARTED,
                ProvisionStep.cloud_id.is_(None),
            )
        )
    if newest is None:
        return 0.0
    if newest.tzinfo is None:
        newest = newest.replace(tzinfo=UTC)
    wait = seconds - (datetime.now(UTC) - newest).total_seconds()
    if wait > 0:
        log.info("run %s: waiting %.1f s for in-flight cloud calls of a dead process to land", run_id, wait)
        time.sleep(wait)
    return max(wait, 0.0)


def validate(plan: ProvisionPlan) -> None:
    """Refuse a plan that cannot work before anything is created (ValueError)."""
    names = plan.server_names()
    if len(set(names)) != len(names):
        raise ValueError("server names must be unique")
    for v in plan.volumes:
        if v.attach_to is not None and v.attach_to not in names:
            raise ValueError(f"volume {v.name}: no server {v.attach_to!r} in this plan")
    if plan.floating_ips and (not plan.networks or plan.floating_ips > len(names)):
        raise ValueError("floating IPs need a network and at most one per server")


def provision(
    db: Database, plan: ProvisionPlan, driver: CloudDriver, ctx: ChangeContext | None = None
) -> ProvisionOutcome:
    """Create (or finish creating) everything `plan` asks for in `driver`'s cloud. Idempotent per (request, cloud).

    On a permanent failure everything this request created is deleted and `ok` is False.
    """
    ctx = ctx or SYSTEM_CTX
    if driver.cloud != plan.cloud:
        raise ValueError(f"plan for cloud {plan.cloud!r} given a driver for {driver.cloud!r}")
    validate(plan)
    with db.session() as s:
        run = s.scalars(select(ProvisionRun).filter_by(request_id=plan.request_id, cloud=plan.cloud)).one_or_none()
        if run is not None and run.status == RunStatus.DONE:
            run_id = run.id
            done = True
        else:
            done = False
            if run is None:
                run = ProvisionRun(
                    request_id=plan.request_id,
                    cloud=plan.cloud,
                    unit_code=plan.unit_code,
                    project=plan.project,
                    plan=plan_to_dict(plan),
                    status=RunStatus.RUNNING,
                    attempts=0,
                )
                s.add(run)
                s.flush()
                new = True
            else:
                if run.status in (RunStatus.ROLLING_BACK, RunStatus.ROLLBACK_PENDING, RunStatus.RETIRING):
                    raise ValueError(f"run {plan.request_id}@{plan.cloud} is {run.status.value}: resume it first")
                run.status = RunStatus.RUNNING
                run.plan = plan_to_dict(plan)
                run.error = None
                new = False
            run_id = run.id
    if done:
        return _outcome(db, run_id, True, None)
    if new:
        _audit(db, ctx, run_id, None, RunStatus.RUNNING, "provisioning started")
    else:
        settle(db, run_id)
    return _run_plan(db, run_id, plan, driver, ctx)


def resume(db: Database, request_id: str, driver: CloudDriver, ctx: ChangeContext | None = None) -> ProvisionOutcome:
    """Finish what a killed or failed run left: continue RUNNING, finish rollbacks and retirements."""
    ctx = ctx or SYSTEM_CTX
    with db.session() as s:
        run = s.scalars(select(ProvisionRun).filter_by(request_id=request_id, cloud=driver.cloud)).one_or_none()
        if run is None:
            raise LookupError(f"no provisioning run {request_id}@{driver.cloud}")
        run_id, status, plan = run.id, run.status, plan_from_dict(run.plan)
    settle(db, run_id)
    if status == RunStatus.RUNNING:
        return _run_plan(db, run_id, plan, driver, ctx)
    if status in (RunStatus.ROLLING_BACK, RunStatus.ROLLBACK_PENDING):
        engine = _Run(db, run_id, driver, plan)
        err = engine.undo()
        with db.session() as s:
            run = s.get(ProvisionRun, run_id)
            assert run is not None
            prior_error = run.error
        final = RunStatus.ROLLBACK_PENDING if err else RunStatus.ROLLED_BACK
        _set_status(db, run_id, final, prior_error if not err else f"{prior_error}; rollback incomplete: {err}")
        _audit(db, ctx, run_id, status, final, "rollback resumed")
        return _outcome(db, run_id, False, prior_error, rolled_back=not err)
    if status == RunStatus.RETIRING:
        return retire(db, request_id, driver, ctx)
    return _outcome(db, run_id, status == RunStatus.DONE, None, rolled_back=status == RunStatus.ROLLED_BACK)


def retire(db: Database, request_id: str, driver: CloudDriver, ctx: ChangeContext | None = None) -> ProvisionOutcome:
    """Delete exactly what the request created in `driver`'s cloud (never the unit's project)."""
    ctx = ctx or SYSTEM_CTX
    with db.session() as s:
        run = s.scalars(select(ProvisionRun).filter_by(request_id=request_id, cloud=driver.cloud)).one_or_none()
        if run is None:
            raise LookupError(f"no provisioning run {request_id}@{driver.cloud}")
        run_id, before, plan = run.id, run.status, plan_from_dict(run.plan)
        run.status = RunStatus.RETIRING
    engine = _Run(db, run_id, driver, plan)
    err = engine.undo()
    final = RunStatus.RETIRING if err else RunStatus.RETIRED
    _set_status(db, run_id, final, err, finished_at=_now())
    _audit(db, ctx, run_id, before, final, "retired" if not err else "retirement incomplete")
    return _outcome(db, run_id, not err, err)


def steps_of(db: Database, request_id: str) -> list[dict[str, Any]]:
    """The step log of a request across clouds (for the API and CLI)."""
    with db.session() as s:
        rows = s.execute(
            select(ProvisionRun, ProvisionStep)
            .join(ProvisionStep, ProvisionStep.run_id == ProvisionRun.id)
            .where(ProvisionRun.request_id == request_id)
            .order_by(ProvisionRun.cloud, ProvisionStep.seq)
        ).all()
        return [
            {
                "cloud": run.cloud,
                "run_status": run.status.value,
                "seq": st.seq,
                "key": st.key,
                "kind": st.kind,
                "name": st.name,
                "cloud_id": st.cloud_id,
                "status": st.status.value,
                "owned": st.owned,
                "error": st.error,
                "updated_at": iso(st.updated_at) if st.updated_at else None,
            }
            for run, st in rows
        ]
