"""Provisioning: turn a `ProvisionPlan` into cloud resources, durably, idempotently and reversibly.

Each resource is one *step* with a stable key ("server:web-1"). Before the cloud call the step is logged
STARTED (own transaction); the call is find-or-create by the resource's marker (request, cloud, key), so a
retried or resumed step adopts what an earlier attempt created instead of creating it twice; the cloud's id
is logged (CREATED) before waiting for it to be usable (READY). Transient cloud errors are retried with
back-off (one policy, `RETRY`); a permanent failure rolls back exactly what this request created, newest
first. A run left RUNNING by a killed process is continued by `resume`; a run whose rollback failed
(ROLLBACK_PENDING, e.g. the cloud went down) is rolled back by `resume`. A resumed run checks every step it
logged READY against the cloud before trusting it (a resource deleted behind its back is created again).

Before anything is created (`_Run.preflight`) the flavors' real sizes are compared with the sizes the request
declared, and the cloud's own project quotas are read: by default (observe) yunwang never changes them and a plan
they cannot hold fails at once with a message naming the quota; with `plan.manage_quota` the plan's needs are
added to the project's quota (one "quota" step, in the change log) and taken off again on rollback/retirement.
A quota refusal by the cloud is permanent and never retried.

One process at a time drives a run: `provision`, `resume` and `retire` hold the run's lease (`core.jobs.hold`,
key `run_lease_key(request, cloud)`) while they work, renewed; a second caller waits until it is released. A
lease left behind by a dead process (`core.jobs.lease_state` "dead") marks a stuck run, which the auto-resume
job (orchestrator/requests/auto_resume.py) continues through the same `resume`.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from datetime import UTC
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from core.audit import ChangeContext, record_change
from core.db import Database
from core.enums import ChangeAction
from core.jobs import hold
from core.retry import RetryPolicy as RetryPolicy  # re-exported: the tests tune RETRY with it
from core.retry import call_with_retries
from core.times import iso, now_utc
from orchestrator.provisioning.driver import QUOTA_KEYS, CloudDriver, CloudError, CloudObject, FlavorSize, marker
from orchestrator.provisioning.models import ProvisionRun, ProvisionStep, RunStatus, StepStatus
from orchestrator.provisioning.plan import (
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


RETRY = RetryPolicy()  # transient cloud errors (5xx, 429, clearing 409s, timeouts, refused connections)
SETTLE_S = 10.0  # how long a dead process's in-flight create may take to land (see `settle`)


QUOTA_STEP = "quota"  # the step key of a managed-mode quota grant
QUOTA_LABELS = {
    "instances": "Nova 'instances' (云主机数 / servers)",
    "cores": "Nova 'cores' (vCPU)",
    "ram": "Nova 'ram' (内存 / MB)",
    "volumes": "Cinder 'volumes' (云硬盘数 / volumes)",
    "gigabytes": "Cinder 'gigabytes' (云硬盘容量 / GB)",
}
_QUOTA_LOCKS: dict[str, threading.Lock] = {}
_QUOTA_LOCKS_GUARD = threading.Lock()


class NoRun(LookupError):
    """There is no provisioning run of this request in this cloud."""

    def __init__(self, request_id: str, cloud: str) -> None:
        super().__init__(f"该云上没有此申请的开通记录 / no provisioning run of {request_id} in cloud {cloud}")
        self.request_id = request_id
        self.cloud = cloud


def _is_transient(exc: BaseException) -> bool:
    """Retried: transient cloud errors. Never retried: anything else, and every quota refusal."""
    return isinstance(exc, CloudError) and exc.transient and not exc.quota


def _quota_lock(project_id: str) -> threading.Lock:
    """One lock per project, not per cloud: regions of one Keystone may share one Nova quota for a project."""
    with _QUOTA_LOCKS_GUARD:
        return _QUOTA_LOCKS.setdefault(project_id, threading.Lock())


def quota_shortfalls(need: Mapping[str, int], usage: Mapping[str, tuple[int, int]]) -> list[tuple[str, int, int, int]]:
    """The cloud quotas `need` would break: (key, in use, needed, limit); a limit below 0 is unlimited."""
    out = []
    for key in QUOTA_KEYS:
        n = need.get(key, 0)
        if n <= 0 or key not in usage:
            continue
        used, limit = usage[key]
        if limit >= 0 and used + n > limit:
            out.append((key, used, n, limit))
    return out


def size_mismatch(flavor: str, real: FlavorSize, spec: ServerSpec) -> str | None:
    """Why the declared sizes of `spec` disagree with its flavor's real size (None: they agree)."""
    wrong = [
        f"{label} {declared} ≠ {actual}"
        for label, declared, actual in (
            ("vCPU", spec.vcpus, real.vcpus),
            ("ram_mb", spec.ram_mb, real.ram_mb),
            ("disk_gb", spec.disk_gb, real.disk_gb),
        )
        if declared is not None and declared != actual
    ]
    if not wrong:
        return None
    return (
        f"规格与云主机类型不符 / declared sizes do not match flavor {flavor!r} "
        f"({real.vcpus} vCPU, {real.ram_mb} MB, {real.disk_gb} GB): " + ", ".join(wrong)
    )


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

    return call_with_retries(fn, _is_transient, policy, before_sleep)


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
            SecurityGroupSpec(g["name"], tuple(tuple(r) for r in g.get("rules", ())))
            for g in d.get("security_groups", ())
        ),
        floating_ips=int(d.get("floating_ips", 0)),
        availability_zone=d.get("availability_zone"),
        manage_quota=bool(d.get("manage_quota", False)),
    )


