"""SNMP in the store: per-device polling settings, the newest interface counters and rates, the sweep.

A sweep polls every configured device of the chosen nodes, computes bits/s and utilisation against the
counters stored by the poll before, stores the new counters, appends one `snmp` probe record per device
and refreshes the live SNMP view (what the API's uplink figures and the metrics read).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from collectors import credentials, snmp, store
from collectors.models import SnmpDevice, SnmpInterface
from collectors.results import ProbeError, ProbeKind, ProbeResult
from core.audit import ChangeContext, record_change
from core.enums import ChangeAction
from core.errors import Problem, ValidationFailed
from core.times import now_utc
from inventory.kinds import KINDS
from inventory.models import Device, ExtranetNode
from inventory.service import get_or_404

if TYPE_CHECKING:
    from collectors.runner import CollectorService, SweepSummary


@dataclass(frozen=True)
class InterfaceRow:
    node_id: int
    node_code: str
    device_id: int
    device_code: str
    name: str
    is_uplink: bool
    oper_up: bool
    speed_bps: float
    in_bps: float | None
    out_bps: float | None
    utilisation: float | None
    in_errors: int
    out_errors: int
    in_discards: int
    out_discards: int
    uptime_seconds: float
    sampled_at: datetime


@dataclass(frozen=True)
class Uplink:
    """A node's uplink: its devices' uplink interfaces summed (bits/s), utilisation of their capacity."""

    node_id: int
    node_code: str
    interfaces: int
    in_bps: float | None
    out_bps: float | None
    capacity_bps: float
    utilisation: float | None


def uplinks(rows: Iterable[InterfaceRow]) -> list[Uplink]:
    per: dict[int, list[InterfaceRow]] = {}
    for r in rows:
        if r.is_uplink:
            per.setdefault(r.node_id, []).append(r)
    out = []
    for node_id, rs in sorted(per.items()):
        rated = [r for r in rs if r.in_bps is not None and r.out_bps is not None]
        in_bps = sum(r.in_bps or 0.0 for r in rated) if rated else None
        out_bps = sum(r.out_bps or 0.0 for r in rated) if rated else None
        capacity = sum(r.speed_bps for r in rated)
        util = min(1.0, max(in_bps or 0.0, out_bps or 0.0) / capacity) if rated and capacity else None
        out.append(Uplink(node_id, rs[0].node_code, len(rs), in_bps, out_bps, capacity, util))
    return out


@dataclass
class SnmpSnapshot:
    interfaces: list[InterfaceRow] = field(default_factory=list)
    devices_up: dict[tuple[int, str, str], bool] = field(default_factory=dict)  # (device id, node, device code)
    at: datetime | None = None


class SnmpView:
    """The newest SNMP picture, replaced whole after each sweep; metrics read it without queries."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.snapshot = SnmpSnapshot()

    def refresh(self, session: Session, answered: dict[int, bool] | None = None) -> SnmpSnapshot:
        rows = interface_rows(session)
        with self._lock:
            devices = dict(self.snapshot.devices_up)
            codes = _device_codes(session, answered or {})
            for device_id, ok in (answered or {}).items():
                if device_id in codes:
                    devices[(device_id, *codes[device_id])] = ok
            self.snapshot = SnmpSnapshot(rows, devices, now_utc())
            return self.snapshot


