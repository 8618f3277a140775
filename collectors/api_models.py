"""Response models of the collector routers (collectors/api.py, collectors/devices_api.py).

Credentials appear by name and username only: no model here has a password or secret field.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from core.responses import AwareTime, Number, ResponseModel
from core.times import OutputTime


class NodeOut(ResponseModel):
    """An extranet node's state with its newest ICMP measurement."""

    id: int
    code: str
    name: str | None
    level: str | None
    city: str | None
    county: str | None
    address: str | None
    state: str
    state_since: OutputTime | None
    loss_ratio: Number | None
    rtt_avg_seconds: Number | None
    probed_at: OutputTime | None
    vantage: str | None


class VantageOut(ResponseModel):
    """Availability and coverage of one vantage (collectors/vantage_status.py)."""

    vantage: str | None = Field(description="vantage name; null: the nodes of no vantage (central queue)")
    label: str = Field(description="its `vantage` label in the metrics (`central` for null)")
    queue: str
    nodes: int = Field(description="extranet nodes assigned")
    probed: int = Field(description="nodes with a result from this vantage within the last interval")
    up: int
    down: int
    coverage_ratio: Number | None = Field(description="probed / nodes")
    last_result_at: OutputTime | None
    stale: bool = Field(description="nodes assigned but none probed within 3 intervals: the worker stopped")
    unknown_codes: list[str] = Field(
        default_factory=list,
        description="codes assigned to the vantage (YUNWANG_VANTAGES) that match no node: fix the setting",
    )


class HistorySample(ResponseModel):
    at: OutputTime
    ok: bool
    loss_ratio: Number | None
    rtt_avg_seconds: Number | None
    error: str | None


class StatePeriodOut(ResponseModel):
    state: str
    since: OutputTime
    until: OutputTime | None


class NodeHistoryOut(ResponseModel):
    """One node over the last `hours`: ICMP samples oldest first, state periods newest first (`until` null: now)."""

    node_id: int
    hours: int
    from_time: OutputTime = Field(alias="from")
    to: OutputTime
    samples: list[HistorySample]
    states: list[StatePeriodOut]


class Sparkline(ResponseModel):
    node_id: int
    rtt_avg_seconds: list[Number | None]
    loss_ratio: list[Number | None]


class SparklinesOut(ResponseModel):
    """Per node, mean latency (answered probes) and loss in `points` equal buckets from `from` to `to`."""

    hours: int
    points: int
    from_time: OutputTime = Field(alias="from")
    to: OutputTime
    nodes: list[Sparkline]


class AvailabilityOut(ResponseModel):
    """Share (0–1) of observed time up or degraded over 1, 7 and 30 days; null: never observed."""

    id: int
    code: str
    level: str | None
    state: str
    day1: Number | None = Field(None, alias="1d")
    day7: Number | None = Field(None, alias="7d")
    day30: Number | None = Field(None, alias="30d")


class CoverageRow(ResponseModel):
    level: str
    city: str | None
    city_code: str | None
    areas: int
    covered: int
    expected: int
    reachable: int
    ratio: Number | None


class GapArea(ResponseModel):
    code: str
    name: str
    nodes: int


class GapCity(ResponseModel):
    city_code: str | None
    city: str | None
    areas: list[GapArea]


class AccessRow(ResponseModel):
    level: str
    units: int
    connected_up: int
    ratio: Number | None


class CoverageOut(ResponseModel):
    """Four-level coverage, the uncovered areas per level (grouped by city) and horizontal access."""

    at: OutputTime | None
    coverage_rule: str
    coverage: list[CoverageRow]
    gaps: dict[str, list[GapCity]]
    horizontal_access: list[AccessRow]


class LastRun(ResponseModel):
    started_at: OutputTime
    finished_at: OutputTime | None
    ok: bool | None
    trigger: str | None
    targets: int | None
    failures: int | None


class LastError(ResponseModel):
    at: OutputTime
    error: str | None


class JobOut(ResponseModel):
    """A scheduled (or once-run) job: interval, next run, last run and last error."""

    id: str
    interval_seconds: Number | None = None
    jitter_seconds: Number | None = None
    scheduled: bool
    next_run_time: AwareTime | None = None
    running: bool | None = None
    last_run: LastRun | None
    last_error: LastError | None


class ProbeResultOut(ResponseModel):
    kind: str
    target: str | None
    port: int | None
    node_id: int | None
    device_id: int | None
    vantage: str | None
    ok: bool
    error: str | None
    detail: str | None
    at: OutputTime
    loss_ratio: Number | None
    rtt_avg_seconds: Number | None
    rtt_min_seconds: Number | None
    rtt_max_seconds: Number | None
    facts: dict[str, Any] | None


class StateChange(ResponseModel):
    node_id: int
    from_state: str = Field(alias="from")
    to: str


class ProbeSweepOut(ResponseModel):
    kind: str
    targets: int
    failures: int
    seconds: Number
    state_changes: list[StateChange]
    results: list[ProbeResultOut] | None = None


class ProbeProgress(ResponseModel):
    done: int
    total: int
    ratio: Number
    current: str | None


class ProbeJobOut(ResponseModel):
    """A probe-now job; `sweeps[].results` only on the single-job route."""

    job_id: str
    status: str
    node_ids: list[int]
    kinds: list[str]
    requested_by: str
    created_at: OutputTime | None
    started_at: OutputTime | None
    finished_at: OutputTime | None
    progress: ProbeProgress
    error: str | None
    sweeps: list[ProbeSweepOut]


class SnmpSettingsOut(ResponseModel):
    """How a device is polled: the credential by reference only."""

    device_id: int
    version: str
    credential_ref: str
    port: int
    uplinks: list[str]
    auth_protocol: str
    priv_protocol: str


class InterfaceOut(ResponseModel):
    node_id: int
    node_code: str
    device_id: int
    device_code: str
    name: str
    is_uplink: bool
    oper_up: bool
    speed_bps: Number
    in_bps: Number | None
    out_bps: Number | None
    utilisation: Number | None
    in_errors: int
    out_errors: int
    in_discards: int
    out_discards: int
    uptime_seconds: Number
    sampled_at: OutputTime


class UplinkOut(ResponseModel):
    node_id: int
    node_code: str
    interfaces: int
    in_bps: Number | None
    out_bps: Number | None
    capacity_bps: Number
    utilisation: Number | None


class CredentialNameOut(ResponseModel):
    """A stored credential: its name and username, never the password."""

    name: str
    username: str
    updated_at: OutputTime


class CredentialStoredOut(ResponseModel):
    name: str
    username: str
    stored_at: OutputTime


class DeviceStatusOut(ResponseModel):
    """SSH collection status of one device; `facts` and `last_error_excerpt` only on the one-device route."""

    id: int
    code: str
    node_id: int
    node: str
    device_type: str | None
    address: str | None
    status: str
    last_attempt_at: OutputTime | None
    last_success_at: OutputTime | None
    last_error_at: OutputTime | None
    last_error: str | None
    last_error_detail: str | None
    consecutive_failures: int
    facts_at: OutputTime | None
    facts_age_seconds: Number | None
    facts_stale: bool
    encoding: str | None
    host_key_fingerprint: str | None
    host_key_seen_at: OutputTime | None
    host_key_presented_fingerprint: str | None
    facts: dict[str, Any] | None = None
    last_error_excerpt: str | None = None


class HostKeyClearedOut(ResponseModel):
    device_id: int
    cleared: str | None


class EncodingOut(ResponseModel):
    device_id: int
    encoding: str