# --- the engine ------------------------------------------------------------------------------------------------


class _Run:
    """One run's state while it executes; every step transition is its own committed transaction."""

    def __init__(
        self,
        db: Database,
        run_id: int,
        driver: CloudDriver,
        plan: ProvisionPlan,
        ctx: ChangeContext | None = None,
        verify: bool = False,
    ) -> None:
        self.db = db
        self.run_id = run_id
        self.driver = driver
        self.plan = plan
        self.ctx = ctx or SYSTEM_CTX
        self.verify = verify  # check READY steps against the cloud before trusting them (resume)
        self.counter = _Attempts()
        self.project_id: str | None = None
        self.verified: list[str] = []  # READY steps found again in the cloud
        self.recreated: list[str] = []  # READY steps the cloud had lost, created again

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
        mark = self.mark(key)
        if prior is not None and prior.status == StepStatus.READY and prior.cloud_id:
            if not self.verify:
                return CloudObject(kind, prior.cloud_id, prior.name, pid, mark, "ready", prior.attrs or {})
            found = call(_bind(self.driver.find, kind, pid, mark, spec), counter=self.counter)
            if found is not None:
                self.verified.append(key)
                if found.cloud_id != prior.cloud_id:
                    self._log(key, kind, name, cloud_id=found.cloud_id)
                return found
            log.warning("run %s: %s was ready but is gone from the cloud; creating it again", self.run_id, key)
            self.recreated.append(key)
            self._log(key, kind, name, status=StepStatus.STARTED, cloud_id=None, attrs=dict(spec))
            prior = self._step(key)
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
        self.preflight()
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

    # --- before anything is created: real flavor sizes and the cloud's own quotas ------------------------------
    def preflight(self) -> None:
        """Refuse a plan whose declared sizes differ from its flavors, then check (observe) or grant (managed) the
        cloud's project quota for what is still to be created. Raises CloudError (permanent) before any create."""
        sizes: dict[str, FlavorSize | None] = {}
        for spec in self.plan.servers:
            if spec.flavor not in sizes:
                sizes[spec.flavor] = call(_bind(self.driver.flavor, spec.flavor), counter=self.counter)
            real = sizes[spec.flavor]
            why = size_mismatch(spec.flavor, real, spec) if real is not None else None
            if why is not None:
                raise CloudError(f"{self.plan.cloud}: server {spec.name}: {why}")
        if self.plan.manage_quota:
            self.grant_quota(self.need(sizes, pending_only=False))
        else:
            self.check_quota(self.need(sizes, pending_only=True))

    def need(self, sizes: Mapping[str, FlavorSize | None], pending_only: bool) -> dict[str, int]:
        """What the plan needs of the project's quotas (only what is not created yet, when `pending_only`)."""
        with self.db.session() as s:
            have = {
                st.key
                for st in s.scalars(select(ProvisionStep).filter_by(run_id=self.run_id))
                if st.cloud_id and st.status in (StepStatus.CREATED, StepStatus.READY)
            }
        need = dict.fromkeys(QUOTA_KEYS, 0)
        for spec in self.plan.servers:
            size = sizes.get(spec.flavor)
            names = [spec.name] if spec.count == 1 else [f"{spec.name}-{i}" for i in range(1, spec.count + 1)]
            for n in names:
                if pending_only and f"server:{n}" in have:
                    continue
                need["instances"] += 1
                need["cores"] += size.vcpus if size else (spec.vcpus or 0)
                need["ram"] += size.ram_mb if size else (spec.ram_mb or 0)
        for v in self.plan.volumes:
            if pending_only and f"volume:{v.name}" in have:
                continue
            need["volumes"] += 1
            need["gigabytes"] += v.size_gb
        return need

    def check_quota(self, need: Mapping[str, int]) -> None:
        """Observe mode: fail fast, naming the quota, when the cloud's own quota cannot hold what is still needed."""
        if not any(need.values()):
            return
        assert self.project_id is not None
        pid = self.project_id
        usage = call(_bind(self.driver.quota_usage, pid), counter=self.counter)
        short = quota_shortfalls(need, usage)
        if short:
            parts = "; ".join(
                f"{QUOTA_LABELS[k]}: {used} in use + {n} requested > limit {limit}" for k, used, n, limit in short
            )
            raise CloudError(
                f"{self.plan.cloud}: 云平台自身配额不足 / the cloud's own quota refuses it "
                f"(project {self.plan.project}): {parts}. "
                "该配额由云平台管理员设置，yunwang 不修改 / set by the cloud admin; yunwang does not change it",
                quota=True,
            )

    def grant_quota(self, need: Mapping[str, int]) -> None:
        """Managed mode: add the plan's needs to the project's quota once per run (a logged step, audited)."""
        assert self.project_id is not None
        pid = self.project_id
        prior = self._step(QUOTA_STEP)
        if prior is not None and prior.status == StepStatus.READY:
            return
        with _quota_lock(pid):
            usage = call(_bind(self.driver.quota_usage, pid), counter=self.counter)
            if prior is not None and prior.status == StepStatus.STARTED and _applied(prior.attrs or {}, usage):
                self._log(QUOTA_STEP, ResourceKind.PROJECT, self.plan.project, status=StepStatus.READY)
                return
            grant = {k: n for k, n in need.items() if n > 0 and k in usage and usage[k][1] >= 0}
            if not grant:
                return
            before = {k: usage[k][1] for k in grant}
            after = {k: before[k] + n for k, n in grant.items()}
            attrs = {"grant": grant, "before": before, "after": after}
            self._log(QUOTA_STEP, ResourceKind.PROJECT, self.plan.project, status=StepStatus.STARTED, attrs=attrs)
            call(_bind(self.driver.set_quota, pid, after), counter=self.counter)
            self._log(QUOTA_STEP, ResourceKind.PROJECT, self.plan.project, status=StepStatus.READY, cloud_id=pid)
        self._audit_quota(before, after, f"managed quota: raised for {self.plan.request_id}")

    def return_quota(self, step: ProvisionStep, pid: str) -> None:
        """Take a managed-mode grant off the project's quota again (never below what is in use)."""
        attrs = dict(step.attrs or {})
        grant: dict[str, int] = dict(attrs.get("grant") or {})
        with _quota_lock(pid):
            usage = call(_bind(self.driver.quota_usage, pid), counter=self.counter)
            if step.status == StepStatus.STARTED and not _applied(attrs, usage):
                return  # the raise never reached the cloud
            before = {k: usage[k][1] for k in grant if k in usage and usage[k][1] >= 0}
            after = {k: max(before[k] - grant[k], usage[k][0]) for k in before}
            if after != before:
                call(_bind(self.driver.set_quota, pid, after), counter=self.counter)
        if after != before:
            self._audit_quota(before, after, f"managed quota: returned by {self.plan.request_id}")

    def _audit_quota(self, before: dict[str, int], after: dict[str, int], msg: str) -> None:
        with self.db.session() as s:
            record_change(
                s,
                self.ctx,
                "cloud_quota",
                self.run_id,
                ChangeAction.DECIDE,
                before,
                after,
                object_code=f"{self.plan.project}@{self.plan.cloud}",
                message=msg,
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
                if step.key == QUOTA_STEP:
                    self.return_quota(step, pid)
                    self._log(step.key, kind, step.name, status=StepStatus.DELETED, error=None)
                    continue
                if step.cloud_id:
                    obj = CloudObject(kind, step.cloud_id, step.name, pid, mark, None, dict(step.attrs or {}))
                else:  # STARTED: the call may have created it before we lost the answer
                    spec = dict(step.attrs or {})
                    obj = call(_bind(self.driver.find, kind, pid, mark, spec), counter=self.counter)
                if obj is not None:
                    call(_bind(self.driver.delete, kind, pid, obj), counter=self.counter)
                    # the id stays on the step: it tells what was deleted (a step never created has none)
                    self._log(step.key, kind, step.name, status=StepStatus.DELETED, error=None, cloud_id=obj.cloud_id)
                else:
                    self._log(step.key, kind, step.name, status=StepStatus.DELETED, error=None)
            except CloudError as exc:
                self._log(step.key, kind, step.name, error=exc.message)
                first_error = first_error or exc.message
        return first_error


def _bind(fn: Callable[..., T], *args: Any) -> Callable[[], T]:
    return lambda: fn(*args)


def _applied(attrs: Mapping[str, Any], usage: Mapping[str, tuple[int, int]]) -> bool:
    """Whether a logged quota raise reached the cloud (every limit at least what it was raised to)."""
    after = attrs.get("after") or {}
    return all(k in usage and usage[k][1] >= int(v) for k, v in after.items())


def _outcome(db: Database, run_id: int, ok: bool, error: str | None, rolled_back: bool = False) -> ProvisionOutcome:
    with db.session() as s:
        run = s.get(ProvisionRun, run_id)
        assert run is not None
        steps = s.scalars(select(ProvisionStep).filter_by(run_id=run_id).order_by(ProvisionStep.seq)).all()
        resources = tuple(
            CreatedResource(ResourceKind(st.kind), st.name, st.cloud_id or "", run.project_id, {"key": st.key})
            for st in steps
            if st.owned and st.cloud_id and st.status in (StepStatus.CREATED, StepStatus.READY) and st.key != QUOTA_STEP
        )
        deleted = sum(
            1 for st in steps if st.owned and st.status == StepStatus.DELETED and st.cloud_id and st.key != QUOTA_STEP
        )
        return ProvisionOutcome(run.request_id, run.cloud, ok, resources, error, rolled_back, deleted)


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
    db: Database, run_id: int, plan: ProvisionPlan, driver: CloudDriver, ctx: ChangeContext, verify: bool = False
) -> ProvisionOutcome:
    """Execute (or continue) one run; a permanent failure rolls back what it created.

    A database error is not handled here: the run stays RUNNING (the state it was in, recorded), and calling
    `resume` or `provision` again continues it (adopting what exists, re-checking what was ready)."""
    engine = _Run(db, run_id, driver, plan, ctx, verify=verify)
    started = time.perf_counter()
    try:
        engine.execute()
    except SQLAlchemyError:
        raise
    except Exception as exc:
        if isinstance(exc, CloudError):
            error = exc.message
        else:  # a fault of ours or an unwrapped client error: still roll back what this run created
            log.exception("provisioning %s@%s raised", plan.request_id, plan.cloud)
            error = f"{plan.cloud}: internal error / 内部错误: {type(exc).__name__}: {str(exc)[:300]}"
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
            finished_at=now_utc(),
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
        finished_at=now_utc(),
        duration_s=time.perf_counter() - started,
        attempts=engine.counter.retries,
    )
    note = "provisioned"
    if engine.recreated:
        note += f"; re-created what the cloud had lost: {', '.join(engine.recreated)}"
    _audit(db, ctx, run_id, RunStatus.RUNNING, RunStatus.DONE, note)
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
    wait = seconds - (now_utc() - newest).total_seconds()
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
    db: Database,
    plan: ProvisionPlan,
    driver: CloudDriver,
    ctx: ChangeContext | None = None,
    verify: bool = False,
) -> ProvisionOutcome:
    """Create (or finish creating) everything `plan` asks for in `driver`'s cloud. Idempotent per (request, cloud).

    On a permanent failure everything this request created is deleted and `ok` is False. A run that existed
    already is continued with its READY steps checked against the cloud; a DONE run is only checked when `verify`.
    """
    ctx = ctx or SYSTEM_CTX
    if driver.cloud != plan.cloud:
        raise ValueError(f"plan for cloud {plan.cloud!r} given a driver for {driver.cloud!r}")
    validate(plan)
    with hold(db, run_lease_key(plan.request_id, plan.cloud)):
        return _provision(db, plan, driver, ctx, verify)