def _device_codes(session: Session, ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    q = select(Device.id, ExtranetNode.code, Device.code).join(ExtranetNode, ExtranetNode.id == Device.node_id)
    return {d: (n, c) for d, n, c in session.execute(q.where(Device.id.in_(list(ids))))}


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def interface_rows(session: Session, node_ids: Sequence[int] | None = None) -> list[InterfaceRow]:
    q = (
        select(SnmpInterface, Device.code, Device.node_id, ExtranetNode.code)
        .join(Device, Device.id == SnmpInterface.device_id)
        .join(ExtranetNode, ExtranetNode.id == Device.node_id)
        .order_by(Device.node_id, Device.id, SnmpInterface.if_index)
    )
    if node_ids is not None:
        q = q.where(Device.node_id.in_(list(node_ids)))
    return [
        InterfaceRow(
            node_id,
            node_code,
            i.device_id,
            device_code,
            i.name,
            i.is_uplink,
            i.oper_up,
            i.speed_bps,
            i.in_bps,
            i.out_bps,
            i.utilisation,
            i.in_errors,
            i.out_errors,
            i.in_discards,
            i.out_discards,
            i.uptime_seconds,
            _aware(i.sampled_at),
        )
        for i, device_code, node_id, node_code in session.execute(q)
    ]


# -- settings per device -------------------------------------------------------------------------------


def configure(session: Session, device_id: int, data: dict[str, Any], ctx: ChangeContext) -> dict[str, Any]:
    """Create or replace a device's SNMP settings (validated, change-logged); returns them."""
    device: Any = get_or_404(session, KINDS["devices"], device_id)
    problems = []
    if data.get("version") not in snmp.VERSIONS:
        problems.append(
            Problem("版本应为 2c 或 3 / version must be 2c or 3", field="version", value=data.get("version"))
        )
    port = data.get("port", 161)
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        problems.append(
            Problem("端口应为 1–65535 的整数 / a port must be an integer from 1 to 65535", field="port", value=port)
        )
    for f, allowed in (("auth_protocol", snmp.AUTH_PROTOCOLS), ("priv_protocol", snmp.PRIV_PROTOCOLS)):
        if data.get(f, "SHA" if f == "auth_protocol" else "AES") not in allowed:
            problems.append(Problem(f"one of {', '.join(allowed)}", field=f, value=data.get(f)))
    ref = str(data.get("credential_ref") or "")
    if not ref or (ref.partition(":")[0] not in ("vault", "env", "file") and ":" in ref):
        problems.append(Problem("vault:NAME, env:PREFIX or file:/path", field="credential_ref", value=ref[:100]))
    if problems:
        raise ValidationFailed("invalid SNMP settings / SNMP 配置无效", problems)
    row = session.scalar(select(SnmpDevice).where(SnmpDevice.device_id == device_id))
    before = settings_out(row) if row else None
    if row is None:
        row = SnmpDevice(device_id=device_id)
        session.add(row)
    row.version, row.credential_ref, row.port = data["version"], ref, port
    row.uplinks = ",".join(n.strip() for n in data.get("uplinks") or [] if n.strip())
    row.auth_protocol, row.priv_protocol = data.get("auth_protocol", "SHA"), data.get("priv_protocol", "AES")
    row.updated_at = now_utc()
    session.flush()
    after = settings_out(row)
    action = ChangeAction.CREATE if before is None else ChangeAction.UPDATE
    record_change(session, ctx, "snmp_devices", device_id, action, before, after, device.code)
    return after


def settings_out(row: SnmpDevice) -> dict[str, Any]:
    return {
        "device_id": row.device_id,
        "version": row.version,
        "credential_ref": row.credential_ref,
        "port": row.port,
        "uplinks": [n for n in row.uplinks.split(",") if n],
        "auth_protocol": row.auth_protocol,
        "priv_protocol": row.priv_protocol,
    }


def all_settings(session: Session) -> list[dict[str, Any]]:
    return [settings_out(r) for r in session.scalars(select(SnmpDevice).order_by(SnmpDevice.device_id))]


# -- the sweep -----------------------------------------------------------------------------------------


def _store_sample(
    session: Session, device_id: int, sample: snmp.SnmpSample, uplinks_: set[str]
) -> list[dict[str, Any]]:
    """Rates against the stored counters, then the new counters; the interfaces as facts for the result."""
    old = {i.if_index: i for i in session.scalars(select(SnmpInterface).where(SnmpInterface.device_id == device_id))}
    prev = snmp.SnmpSample(
        min((o.uptime_seconds for o in old.values()), default=0.0),
        {
            k: snmp.InterfaceSample(
                k,
                o.name,
                o.oper_up,
                int(o.speed_bps),
                int(o.in_octets),
                int(o.out_octets),
                o.in_errors,
                o.out_errors,
                o.in_discards,
                o.out_discards,
            )
            for k, o in old.items()
        },
        min((_aware(o.sampled_at) for o in old.values()), default=sample.at),
    )
    facts = []
    for k, s in sample.interfaces.items():
        r = snmp.rate(prev, sample, k) if old else None
        row = old.get(k) or SnmpInterface(device_id=device_id, if_index=k)
        if k not in old:
            session.add(row)
        row.name, row.is_uplink, row.oper_up, row.speed_bps = (
            s.name[:100],
            s.name in uplinks_,
            s.oper_up,
            float(s.speed_bps),
        )
        row.in_octets, row.out_octets = str(s.in_octets), str(s.out_octets)
        row.in_errors, row.out_errors, row.in_discards, row.out_discards = (
            s.in_errors,
            s.out_errors,
            s.in_discards,
            s.out_discards,
        )
        row.uptime_seconds, row.sampled_at = sample.uptime_seconds, sample.at
        row.in_bps = r.in_bps if r else None
        row.out_bps = r.out_bps if r else None
        row.utilisation = r.utilisation if r else None
        facts.append(
            {
                "name": s.name,
                "uplink": row.is_uplink,
                "oper_up": s.oper_up,
                "speed_bps": s.speed_bps,
                "in_bps": row.in_bps,
                "out_bps": row.out_bps,
                "utilisation": row.utilisation,
                "in_errors": s.in_errors,
                "out_errors": s.out_errors,
                "in_discards": s.in_discards,
                "out_discards": s.out_discards,
            }
        )
    session.flush()
    return facts


async def sweep(svc: CollectorService, node_ids: Sequence[int] | None = None) -> SweepSummary:
    """Poll every device with SNMP settings (of `node_ids`, or all) and record everything."""
    from collectors.runner import SweepSummary

    started = time.monotonic()
    opts = svc.config.snmp
    with svc.db.session() as s:
        q = select(SnmpDevice, Device).join(Device, Device.id == SnmpDevice.device_id).order_by(Device.id)
        if node_ids is not None:
            q = q.where(Device.node_id.in_(list(node_ids)))
        rows = s.execute(q).tuples().all()
        resolver = svc.credential_resolver(s)
        targets: list[snmp.SnmpTarget] = []
        creds: list[credentials.Credential | None] = []
        for cfg, dev in rows:
            targets.append(
                snmp.SnmpTarget(
                    dev.mgmt_address,
                    cfg.version,
                    cfg.port,
                    cfg.auth_protocol,
                    cfg.priv_protocol,
                    tuple(n for n in cfg.uplinks.split(",") if n),
                    dev.id,
                    dev.node_id,
                )
            )
            try:
                creds.append(resolver.resolve(cfg.credential_ref))
            except credentials.CredentialError:
                creds.append(None)
    polled = await snmp.poll_many(targets, creds, opts)
    results: list[ProbeResult] = []
    with svc.db.session() as s:
        for p in polled:
            facts = None
            if p.sample is not None and p.target.device_id is not None:
                facts = {
                    "uptime_seconds": p.sample.uptime_seconds,
                    "interfaces": _store_sample(s, p.target.device_id, p.sample, set(p.target.uplinks)),
                }
            results.append(
                ProbeResult(
                    ProbeKind.SNMP,
                    p.target.address,
                    opts.vantage,
                    p.sample is not None,
                    p.error,
                    p.detail,
                    node_id=p.target.node_id,
                    device_id=p.target.device_id,
                    port=p.target.port,
                    duration_seconds=p.duration_seconds,
                    facts=facts,
                )
            )
        store.record_results(s, results)
        s.flush()
        svc.snmp_view.refresh(s, {r.device_id: r.ok for r in results if r.device_id is not None})
    seconds = time.monotonic() - started
    failures = sum(1 for r in results if not r.ok)
    return SweepSummary(ProbeKind.SNMP, len(results), failures, seconds, results, [])


__all__ = ["ProbeError", "SnmpView", "configure", "interface_rows", "sweep", "uplinks"]
