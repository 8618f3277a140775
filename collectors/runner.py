"""Runs a sweep of one probe kind over (a subset of) the inventory and records the outcome.

Load targets → probe concurrently → history, node states (through inventory.service), device facts →
refresh the live snapshot. Probes return results, never raise, so one bad target never stops a sweep.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session

from collectors import credentials, device_status, icmp, snmp, snmp_store, ssh, store, tcp
from collectors.live import LiveView
from collectors.results import ProbeKind, ProbeResult, node_state
from core.audit import ChangeContext
from core.db import Database
from core.times import now_utc
from inventory.enums import NodeState

log = logging.getLogger("yunwang.collectors")


@dataclass(frozen=True)
class CollectorConfig:
    """Everything the collectors need from the settings (collectors never import orchestrator)."""

    vantage: str = "local"
    icmp: icmp.IcmpOptions = field(default_factory=icmp.IcmpOptions)
    tcp: tcp.TcpOptions = field(default_factory=tcp.TcpOptions)
    ssh: ssh.SshOptions = field(default_factory=ssh.SshOptions)
    snmp: snmp.SnmpOptions = field(default_factory=snmp.SnmpOptions)
    degraded_loss_ratio: float = 0.2
    history_hours: int = 48
    secret_key: str | None = None
    data_dir: Path = Path("var")
    credential_files_dir: Path | None = None  # where `file:` credential references may point
    credential_env_prefix: str = credentials.DEFAULT_ENV_PREFIX  # what `env:` references must start with


@dataclass(frozen=True)
class SweepSummary:
    kind: ProbeKind
    targets: int
    failures: int
    seconds: float
    results: list[ProbeResult]
    state_changes: list[tuple[int, NodeState, NodeState]]


class CollectorService:
    """One per app: probes, the newest results per node, and the live snapshot for metrics and the API."""

    def __init__(self, db: Database, config: CollectorConfig, environ: Mapping[str, str] | None = None) -> None:
        self.db = db
        self.config = config
        self.environ = environ
        self.live = LiveView()
        self.devices = device_status.DeviceView()
        self.snmp_view = snmp_store.SnmpView()
        self.icmp_latest: dict[int, ProbeResult] = {}
        self.tcp_latest: dict[tuple[int, int], ProbeResult] = {}
        self._apply_lock = threading.Lock()
        self._key: bytes | None = None

    def check_credential_key(self) -> None:
        """Start-up: stored credentials without their key stop the service (credentials.MissingKey)."""
        with self.db.session() as s:
            credentials.check_key(s, self.config.secret_key, self.config.data_dir)

    def credential_key(self, session: Session) -> bytes:
        """The key; `session` is the caller's (a second session in one thread would wait on SQLite's write lock)."""
        if self._key is None:
            create = not credentials.stored_count(session)
            self._key = credentials.load_key(self.config.secret_key, self.config.data_dir, create=create)
        return self._key

    def credential_resolver(self, session: Session) -> credentials.CredentialResolver:
        files = self.config.credential_files_dir or self.config.data_dir / "secrets"
        return credentials.CredentialResolver(
            session, self.credential_key(session), self.environ, files, self.config.credential_env_prefix
        )

    async def sweep(self, kind: ProbeKind, node_ids: Sequence[int] | None = None) -> SweepSummary:
        """Probe every node (or only `node_ids`) with one kind of probe and record everything."""
        if kind == ProbeKind.SNMP:  # devices with SNMP settings: counters, rates, uplinks (collectors/snmp_store.py)
            return await snmp_store.sweep(self, node_ids)
        started = time.monotonic()
        with self.db.session() as s:
            nodes = store.load_nodes(s, node_ids)
            devices = store.load_devices(s, [n.id for n in nodes]) if kind == ProbeKind.SSH else []
            resolver = self.credential_resolver(s)
            known = device_status.known(s, [d.id for d in devices]) if devices else {}
            creds: dict[int, credentials.Credential | None] = {}
            for d in devices:
                try:
                    creds[d.id] = resolver.resolve(d.credential_ref)
                except credentials.CredentialError as exc:
                    log.warning("device %s: %s", d.code, exc)
                    creds[d.id] = None
        results = await self._probe(kind, nodes, devices, creds, known)
        seconds = time.monotonic() - started
        changes = self._record(kind, nodes, results, (kind.value, seconds))
        failures = sum(1 for r in results if not r.ok)
        log.info(
            "%s sweep: %d targets, %d failed, %d state changes, %.2fs",
            kind.value,
            len(results),
            failures,
            len(changes),
            seconds,
        )
        return SweepSummary(kind, len(results), failures, seconds, results, changes)

    def sweep_blocking(self, kind: ProbeKind, node_ids: Sequence[int] | None = None) -> SweepSummary:
        """For scheduler threads: run one sweep on a private event loop."""
        return asyncio.run(self.sweep(kind, node_ids))

    async def _probe(
        self,
        kind: ProbeKind,
        nodes: list[store.NodeInfo],
        devices: list[store.DeviceInfo],
        creds: dict[int, credentials.Credential | None],
        known: dict[int, tuple[str | None, str | None]] | None = None,
    ) -> list[ProbeResult]:
        cfg = self.config
        if kind == ProbeKind.ICMP:
            targets = [icmp.IcmpTarget(n.address, n.id) for n in nodes if n.address]
            return await icmp.ping_many(targets, cfg.icmp) if targets else []
        if kind == ProbeKind.TCP:
            ports = [tcp.TcpTarget(n.address, p, n.id) for n in nodes if n.address for p in n.ports]
            return await tcp.probe_many(ports, cfg.tcp)
        ssh_targets = [  # with the host key trusted on first use and the encoding seen last time
            ssh.SshTarget(d.address, d.device_type, d.port, d.id, d.node_id, *(known or {}).get(d.id, (None, None)))
            for d in devices
        ]
        return await ssh.collect_many(ssh_targets, lambda t: creds.get(t.device_id or 0), cfg.ssh)

    def _record(
        self, kind: ProbeKind, nodes: list[store.NodeInfo], results: list[ProbeResult], sweep: tuple[str, float]
    ) -> list[tuple[int, NodeState, NodeState]]:
        at = now_utc()
        ctx = ChangeContext(actor=f"collector:{self.config.vantage}", role="system", message=f"{kind.value} probe")
        with self._apply_lock, self.db.session() as s:
            store.record_results(s, results)
            changes: list[tuple[int, NodeState, NodeState]] = []
            if kind == ProbeKind.ICMP:
                self.icmp_latest.update({r.node_id: r for r in results if r.node_id is not None})
            elif kind == ProbeKind.TCP:
                self.tcp_latest.update({(r.node_id, r.port or 0): r for r in results if r.node_id is not None})
            else:
                device_status.record(s, results)
                self.devices.count(results)
            if kind in (ProbeKind.ICMP, ProbeKind.TCP):
                decided = {}
                for n in nodes:
                    if not n.address:
                        continue
                    tcp_results = [self.tcp_latest[(n.id, p)] for p in n.ports if (n.id, p) in self.tcp_latest]
                    decided[n.id] = node_state(
                        self.icmp_latest.get(n.id), tcp_results, self.config.degraded_loss_ratio, n.state
                    )
                changes = store.apply_states(s, decided, ctx, at)
            store.prune(s, self.config.history_hours, at)
            s.flush()
            self.live.refresh(s, self.icmp_latest, sweep)
            if kind == ProbeKind.SSH:
                self.devices.refresh(s)
        return changes