def run_lease_key(request_id: str, cloud: str) -> str:
    """The lease key of a request's run in a cloud (`job_leases.job_id`, at most 100 characters)."""
    key = f"provision:{request_id}@{cloud}"
    return key if len(key) <= 100 else f"provision:{hashlib.sha256(key.encode()).hexdigest()}"


def _provision(
    db: Database, plan: ProvisionPlan, driver: CloudDriver, ctx: ChangeContext, verify: bool
) -> ProvisionOutcome:
    with db.session() as s:
        run = s.scalars(select(ProvisionRun).filter_by(request_id=plan.request_id, cloud=plan.cloud)).one_or_none()
        if run is not None and run.status == RunStatus.DONE and not verify:
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
                before = None
            else:
                if run.status in (RunStatus.ROLLING_BACK, RunStatus.ROLLBACK_PENDING, RunStatus.RETIRING):
                    raise ValueError(f"run {plan.request_id}@{plan.cloud} is {run.status.value}: resume it first")
                before = run.status
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
        if before != RunStatus.RUNNING:
            _audit(db, ctx, run_id, before, RunStatus.RUNNING, "provisioning continued")
        settle(db, run_id)
    return _run_plan(db, run_id, plan, driver, ctx, verify=not new)


def run_status(db: Database, request_id: str, cloud: str) -> RunStatus | None:
    """The status of the request's run in that cloud (None: never provisioned there)."""
    with db.session() as s:
        run = s.scalars(select(ProvisionRun).filter_by(request_id=request_id, cloud=cloud)).one_or_none()
        return run.status if run is not None else None


