"""The demo inventory: deterministic, labelled as demo data, and consistent with every domain rule."""

from __future__ import annotations

import ipaddress
import shutil
import stat
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from core.audit import ChangeContext
from core.db import Database
from core.enums import Role
from core.identity import authenticate
from dashboards.rates import determination_history
from inventory.areas import RegionTree, coverage
from inventory.demo.generator import DEMO_PREFIX, NAME_MARK, DemoSummary, inventory_digest, load_demo
from inventory.enums import CloudKind, Hosting, NetworkStatus, RegionLevel, SystemStatus
from inventory.models import (
    Cloud,
    DedicatedNetwork,
    Determination,
    Device,
    ExtranetNode,
    InformationSystem,
    NodeAccess,
    Region,
    Unit,
)
from tests.live_server import free_port

SCALE = 0.05
TODAY = date(2026, 10, 31)


def load(db: Database, seed: int = 7) -> DemoSummary:
    with db.session() as s:
        return load_demo(s, ChangeContext(actor="demo"), scale=SCALE, seed=seed, today=TODAY)


def fresh_sqlite(template: Path, path: Path) -> Database:
    shutil.copy(template, path)
    return Database(f"sqlite:///{path}")


def test_same_seed_same_inventory_on_every_store(any_db: Database, sqlite_template: Path, tmp_path: Path) -> None:
    first = load(any_db)
    other = fresh_sqlite(sqlite_template, tmp_path / "other.db")
    try:
        second = load(other)
        with other.session() as s:
            assert inventory_digest(s) == second.digest
        third_db = fresh_sqlite(sqlite_template, tmp_path / "third.db")
        third = load(third_db, seed=8)
        third_db.dispose()
    finally:
        other.dispose()
    assert first.counts == second.counts
    assert first.digest == second.digest
    assert third.digest != first.digest
    assert first.counts["systems"] == round(3000 * SCALE)


def test_demo_respects_the_domain_rules(any_db: Database) -> None:
    summary = load(any_db)
    with any_db.session() as s:
        systems = s.scalars(select(InformationSystem)).all()
        clouds = {c.id: c.kind for c in s.scalars(select(Cloud))}
        assert len(systems) == summary.counts["systems"]
        for sys in systems:
            on_cloud = sys.hosting in (Hosting.GOV_CLOUD, Hosting.SUB_CLOUD)
            if sys.classified:
                assert sys.status not in (SystemStatus.MIGRATED, SystemStatus.IN_PROGRESS) and not on_cloud
                assert sys.cloud_id is None
            if sys.status == SystemStatus.MIGRATED:
                assert on_cloud and sys.cloud_id is not None
            if sys.hosting == Hosting.GOV_CLOUD:
                assert clouds[sys.cloud_id] == CloudKind.GOV_CLOUD  # type: ignore[index]
            if sys.hosting == Hosting.ROOM:
                assert sys.room_id is not None
            assert sys.id not in {d.id for d in sys.depends_on}
        for net in s.scalars(select(DedicatedNetwork).where(DedicatedNetwork.classified.is_(True))):
            assert net.status not in (NetworkStatus.INTERCONNECTED, NetworkStatus.MIGRATED)
        for det in s.scalars(select(Determination)):
            assert det.decision != "exempt" or (det.reason or "").strip()
        in_scope = [x for x in systems if not x.classified]
        migrated = sum(x.status == SystemStatus.MIGRATED for x in in_scope) / len(in_scope)
        assert 0.6 <= migrated <= 0.85
        zombies = [
            x for x in systems if (x.users_count or 0) <= 2 and x.last_access_at and x.last_access_at.year < 2025
        ]
        assert zombies


