"""Device collection status: facts only from parsed sessions, stale facts kept, reasons in API, CLI and metrics."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import select
from typer.testing import CliRunner

from collectors import device_status
from collectors.device_metrics import DeviceCollector
from collectors.devices_cli import make_app
from collectors.results import ProbeError, ProbeKind, ProbeResult
from core.db import Database
from core.enums import Role
from core.models import ChangeLog
from inventory.models import Device
from tests.builders import Inv

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
OTHER = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA1aR9fNe7ikZ5CgLlGqFr6rLqHRYf2o5jXgX9l0b0cz"


def _device(db: Database) -> tuple[int, int]:
    with db.session() as s:
        inv = Inv(s)
        ids = inv.basic()
        node = inv.node(ids["region"], code="GX", address="192.0.2.1")
        dev = inv.add(
            "devices",
            code="GX-CORE",
            name="核心",
            node_id=node,
            vendor="huawei",
            device_type="huawei",
            mgmt_address="192.0.2.1",
            ssh_port=22,
            credential_ref="vault:x",
        )
        return node, dev


def _ssh(dev: int, at: datetime, ok: bool, error: ProbeError | None = None, **kw: Any) -> ProbeResult:
    return ProbeResult(
        kind=ProbeKind.SSH, target="192.0.2.1", vantage="t", ok=ok, error=error, device_id=dev, at=at, **kw
    )


def test_a_parse_error_keeps_the_good_facts_marks_them_stale_and_keeps_an_excerpt(any_db: Database) -> None:
    db = any_db
    _, dev = _device(db)
    good = {"version": "5.170", "interfaces_total": 5}
    with db.session() as s:
        device_status.record(s, [_ssh(dev, T0, True, facts=good, host_key=KEY, encoding="gbk")])
    with db.session() as s:
        device_status.record(
            s,
            [
                _ssh(
                    dev,
                    T0 + timedelta(minutes=15),
                    False,
                    ProbeError.PARSE_ERROR,
                    detail="unparseable",
                    excerpt="Interface ???\n",
                )
            ],
        )
    with db.session() as s:
        assert s.scalar(select(Device.facts).where(Device.id == dev)) == good
        row = device_status.describe(s, at=T0 + timedelta(minutes=20))[0]
        assert device_status.excerpt(s, dev) == "Interface ???\n"
    assert (row["status"], row["last_error"], row["facts_stale"], row["consecutive_failures"]) == (
        "failing",
        "parse_error",
        True,
        1,
    )
    assert row["facts_age_seconds"] == 1200.0
    assert row["last_success_at"] == "2026-11-23T01:00:00+00:00" and row["last_error_at"] == "2026-11-23T01:15:00+00:00"
    assert row["encoding"] == "gbk" and row["host_key_fingerprint"].startswith("SHA256:")


def test_the_first_host_key_is_trusted_and_never_replaced_by_a_later_one(any_db: Database) -> None:
    db = any_db
    _, dev = _device(db)
    with db.session() as s:
        device_status.record(s, [_ssh(dev, T0, True, facts={"v": 1}, host_key=KEY)])
        device_status.record(s, [_ssh(dev, T0 + timedelta(hours=1), True, facts={"v": 2}, host_key=OTHER)])
    with db.session() as s:
        assert device_status.known(s, [dev]) == {dev: (KEY, None)}


def test_api_lists_failures_with_reason_and_hides_excerpts_from_readers(
    db: Database, admin: TestClient, client: TestClient, token_for: Callable[..., str]
) -> None:
    _, dev = _device(db)
    with db.session() as s:
        device_status.record(s, [_ssh(dev, T0, True, facts={"version": "5.170"}, host_key=KEY)])
        device_status.record(
            s, [_ssh(dev, T0 + timedelta(minutes=1), False, ProbeError.PAGING_NOT_DISABLED, excerpt="---- More ----")]
        )
    body = admin.get("/api/v1/collectors/devices", params={"status": "failing"}).json()
    assert [(d["code"], d["last_error"], d["facts_stale"]) for d in body] == [("GX-CORE", "paging_not_disabled", True)]
    assert admin.get("/api/v1/collectors/devices", params={"error": "timeout"}).json() == []
    one = admin.get(f"/api/v1/collectors/devices/{dev}").json()
    assert one["last_error_excerpt"] == "---- More ----" and one["facts"] == {"version": "5.170"}
    client.headers["Authorization"] = f"Bearer {token_for(Role.AUDITOR)}"
    assert "last_error_excerpt" not in client.get(f"/api/v1/collectors/devices/{dev}").json()
    assert client.delete(f"/api/v1/collectors/devices/{dev}/host-key").status_code == 403
    assert client.get("/api/v1/collectors/devices/999999").json()["error"]["code"] == "not_found"


def test_clearing_a_host_key_is_audited(db: Database, admin: TestClient) -> None:
    _, dev = _device(db)
    with db.session() as s:
        device_status.record(s, [_ssh(dev, T0, True, facts={"v": 1}, host_key=KEY)])
    r = admin.delete(f"/api/v1/collectors/devices/{dev}/host-key")
    assert r.status_code == 200 and r.json()["cleared"].startswith("SHA256:")
    with db.session() as s:
        assert device_status.known(s, [dev]) == {dev: (None, None)}
        log = s.scalars(select(ChangeLog).where(ChangeLog.kind == "devices", ChangeLog.object_id == dev)).all()
    assert log[-1].after == {"host_key_fingerprint": None} and (log[-1].before or {})[
        "host_key_fingerprint"
    ].startswith("SHA256:")


def test_metrics_count_errors_by_reason_and_show_facts_age(db: Database) -> None:
    _, dev = _device(db)
    view = device_status.DeviceView()
    now = datetime.now(UTC)
    results = [
        _ssh(dev, now - timedelta(seconds=120), True, facts={"v": 1}),
        _ssh(dev, now - timedelta(seconds=60), False, ProbeError.TIMEOUT),
        _ssh(dev, now - timedelta(seconds=30), False, ProbeError.TIMEOUT),
        _ssh(dev, now, False, ProbeError.HOST_KEY_CHANGED),
    ]
    with db.session() as s:
        for r in results:
            device_status.record(s, [r])
            view.count([r])
        view.refresh(s)
    registry = CollectorRegistry()
    registry.register(DeviceCollector(view))
    text = generate_latest(registry).decode()
    assert 'yunwang_device_collect_errors_total{reason="timeout"} 2.0' in text
    assert 'yunwang_device_collect_errors_total{reason="host_key_changed"} 1.0' in text
    assert 'yunwang_device_collect_errors_total{reason="parse_error"} 0.0' in text
    assert 'yunwang_device_facts_stale{device="GX-CORE",node="GX"} 1.0' in text
    assert 'yunwang_device_collect_failing{device="GX-CORE",node="GX"} 1.0' in text
    age = next(line for line in text.splitlines() if line.startswith("yunwang_device_facts_age_seconds{"))
    assert 119.0 <= float(age.split()[-1]) < 180.0


def test_cli_shows_reasons_and_exits_1_when_a_device_fails(db: Database) -> None:
    _, dev = _device(db)
    with db.session() as s:
        device_status.record(s, [_ssh(dev, T0, False, ProbeError.AUTH_FAILED, detail="authentication failed")])
    out = CliRunner(env={"COLUMNS": "250"}).invoke(make_app(lambda: Database(db.url)), ["status", "--failing"])
    assert out.exit_code == 1
    assert "GX-CORE" in out.output and "auth_failed" in out.output and "2026-11-23T09:00:00+08:00" in out.output
    js = CliRunner().invoke(make_app(lambda: Database(db.url)), ["status", "--json"])
    assert '"last_error": "auth_failed"' in js.output


def test_an_encoding_set_per_device_is_tried_first_and_audited(db: Database, admin: TestClient) -> None:
    _, dev = _device(db)
    r = admin.put(f"/api/v1/collectors/devices/{dev}/encoding", json={"encoding": "gbk"})
    assert r.status_code == 200, r.text
    bad = admin.put(f"/api/v1/collectors/devices/{dev}/encoding", json={"encoding": "latin-1"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_failed"
    with db.session() as s:
        assert device_status.known(s, [dev]) == {dev: (None, "gbk")}
        log = s.scalars(select(ChangeLog).where(ChangeLog.kind == "devices", ChangeLog.object_id == dev)).all()
    assert log[-1].after == {"encoding": "gbk"}


def test_status_table_at_80_columns_never_cuts_reasons_or_times() -> None:
    import io

    from rich.console import Console

    from collectors.devices_cli import _table

    rows: list[dict[str, Any]] = [
        {
            "code": "GX-NN-CORE-SWITCH-0001-LONG-NAME",
            "node": "GX-NANNING-QINGXIU-NODE-01",
            "status": "failing",
            "last_success_at": "2026-11-23T01:00:00+00:00",
            "last_error_at": "2026-11-23T02:30:15+00:00",
            "last_error": "host_key_changed",
            "facts_age_seconds": 93784.0,  # 1 d 2 h 3 min 4 s
            "facts_stale": True,
        },
        {
            "code": "GX-B",
            "node": "GX",
            "status": "failing",
            "last_success_at": None,
            "last_error_at": "2026-11-23T03:00:00+00:00",
            "last_error": "paging_not_disabled",
            "facts_age_seconds": None,
            "facts_stale": False,
        },
    ]
    for width in (80, 200):
        buf = io.StringIO()
        console = Console(file=buf, width=width, color_system=None)
        console.print(_table(rows, console.width))
        out = buf.getvalue()
        assert max(len(line) for line in out.splitlines()) <= width
        assert "…" not in out
        for whole in (
            "host_key_changed",
            "paging_not_disabled",
            "2026-11-23T09:00:00+08:00",  # 01:00 UTC in Beijing time, with its offset
            "2026-11-23T10:30:15+08:00",
            "2026-11-23T11:00:00+08:00",
            "1d2h",
        ):
            assert whole in out, (width, whole, out)


def test_a_changed_host_key_shows_the_new_fingerprint_beside_the_trusted_one_in_the_api(
    db: Database, admin: TestClient
) -> None:
    from collectors.ssh import host_key_changed_detail

    _, dev = _device(db)
    with db.session() as s:
        device_status.record(s, [_ssh(dev, T0, True, facts={"v": 1}, host_key=KEY)])
        detail = host_key_changed_detail(OTHER, KEY)
        device_status.record(
            s, [_ssh(dev, T0 + timedelta(hours=1), False, ProbeError.HOST_KEY_CHANGED, detail=detail, host_key=OTHER)]
        )
    one = admin.get(f"/api/v1/collectors/devices/{dev}").json()
    # fingerprints as `ssh-keygen -lf` prints them for KEY and OTHER
    assert one["host_key_fingerprint"] == "SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU"
    assert one["host_key_presented_fingerprint"] == "SHA256:kUvnjjv9BadKNFKhLXP35a5crOWQmzNFAJEBuQB5HH8"
    assert "presented SHA256:kUvnjjv9BadKNFKhLXP35a5crOWQmzNFAJEBuQB5HH8" in one["last_error_detail"]
    with db.session() as s:
        assert device_status.known(s, [dev]) == {dev: (KEY, None)}  # the new key is shown, never trusted
        device_status.record(s, [_ssh(dev, T0 + timedelta(hours=2), True, facts={"v": 2}, host_key=KEY)])
    assert admin.get(f"/api/v1/collectors/devices/{dev}").json()["host_key_presented_fingerprint"] is None