def resume(db: Database, request_id: str, driver: CloudDriver, ctx: ChangeContext | None = None) -> ProvisionOutcome:
    """Finish what a killed or failed run left: continue RUNNING (READY steps re-checked against the cloud),
    finish rollbacks and retirements. NoRun when the request was never provisioned in that cloud."""
    with hold(db, run_lease_key(request_id, driver.cloud)):
        return _resume(db, request_id, driver, ctx or SYSTEM_CTX)


def _resume(db: Database, request_id: str, driver: CloudDriver, ctx: ChangeContext) -> ProvisionOutcome:
    with db.session() as s:
        run = s.scalars(select(ProvisionRun).filter_by(request_id=request_id, cloud=driver.cloud)).one_or_none()
        if run is None:
            raise NoRun(request_id, driver.cloud)
        run_id, status, plan = run.id, run.status, plan_from_dict(run.plan)
    settle(db, run_id)
    if status == RunStatus.RUNNING:
        return _run_plan(db, run_id, plan, driver, ctx, verify=True)
    if status in (RunStatus.ROLLING_BACK, RunStatus.ROLLBACK_PENDING):
        engine = _Run(db, run_id, driver, plan, ctx)
        err = engine.undo()
        with db.session() as s:
            run = s.get(ProvisionRun, run_id)
            assert run is not None
            prior_error = (run.error or "").split("; rollback incomplete: ")[0] or None
        final = RunStatus.ROLLBACK_PENDING if err else RunStatus.ROLLED_BACK
        _set_status(db, run_id, final, prior_error if not err else f"{prior_error}; rollback incomplete: {err}")
        _audit(db, ctx, run_id, status, final, "rollback resumed")
        return _outcome(db, run_id, False, prior_error, rolled_back=not err)
    if status == RunStatus.RETIRING:
        return retire(db, request_id, driver, ctx)
    with db.session() as s:
        run = s.get(ProvisionRun, run_id)
        assert run is not None
        error = run.error
    return _outcome(db, run_id, status == RunStatus.DONE, error, rolled_back=status == RunStatus.ROLLED_BACK)