def test_demo_is_labelled_and_shaped_like_guangxi(db: Database) -> None:
    load(db)
    with db.session() as s:
        assert all(n.startswith(NAME_MARK) for n in s.scalars(select(Unit.name)))
        assert all(c.startswith(DEMO_PREFIX) for c in s.scalars(select(InformationSystem.code)))
        levels = {lvl: n for lvl, n in s.execute(select(Region.level, func.count()).group_by(Region.level))}
        assert (levels[RegionLevel.CITY], levels[RegionLevel.COUNTY]) == (14, 111)
        townships = s.scalars(select(Region.code).where(Region.level == RegionLevel.TOWNSHIP)).all()
        assert townships and all(len(c) == 9 and c.startswith("45") for c in townships)
        nodes = s.scalars(select(ExtranetNode)).all()
        per_level = {lvl: sum(n.level == lvl for n in nodes) for lvl in RegionLevel}
        assert per_level[RegionLevel.REGION] == 1 and per_level[RegionLevel.CITY] == 14
        assert per_level[RegionLevel.COUNTY] == 108 and per_level[RegionLevel.TOWNSHIP] >= 1  # 3 counties uncovered
        assert all(n.parent_id is not None for n in nodes if n.level != RegionLevel.REGION)
        plan = ipaddress.ip_network("127.64.0.0/10")
        devices = s.scalars(select(Device)).all()
        down = [n for n in nodes if n.address == "127.255.255.255"]  # 2 county nodes down on purpose
        assert len(down) == 2 and all(n.level == RegionLevel.COUNTY for n in down)
        assert all(n.name.endswith("（演示：故意离线 / demo: down on purpose）") for n in down)
        assert sum("故意离线" in n.name for n in nodes) == 2
        addresses = [n.address for n in nodes if n not in down] + [d.mgmt_address for d in devices]
        assert all(ipaddress.ip_address(a) in plan for a in addresses if a)
        assert len(set(addresses)) == len(addresses)
        # up nodes are probed by ICMP only: nothing listens on their loopback addresses, a port would read "degraded"
        assert [n.tcp_ports for n in nodes if n.tcp_ports] == ["22", "22"]
        assert {d.device_type for d in devices} <= {"huawei", "hp_comware", "ruijie_os", "cisco_ios"}
        assert all(d.credential_ref and "pass" not in d.credential_ref for d in devices)
        gov = s.scalars(select(Cloud.clouds_yaml_name).where(Cloud.kind == CloudKind.GOV_CLOUD)).all()
        assert sorted(g or "" for g in gov) == ["gov-guilin", "gov-nanning", "gov-wuzhou"]
        access = s.scalars(select(NodeAccess.status)).all()
        assert 0.7 <= sum(a == "connected" for a in access) / len(access) <= 0.95


def test_demo_shows_uncovered_areas_and_a_superseded_determination(db: Database) -> None:
    load(db)
    with db.session() as s:
        rows, gaps = coverage(
            RegionTree.load(s), ((n.level.value, n.region_id, True) for n in s.scalars(select(ExtranetNode)))
        )
        superseded = determination_history(s, only_superseded=True)
        later = {d["code"]: d for d in determination_history(s)}
    county = next(r for r in rows if r.level == "county" and r.city == "")
    assert (county.areas, county.covered) == (111, 108)  # three counties left without a node on purpose
    assert len([g for g in gaps if g.level == "county"]) == 3
    assert superseded and all(d["decision"] == "exempt" for d in superseded)
    assert all(later[d["superseded_by"]]["decision"] == "must_migrate" for d in superseded)


def test_demo_command_loads_writes_private_tokens_and_keeps_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestrator.app.cli import app

    url = f"sqlite:///{tmp_path / 'demo.db'}"
    monkeypatch.setenv("YUNWANG_DATABASE_URL", url)
    monkeypatch.setenv("YUNWANG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("YUNWANG_PORT", str(free_port()))  # `demo --no-serve` checks its port too
    runner = CliRunner()
    first = runner.invoke(app, ["demo", "--no-serve", "--scale", str(SCALE)])
    assert first.exit_code == 0, first.output
    token_file = tmp_path / "data" / "demo-tokens.txt"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    lines = [ln.split("\t") for ln in token_file.read_text().splitlines() if not ln.startswith("#")]
    assert {ln[0] for ln in lines} == {r.value for r in Role}
    admin_token = next(ln[3] for ln in lines if ln[0] == "admin")
    assert admin_token in first.output  # the admin token is printed once …
    assert all(ln[3] not in first.output for ln in lines if ln[0] != "admin")  # … the others only in the file
    db = Database(url)
    try:
        with db.session() as s:
            digest = inventory_digest(s)
            scoped = next(ln for ln in lines if ln[0] == "department_user")
            p = authenticate(s, scoped[3])
            assert p.role == Role.DEPARTMENT_USER and p.units
            assert p.name == "demo.department_user"  # the token acts as the role's demo account: one person
            assert s.scalar(select(Unit.code).where(Unit.id == p.unit_id)) == scoped[2]
        again = runner.invoke(app, ["demo", "--no-serve", "--scale", str(SCALE)])
        assert again.exit_code == 0, again.output
        with db.session() as s:
            assert inventory_digest(s) == digest  # kept, not loaded twice
            with pytest.raises(Exception, match="invalid or revoked"):
                authenticate(s, admin_token)  # tokens were re-issued
            s.execute(Unit.__table__.update().where(Unit.code == "DEMO-R01").values(name="改过"))  # type: ignore[attr-defined]
        reset = runner.invoke(app, ["demo", "--no-serve", "--reset", "--scale", str(SCALE)])
        assert reset.exit_code == 0, reset.output
        with db.session() as s:
            assert inventory_digest(s) == digest
            assert s.scalar(select(Unit.name).where(Unit.code == "DEMO-R01")) != "改过"
    finally:
        db.dispose()