def retire(db: Database, request_id: str, driver: CloudDriver, ctx: ChangeContext | None = None) -> ProvisionOutcome:
    """Delete exactly what the request created in `driver`'s cloud (never the unit's project); a managed-mode
    quota grant is returned. Safe to repeat: a retirement that was interrupted (killed, database error, cloud
    down) is left RETIRING, and the next call finishes it. NoRun when there is no run in that cloud."""
    with hold(db, run_lease_key(request_id, driver.cloud)):
        return _retire(db, request_id, driver, ctx or SYSTEM_CTX)


def _retire(db: Database, request_id: str, driver: CloudDriver, ctx: ChangeContext) -> ProvisionOutcome:
    with db.session() as s:
        run = s.scalars(select(ProvisionRun).filter_by(request_id=request_id, cloud=driver.cloud)).one_or_none()
        if run is None:
            raise NoRun(request_id, driver.cloud)
        run_id, before, plan = run.id, run.status, plan_from_dict(run.plan)
        run.status = RunStatus.RETIRING
    if before != RunStatus.RETIRING:
        _audit(db, ctx, run_id, before, RunStatus.RETIRING, "retirement started")
    settle(db, run_id)  # a killed process's create may still land: let it, so it is found and deleted
    engine = _Run(db, run_id, driver, plan, ctx)
    err = engine.undo()
    final = RunStatus.RETIRING if err else RunStatus.RETIRED
    _set_status(db, run_id, final, err, finished_at=now_utc())
    _audit(db, ctx, run_id, RunStatus.RETIRING, final, "retired" if not err else "retirement incomplete")
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
