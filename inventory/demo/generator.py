"""A deterministic demo inventory of Guangxi: made-up but realistic, every row written through inventory.service.

Everything it creates is demo data: codes start with ``DEMO-`` (regions keep their real GB/T 2260 codes)
and unit names start with ``【演示】``. The same seed, scale and reference date always give the same
inventory. Extranet addresses come from a loopback plan inside 127.64.0.0/10 so a demo probe never
leaves the machine:

- region node 127.64.0.1, city node i (1..14) 127.64.i.1, county node j (1..111) 127.65.j.1,
  township node k (0..) 127.(66 + k // 250).(k % 250).1; a node's devices are .11, .12, … in its /24.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit import ChangeContext
from inventory import build_rules, service
from inventory.demo.names import (
    DEPARTMENTS,
    EXEMPT_REASONS,
    GIVEN,
    ISPS,
    NATIONAL_VERTICALS,
    NETWORK_TYPES,
    RETIRE_REASONS,
    SECOND_LEVEL,
    SERVICE_VERBS,
    SOES,
    SURNAMES,
    SYSTEM_TYPES,
    TOWNSHIPS,
    VENDORS,
    DeptTemplate,
)
from inventory.enums import RegionLevel
from inventory.kinds import KINDS
from inventory.models import Region
from inventory.regions import seed_guangxi

DEMO_PREFIX = "DEMO-"
NAME_MARK = "【演示】"
DEFAULT_SEED = 20210101
# Rows per service call; also the unit of progress reports.
BATCH = 500
# Demo units the scoped demo tokens are bound to (Nanning's government; the region's 教育厅).
SUB_CLOUD_CHIEF_UNIT = "DEMO-450100"
# 南宁市大数据发展局: under 南宁市人民政府, so the demo's sub_cloud_chief gives its requests first-level approval.
DEPARTMENT_USER_UNIT = "DEMO-450100-D01"
CLOUD_CHIEF_OFFICE_UNIT = "DEMO-R01"
UNCOVERED_COUNTIES = (17, 58, 99)  # indexes into the sorted counties left without a node: 四级覆盖 gaps to show
# Down on purpose: these county nodes (1-based positions in the sorted counties) probe 127.255.255.255, the loopback
# broadcast address: the kernel refuses to send to it (no SO_BROADCAST), so ICMP and TCP both fail at once and no
# packet leaves the machine. Every other node probes its own 127.64.0.0/10 address by ICMP only (no service listens
# on a loopback address: a TCP port would be refused and read as "degraded").
DOWN_COUNTIES = (7, 42)
DOWN_ADDRESS = "127.255.255.255"
DOWN_NOTE = "（演示：故意离线 / demo: down on purpose）"

Progress = Callable[[str, int], None]


@dataclass
class DemoSummary:
    """What load_demo created: rows per kind, the seed and scale, and a digest of the inventory."""

    seed: int
    scale: float
    counts: dict[str, int] = field(default_factory=dict)
    digest: str = ""
    seconds: float = 0.0


@dataclass
class _Unit:
    id: int
    code: str
    level: RegionLevel
    region_id: int
    parent: _Unit | None
    template: DeptTemplate | None
    prefix: str  # place prefix for names of what it owns ("" at region level, "南宁市" in a city)
    rooms: list[int] = field(default_factory=list)
    classified_rooms: list[int] = field(default_factory=list)
    networks: list[int] = field(default_factory=list)
    exits: list[int] = field(default_factory=list)
    weight: float = 1.0

    def chain(self) -> Iterator[_Unit]:
        u: _Unit | None = self
        while u is not None:
            yield u
            u = u.parent


class _Loader:
    """Builds the demo inventory in dependency order; holds the ids it needs for later kinds."""

    def __init__(
        self, session: Session, ctx: ChangeContext, seed: int, scale: float, today: date, progress: Progress
    ) -> None:
        self.s = session
        self.ctx = ctx
        self.rng = random.Random(seed)
        self.scale = scale
        self.unit_scale = min(scale, 1.0)
        self.today = today
        self.progress = progress
        self.counts: dict[str, int] = {}
        self.regions: dict[str, int] = {}  # code → id
        self.region_names: dict[str, str] = {}
        self.units: list[_Unit] = []
        self.by_code: dict[str, _Unit] = {}
        self.gov_clouds: list[int] = []
        self.sub_clouds: list[int] = []
        self.nodes: dict[str, int] = {}  # region code → node id
        self.systems: list[int] = []
        self.zombies: list[int] = []
        self.retired: list[int] = []
        self.exemptable: list[int] = []

    # --- helpers ------------------------------------------------------------------------

    def n(self, base: float, floor: int = 1, units: bool = False) -> int:
        return max(floor, round(base * (self.unit_scale if units else self.scale)))

    def at(self, day: date) -> ChangeContext:
        return replace(self.ctx, at=datetime(day.year, day.month, day.day, 9, 0, tzinfo=UTC))

    def day_between(self, start: date, end: date) -> date:
        return start + timedelta(days=self.rng.randrange(max(1, (end - start).days)))

    def person(self) -> str:
        return self.rng.choice(SURNAMES) + "".join(self.rng.choice(GIVEN) for _ in range(self.rng.choice((1, 2))))

    def create(self, kind: str, rows: Sequence[dict[str, Any]], ctx: ChangeContext) -> list[int]:
        """Write rows through the service, batched when the service offers create_many."""
        ids: list[int] = []
        create_many = getattr(service, "create_many", None)
        for start in range(0, len(rows), BATCH):
            chunk = rows[start : start + BATCH]
            if create_many is not None:
                ids += list(create_many(self.s, kind, chunk, ctx))
            else:
                ids += [service.create(self.s, kind, row, ctx).id for row in chunk]  # type: ignore[attr-defined]
            self.counts[kind] = self.counts.get(kind, 0) + len(chunk)
            self.progress(kind, self.counts[kind])
        return ids

    # --- regions ------------------------------------------------------------------------

    def load_regions(self) -> None:
        survey = self.at(date(2021, 1, 4))
        self.counts["regions"] = seed_guangxi(self.s, survey)
        for code, rid, name in self.s.execute(select(Region.code, Region.id, Region.name)):
            self.regions[code] = rid
            self.region_names[code] = name
        counties = self.counties()
        want = self.n(3 * len(counties), floor=5, units=True)
        rows: list[dict[str, Any]] = []
        used: dict[str, set[str]] = {}
        for k in range(want):
            county = counties[k % len(counties)]
            taken = used.setdefault(county, set())
            name = self.rng.choice([t for t in TOWNSHIPS if t not in taken])
            taken.add(name)
            suffix = "乡" if self.rng.random() < 0.15 else "镇"
            code = f"{county}{len(taken):03d}"
            rows.append({"code": code, "name": name + suffix, "level": "township", "parent_id": self.regions[county]})
        ids = self.create("regions", rows, survey)
        for row, rid in zip(rows, ids, strict=True):
            self.regions[row["code"]] = rid
            self.region_names[row["code"]] = row["name"]

    def cities(self) -> list[str]:
        return sorted(c for c in self.regions if len(c) == 6 and c.endswith("00") and c != "450000")

    def counties(self) -> list[str]:
        return sorted(c for c in self.regions if len(c) == 6 and not c.endswith("00"))

    def townships(self) -> list[str]:
        return sorted(c for c in self.regions if len(c) == 9)

    # --- units --------------------------------------------------------------------------

    def unit_rows(
        self, specs: list[tuple[str, str, str, RegionLevel, str, str | None, DeptTemplate | None, str]]
    ) -> None:
        """specs: (code, name, kind, level, region code, parent code, template, name prefix)."""
        rows = []
        for code, name, kind, level, region, parent, _tpl, _pre in specs:
            title = _chief_title(name, kind)
            rows.append(
                {
                    "code": code,
                    "name": NAME_MARK + name,
                    "kind": kind,
                    "level": level,
                    "region_id": self.regions[region],
                    "parent_id": self.by_code[parent].id if parent else None,
                    "cloud_chief": self.person() if title else None,
                    "cloud_chief_title": title,
                    "is_sub_cloud_chief": kind == "government"
                    or (level == RegionLevel.REGION and kind == "department" and self.rng.random() < 0.85),
                }
            )
        ids = self.create("units", rows, self.at(date(2021, 1, 4)))
        for (code, _n, _k, level, region, parent, tpl, pre), uid in zip(specs, ids, strict=True):
            unit = _Unit(uid, code, level, self.regions[region], self.by_code[parent] if parent else None, tpl, pre)
            self.units.append(unit)
            self.by_code[code] = unit

    def load_units(self) -> None:
        depts = DEPARTMENTS[: self.n(len(DEPARTMENTS), floor=4, units=True)]
        region_specs: list[Any] = []
        for i, tpl in enumerate(depts, 1):
            region_specs.append(
                (f"DEMO-R{i:02d}", "自治区" + tpl.region, "department", RegionLevel.REGION, "450000", None, tpl, "")
            )
        self.unit_rows(region_specs)
        second: list[Any] = []
        soes: list[Any] = []
        for i, tpl in enumerate(depts, 1):
            for j, body in enumerate(self.rng.sample(SECOND_LEVEL, self.rng.randint(1, 3)), 1):
                second.append(
                    (
                        f"DEMO-R{i:02d}-{j:02d}",
                        f"自治区{tpl.region}{body}",
                        "second_level",
                        RegionLevel.REGION,
                        "450000",
                        f"DEMO-R{i:02d}",
                        tpl,
                        "",
                    )
                )
            if tpl.short == "国资":
                for k, soe in enumerate(SOES[: self.n(len(SOES), floor=2, units=True)], 1):
                    soes.append(
                        (f"DEMO-SOE{k:02d}", soe, "soe", RegionLevel.REGION, "450000", f"DEMO-R{i:02d}", None, "")
                    )
        self.unit_rows(second + soes)
        city_tpls = [t for t in depts if t.city]
        govs: list[Any] = []
        for city in self.cities():
            govs.append(
                (
                    f"DEMO-{city}",
                    f"{self.region_names[city]}人民政府",
                    "government",
                    RegionLevel.CITY,
                    city,
                    None,
                    None,
                    self.region_names[city],
                )
            )
        self.unit_rows(govs)
        city_depts: list[Any] = []
        for city in self.cities():
            cname = self.region_names[city]
            for i, tpl in enumerate(city_tpls[: self.n(15, floor=2, units=True)], 1):
                city_depts.append(
                    (
                        f"DEMO-{city}-D{i:02d}",
                        f"{cname}{tpl.city}",
                        "department",
                        RegionLevel.CITY,
                        city,
                        f"DEMO-{city}",
                        tpl,
                        cname,
                    )
                )
        self.unit_rows(city_depts)
        county_govs: list[Any] = []
        county_depts: list[Any] = []
        per_county = self.n(3, floor=0, units=True)
        for county in self.counties():
            kname = self.region_names[county]
            city = county[:4] + "00"
            county_govs.append(
                (
                    f"DEMO-{county}",
                    f"{kname}人民政府",
                    "government",
                    RegionLevel.COUNTY,
                    county,
                    f"DEMO-{city}",
                    None,
                    kname,
                )
            )
            for i, tpl in enumerate(city_tpls[1 : 1 + per_county], 1):
                county_depts.append(
                    (
                        f"DEMO-{county}-D{i:02d}",
                        f"{kname}{tpl.city}",
                        "department",
                        RegionLevel.COUNTY,
                        county,
                        f"DEMO-{county}",
                        tpl,
                        kname,
                    )
                )
        self.unit_rows(county_govs)
        self.unit_rows(county_depts)
        for u in self.units:
            u.weight = {RegionLevel.REGION: 6.0, RegionLevel.CITY: 2.5, RegionLevel.COUNTY: 0.6}.get(u.level, 1.0)
            if u.code == DEPARTMENT_USER_UNIT:  # the demo's department user has systems to request for
                u.weight = 6.0

    # --- rooms, clouds, exits, networks ---------------------------------------------------

    def load_rooms(self) -> None:
        rows: list[dict[str, Any]] = []
        owners: list[tuple[_Unit, bool]] = []
        k = 0
        for u in self.units:
            must = u.code in (CLOUD_CHIEF_OFFICE_UNIT,) or (u.level == RegionLevel.CITY and u.parent is None)
            chance = {RegionLevel.REGION: 0.7, RegionLevel.CITY: 0.3, RegionLevel.COUNTY: 0.1}[u.level]
            count = (
                1
                if must
                else sum(self.rng.random() < chance * self.scale / (i + 1) for i in range(3 if self.scale > 1 else 1))
            )
            for _ in range(count):
                k += 1
                classified = not must and u.level != RegionLevel.COUNTY and self.rng.random() < 0.12
                big = must or self.rng.random() < 0.15
                who = (u.template.short if u.template else "") or u.prefix
                name = f"{u.prefix}{who}{'数据中心' if big else '机房'}" + ("（涉密）" if classified else "")
                if must and u.level == RegionLevel.CITY:
                    name = f"{u.prefix}电子政务数据中心"
                rows.append(
                    {
                        "code": f"DEMO-ROOM{k:05d}",
                        "name": name,
                        "owner_unit_id": u.id,
                        "region_id": u.region_id,
                        "classified": classified,
                        "is_data_centre": big,
                        "racks": self.rng.randint(20, 120) if big else self.rng.randint(2, 15),
                        "status": "active"
                        if must or classified
                        else _pick(self.rng, {"active": 0.6, "consolidating": 0.25, "closed": 0.15}),
                    }
                )
                owners.append((u, classified))
        self.allow_new("rooms", rows, date(2021, 2, 1))
        ids = self.create("rooms", rows, self.at(date(2021, 2, 1)))
        for (u, classified), rid in zip(owners, ids, strict=True):
            (u.classified_rooms if classified else u.rooms).append(rid)

    def load_clouds(self) -> None:
        office = self.by_code[CLOUD_CHIEF_OFFICE_UNIT]
        gov = [
            ("DEMO-GOV-NN", "壮美广西·政务云（南宁核心）", "450100", "南宁核心", "gov-nanning"),
            ("DEMO-GOV-GL", "壮美广西·政务云（桂林灾备）", "450300", "桂林灾备", "gov-guilin"),
            ("DEMO-GOV-WZ", "壮美广西·政务云（梧州灾备）", "450400", "梧州灾备", "gov-wuzhou"),
        ]
        rows: list[dict[str, Any]] = [
            {
                "code": code,
                "name": name,
                "kind": "gov_cloud",
                "owner_unit_id": office.id,
                "region_id": self.regions[region],
                "site": site,
                "clouds_yaml_name": yaml,
                "on_gov_cloud": True,
                "managed": True,
            }
            for code, name, region, site, yaml in gov
        ]
        subs: list[tuple[str, str, str, bool, bool, _Unit | None]] = []
        for city in self.cities()[:4]:
            subs.append(
                (
                    f"DEMO-SUB-{city}",
                    f"{self.region_names[city]}政务子云",
                    "sub_cloud",
                    True,
                    True,
                    self.by_code.get(f"DEMO-{city}"),
                )
            )
        for short, name, kind, on_gov, managed in (
            ("公安", "公安云", "sub_cloud", False, True),
            ("教育", "教育行业云", "industry_cloud", False, True),
            ("卫健", "全民健康行业云", "industry_cloud", True, True),
            ("交通", "交通运输行业云", "industry_cloud", False, False),
        ):
            owner = next(
                (
                    u
                    for u in self.units
                    if u.level == RegionLevel.REGION and u.parent is None and u.template and u.template.short == short
                ),
                None,
            )
            if owner is not None:
                subs.append((f"DEMO-IND-{owner.code[5:]}", "广西" + name, kind, on_gov, managed, owner))
        for code, name, kind, on_gov, managed, owner in subs:
            rows.append(
                {
                    "code": code,
                    "name": name,
                    "kind": kind,
                    "owner_unit_id": owner.id if owner else None,
                    "region_id": owner.region_id if owner else self.regions["450000"],
                    "site": None,
                    "clouds_yaml_name": None,
                    "on_gov_cloud": on_gov,
                    "managed": managed,
                }
            )
        self.allow_new("clouds", rows, date(2021, 1, 4))
        ids = self.create("clouds", rows, self.at(date(2021, 1, 4)))
        self.gov_clouds = ids[: len(gov)]
        self.sub_clouds = ids[len(gov) :]

    def load_exits(self) -> None:
        rows: list[dict[str, Any]] = []
        owners: list[_Unit] = []
        for u in self.units:
            chance = {RegionLevel.REGION: 0.5, RegionLevel.CITY: 0.35, RegionLevel.COUNTY: 0.2}[u.level] * self.scale
            while chance > 0 and self.rng.random() < min(chance, 0.95):
                chance -= 1
                isp = self.rng.choice(ISPS)
                rows.append(
                    {
                        "code": f"DEMO-EXIT{len(rows) + 1:05d}",
                        "name": f"{u.prefix}{(u.template.short if u.template else '')}{isp}互联网出口",
                        "owner_unit_id": u.id,
                        "region_id": u.region_id,
                        "isp": isp,
                        "bandwidth_mbps": self.rng.choice((50, 100, 200, 500, 1000)),
                        "status": _pick(self.rng, {"active": 0.55, "consolidated": 0.35, "closed": 0.10}),
                    }
                )
                owners.append(u)
        self.allow_new("internet_exits", rows, date(2021, 2, 1))
        ids = self.create("internet_exits", rows, self.at(date(2021, 2, 1)))
        for u, eid in zip(owners, ids, strict=True):
            u.exits.append(eid)

    def load_networks(self) -> None:
        rows: list[dict[str, Any]] = []
        owners: list[_Unit] = []
        # Departments own dedicated networks (region departments, city and county bureaus), not their sub-bodies.
        depts = [
            u for u in self.units if u.template is not None and (u.parent is None or u.level != RegionLevel.REGION)
        ]
        for u in depts:
            base = {RegionLevel.REGION: 2.2, RegionLevel.CITY: 0.45, RegionLevel.COUNTY: 0.1}[u.level] * self.scale
            count = int(base) + (self.rng.random() < base - int(base))
            for _ in range(count):
                classified = self.rng.random() < 0.1
                status = (
                    _pick(self.rng, {"not_started": 0.7, "in_progress": 0.0, "retired": 0.3})
                    if classified
                    else _pick(
                        self.rng,
                        {
                            "not_started": 0.15,
                            "in_progress": 0.15,
                            "interconnected": 0.35,
                            "migrated": 0.3,
                            "retired": 0.05,
                        },
                    )
                )
                assert u.template is not None
                rows.append(
                    {
                        "code": f"DEMO-NET{len(rows) + 1:05d}",
                        "name": f"{u.prefix}{u.template.short}{self.rng.choice(NETWORK_TYPES)}"
                        + ("（涉密）" if classified else ""),
                        "owner_unit_id": u.id,
                        "level": u.level,
                        "classified": classified,
                        "status": status,
                    }
                )
                owners.append(u)
        self.allow_new("networks", rows, date(2021, 3, 1))
        ids = self._dated("networks", rows, date(2021, 3, 1))
        for u, nid in zip(owners, ids, strict=True):
            u.networks.append(nid)

    def allow_new(self, kind: str, rows: list[dict[str, Any]], day: date) -> None:
        """The office's 准予新建 determinations the demo's non-classified rooms, networks, exits and clouds need."""
        subject = build_rules.GUARDED[kind][0].value
        dets = [
            {
                "code": f"DEMO-NEW-{r['code'][5:]}",
                "subject_kind": subject,
                "subject_id": None,
                "new_object_code": r["code"],
                "decision": "allow_new",
                "reason": "演示：经技术认定准予建设（存量登记）",
                "decided_by": "自治区大数据发展局（云长制办公室）",
                "decided_on": day.isoformat(),
                "active": True,
            }
            for r in rows
            if not r.get("classified")
        ]
        self.create("determinations", dets, self.at(day))

    def _dated(self, kind: str, rows: list[dict[str, Any]], start: date) -> list[int]:
        """Create rows grouped by a random month between start and today; the change log is back-dated to it."""
        months = _months(start, self.today)
        stamped = sorted((self.rng.randrange(len(months)), i) for i in range(len(rows)))
        ids: dict[int, int] = {}
        for month_index in sorted({m for m, _ in stamped}):
            idx = [i for m, i in stamped if m == month_index]
            for i, oid in zip(
                idx, self.create(kind, [rows[i] for i in idx], self.at(months[month_index])), strict=True
            ):
                ids[i] = oid
        return [ids[i] for i in range(len(rows))]

    # --- systems ------------------------------------------------------------------------

    def system_row(self, k: int, u: _Unit) -> tuple[dict[str, Any], str]:
        rng = self.rng
        tpl = u.template or next((p.template for p in u.chain() if p.template), None)
        topic = rng.choice(tpl.topics) if tpl else rng.choice(("政务服务", "协同办公", "信息公开", "综合治理"))
        name = f"{u.prefix}{topic}{rng.choice(SYSTEM_TYPES)}" + (
            rng.choice(("（二期）", "（升级版）", "")) if rng.random() < 0.2 else ""
        )
        classified_rooms = [r for p in u.chain() for r in p.classified_rooms]
        classified = bool(classified_rooms) and rng.random() < 0.2
        rooms = [r for p in u.chain() for r in p.rooms] or self.by_code[CLOUD_CHIEF_OFFICE_UNIT].rooms
        row: dict[str, Any] = {
            "code": f"DEMO-SYS{k:06d}",
            "name": name,
            "owner_unit_id": u.id,
            "classified": classified,
        }
        kind = "normal"
        if classified:
            row.update(
                hosting="room",
                room_id=rng.choice(classified_rooms),
                status=_pick(rng, {"not_migrated": 0.9, "retired": 0.1}),
            )
        else:
            status = _pick(rng, {"migrated": 0.72, "in_progress": 0.1, "not_migrated": 0.13, "retired": 0.05})
            row["status"] = status
            if status == "migrated":
                if rng.random() < 0.85 or not self.sub_clouds:
                    row.update(hosting="gov_cloud", cloud_id=rng.choice(self.gov_clouds[:1] * 6 + self.gov_clouds))
                else:
                    row.update(hosting="sub_cloud", cloud_id=rng.choice(self.sub_clouds))
            elif status == "not_migrated" and rng.random() < 0.1:
                row.update(hosting="other")
            else:
                row.update(hosting="room", room_id=rng.choice(rooms))
            if status == "retired" or (status == "not_migrated" and rng.random() < 0.3):
                kind = "zombie"
            elif status in ("not_migrated", "in_progress") and rng.random() < 0.25:
                kind = "exemptable"
        big = rng.random() < 0.1
        row.update(
            vcpus=rng.choice((2, 4, 8, 16, 32, 64) if big else (2, 4, 4, 8, 8, 16)),
            memory_gb=float(rng.choice((4, 8, 16, 32, 64, 128) if big else (4, 8, 8, 16, 32))),
            storage_gb=float(rng.choice((100, 200, 500, 1000, 2000, 5000))),
        )
        if kind == "zombie":
            last = self.day_between(date(2018, 1, 1), self.today - timedelta(days=700))
            row.update(
                users_count=rng.choice((0, 0, 0, 1, 2)),
                monthly_visits=rng.choice((0, 0, 1, 3)),
                last_access_at=last.isoformat(),
                last_maintenance_at=self.day_between(date(2017, 1, 1), last).isoformat(),
                business_active=rng.random() < 0.3,
            )
            if self.systems and rng.random() < 0.4:
                row["replaced_by_id"] = rng.choice(self.systems)
        else:
            users = int(rng.lognormvariate(5, 1.6)) + 3
            row.update(
                users_count=users,
                monthly_visits=users * rng.randint(2, 60),
                last_access_at=self.day_between(self.today - timedelta(days=30), self.today).isoformat(),
                last_maintenance_at=self.day_between(self.today - timedelta(days=400), self.today).isoformat(),
                business_active=True,
            )
        if self.systems and rng.random() < 0.35:
            row["depends_on_ids"] = sorted(
                set(rng.sample(self.systems[-2000:], min(len(self.systems), rng.randint(1, 3))))
            )
        nets = [n for p in u.chain() for n in p.networks]
        if nets and rng.random() < 0.3:
            row["network_ids"] = [rng.choice(nets)]
        if row.get("room_id") and rng.random() < 0.3:
            row["room_ids"] = [row["room_id"]]
        exits = [e for p in u.chain() for e in p.exits]
        if exits and not classified and rng.random() < 0.25:
            row["exit_ids"] = [rng.choice(exits)]
        return row, kind

    def load_systems(self) -> None:
        total = self.n(3000)
        owners = self.rng.choices(self.units, weights=[u.weight for u in self.units], k=total)
        months = _months(date(2021, 1, 1), self.today)
        # Registration months, oldest first: dependencies and replacements only point at older systems.
        when = sorted(self.rng.randrange(len(months)) for _ in range(total))
        k = 0
        while k < total:
            month = when[k]
            rows: list[dict[str, Any]] = []
            kinds: list[str] = []
            while k < total and when[k] == month and len(rows) < BATCH:
                row, kind = self.system_row(k + 1, owners[k])
                rows.append(row)
                kinds.append(kind)
                k += 1
            ids = self.create("systems", rows, self.at(months[month]))
            self.systems += ids
            for kind, row, sid in zip(kinds, rows, ids, strict=True):
                if kind == "zombie":
                    (self.retired if row["status"] == "retired" else self.zombies).append(sid)
                elif kind == "exemptable":
                    self.exemptable.append(sid)

    # --- vertical systems and service items ---------------------------------------------------

    def load_verticals(self) -> None:
        rows: list[dict[str, Any]] = []
        region_depts = [u for u in self.units if u.level == RegionLevel.REGION and u.parent is None and u.template]
        for name, owner_short in NATIONAL_VERTICALS:
            owner = next((u for u in region_depts if u.template and u.template.region == owner_short), None)
            if owner is not None:
                rows.append(self._vertical(len(rows) + 1, name, "national", owner))
        for u in region_depts:
            for _ in range(self.rng.choice((0, 1, 1, 2))):
                assert u.template is not None
                rows.append(
                    self._vertical(
                        len(rows) + 1,
                        f"广西{self.rng.choice(u.template.topics)}{self.rng.choice(SYSTEM_TYPES)}",
                        "region",
                        u,
                    )
                )
        city_depts = [u for u in self.units if u.level == RegionLevel.CITY and u.template]
        for u in self.rng.sample(city_depts, min(len(city_depts), self.n(42, floor=3, units=True))):
            assert u.template is not None
            rows.append(
                self._vertical(
                    len(rows) + 1,
                    f"{u.prefix}{self.rng.choice(u.template.topics)}{self.rng.choice(SYSTEM_TYPES)}",
                    "city",
                    u,
                )
            )
        ids = self.create("vertical_systems", rows, self.at(date(2021, 6, 1)))
        items: list[dict[str, Any]] = []
        for vid, row in zip(ids, rows, strict=True):
            base = row["name"].removeprefix("广西")[:6]
            for j in range(self.n(self.rng.randint(3, 12))):
                status = _pick(self.rng, {"docked": 0.65, "in_progress": 0.15, "not_docked": 0.2})
                items.append(
                    {
                        "code": f"{row['code']}-{j + 1:03d}",
                        "name": f"{base}{self.rng.choice(SERVICE_VERBS)}",
                        "vertical_system_id": vid,
                        "docking_status": status,
                        "docked_at": self.day_between(date(2021, 6, 1), self.today).isoformat()
                        if status == "docked"
                        else None,
                    }
                )
        self.create("service_items", items, self.at(date(2021, 6, 1)))

    def _vertical(self, k: int, name: str, scope: str, owner: _Unit) -> dict[str, Any]:
        return {
            "code": f"DEMO-VS{k:04d}",
            "name": name,
            "scope": scope,
            "owner_unit_id": owner.id,
            "region_id": owner.region_id,
            "classified": self.rng.random() < 0.05,
        }

    # --- extranet -------------------------------------------------------------------------

    def load_extranet(self) -> None:
        survey = self.at(date(2021, 1, 4))
        region = {
            "code": "DEMO-EN-450000",
            "name": "自治区电子政务外网核心节点",
            "level": "region",
            "region_id": self.regions["450000"],
            "parent_id": None,
            "address": "127.64.0.1",
            "tcp_ports": None,
        }
        rows: list[dict[str, Any]]
        self.nodes["450000"] = self.create("extranet_nodes", [region], survey)[0]
        rows = [
            {
                "code": f"DEMO-EN-{c}",
                "name": f"{self.region_names[c]}电子政务外网节点",
                "level": "city",
                "region_id": self.regions[c],
                "parent_id": self.nodes["450000"],
                "address": f"127.64.{i}.1",
                "tcp_ports": None,
            }
            for i, c in enumerate(self.cities(), 1)
        ]
        for row, nid in zip(rows, self.create("extranet_nodes", rows, survey), strict=True):
            self.nodes[row["code"][8:]] = nid
        rows = [
            {
                "code": f"DEMO-EN-{c}",
                "name": f"{self.region_names[c]}电子政务外网节点" + (DOWN_NOTE if j in DOWN_COUNTIES else ""),
                "level": "county",
                "region_id": self.regions[c],
                "parent_id": self.nodes[c[:4] + "00"],
                "address": DOWN_ADDRESS if j in DOWN_COUNTIES else f"127.65.{j}.1",
                "tcp_ports": "22" if j in DOWN_COUNTIES else None,
            }
            for j, c in enumerate(self.counties(), 1)
            if j - 1 not in UNCOVERED_COUNTIES
        ]
        for row, nid in zip(rows, self.create("extranet_nodes", rows, survey), strict=True):
            self.nodes[row["code"][8:]] = nid
        towns = [t for t in self.townships() if self.rng.random() < 0.4] or self.townships()[:1]
        rows = [
            {
                "code": f"DEMO-EN-{t}",
                "name": f"{self.region_names[t[:6]]}{self.region_names[t]}外网接入点",
                "level": "township",
                "region_id": self.regions[t],
                "parent_id": self.nodes.get(t[:6], self.nodes[t[:4] + "00"]),
                "address": f"127.{66 + k // 250}.{k % 250}.1",
                "tcp_ports": None,
            }
            for k, t in enumerate(towns)
        ]
        for row, nid in zip(rows, self._dated("extranet_nodes", rows, date(2021, 6, 1)), strict=True):
            self.nodes[row["code"][8:]] = nid
        self.load_devices()
        self.load_access()

    def load_devices(self) -> None:
        from inventory.models import ExtranetNode

        rows: list[dict[str, Any]] = []
        per_level = {RegionLevel.REGION: 4, RegionLevel.CITY: 3, RegionLevel.COUNTY: 2, RegionLevel.TOWNSHIP: 1}
        role_names = ("核心路由器", "汇聚交换机", "接入交换机", "防火墙")
        nodes = self.s.execute(
            select(ExtranetNode.id, ExtranetNode.code, ExtranetNode.level, ExtranetNode.address)
            .where(ExtranetNode.code.startswith(DEMO_PREFIX))
            .order_by(ExtranetNode.id)
        ).all()
        for node_id, code, level, address in nodes:
            base = (self.down_base(code) if address == DOWN_ADDRESS else address or "127.64.0.1").rsplit(".", 1)[0]
            for d in range(per_level[level] if self.scale >= 0.5 else 1):
                vendor, device_type = _vendor(self.rng)
                rows.append(
                    {
                        "code": f"{code}-D{d + 1}",
                        "name": f"{code[8:]}-{role_names[d]}",
                        "node_id": node_id,
                        "vendor": vendor,
                        "device_type": device_type,
                        "mgmt_address": f"{base}.{11 + d}",
                        "ssh_port": 22,
                        "credential_ref": f"demo-extranet-{level.value}",
                    }
                )
        self.create("devices", rows, self.at(date(2021, 1, 4)))

    def down_base(self, code: str) -> str:
        """The planned 127.65.j.1 address of a county node that is down on purpose (its devices keep their /24)."""
        return f"127.65.{self.counties().index(code[8:]) + 1}.1"

    def load_access(self) -> None:
        rows: list[dict[str, Any]] = []
        code_of = {rid: code for code, rid in self.regions.items()}
        for u in self.units:
            node = self.nodes.get(code_of[u.region_id])
            if node is None:
                continue
            status = _pick(self.rng, {"connected": 0.84, "planned": 0.1, "disconnected": 0.06})
            rows.append(
                {
                    "code": f"DEMO-NA-{u.code[5:]}",
                    "unit_id": u.id,
                    "node_id": node,
                    "status": status,
                    "bandwidth_mbps": self.rng.choice((10, 20, 50, 100, 1000)),
                    "connected_on": self.day_between(date(2019, 1, 1), self.today).isoformat()
                    if status != "planned"
                    else None,
                }
            )
        self._dated("node_access", rows, date(2021, 1, 4))

    # --- determinations -------------------------------------------------------------------

    def load_determinations(self) -> None:
        rows: list[dict[str, Any]] = []
        office = "自治区大数据发展局（云长制办公室）"

        def add(kind: str, sid: int, decision: str, reason: str | None) -> None:
            decided = self.day_between(date(2022, 1, 1), self.today)
            rows.append(
                {
                    "code": f"DEMO-DET{len(rows) + 1:05d}",
                    "subject_kind": kind,
                    "subject_id": sid,
                    "decision": decision,
                    "reason": reason,
                    "decided_by": office,
                    "decided_on": decided.isoformat(),
                    "review_on": (decided + timedelta(days=365)).isoformat(),
                    "active": True,
                }
            )

        for sid in self.retired:
            add("system", sid, "retire", self.rng.choice(RETIRE_REASONS))
        for sid in self.zombies:
            if self.rng.random() < 0.4:
                add("system", sid, "retire", self.rng.choice(RETIRE_REASONS))
        for sid in self.exemptable:
            if self.rng.random() < 0.4:
                add("system", sid, "exempt", self.rng.choice(EXEMPT_REASONS))
            elif self.rng.random() < 0.3:
                add("system", sid, "must_migrate", "经技术认定须于年内迁移上云")
        for u in self.units:
            for nid in u.networks:
                if self.rng.random() < 0.06:
                    add("network", nid, "exempt", "国家部委统一建设的纵向专网，有特殊规定暂不打通")
            for rid in u.rooms:
                if self.rng.random() < 0.05:
                    add("room", rid, "keep", "作为灾备机房保留")
        self._dated("determinations", rows, date(2022, 1, 1))
        decided = {r["subject_id"] for r in rows if r["subject_kind"] == "system"}
        self.load_superseding(office, [sid for sid in self.exemptable if sid not in decided])

    def load_superseding(self, office: str, candidates: list[int]) -> None:
        """回头看: some exemptions are overturned by a later "must migrate" (the earlier one stays as history)."""
        picked = [sid for sid in candidates if self.rng.random() < 0.05] or candidates[:1]
        for n, sid in enumerate(picked, 1):
            first = self.day_between(date(2022, 1, 1), date(2023, 6, 30))
            later = self.day_between(first + timedelta(days=90), max(first + timedelta(days=91), self.today))
            for suffix, day, decision, reason in (
                ("A", first, "exempt", "有特殊规定，暂缓迁移"),
                ("B", later, "must_migrate", "回头看：豁免理由已不成立，须迁移上云"),
            ):
                row = {
                    "code": f"DEMO-DETS{n:04d}{suffix}",
                    "subject_kind": "system",
                    "subject_id": sid,
                    "decision": decision,
                    "reason": reason,
                    "decided_by": office,
                    "decided_on": day.isoformat(),
                    "review_on": (day + timedelta(days=365)).isoformat(),
                    "active": True,
                }
                self.create("determinations", [row], self.at(day))


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _vendor(rng: random.Random) -> tuple[str, str]:
    vendor, device_type, _ = rng.choices(VENDORS, weights=[v[2] for v in VENDORS])[0]
    return vendor, device_type


def _months(start: date, end: date) -> list[date]:
    out, cur = [], date(start.year, start.month, 1)
    while cur <= end:
        out.append(cur)
        cur = date(cur.year + cur.month // 12, cur.month % 12 + 1, 1)
    return out or [date(start.year, start.month, 1)]


def _chief_title(name: str, kind: str) -> str | None:
    if kind == "soe":
        return "董事长"
    if kind == "second_level":
        return "主任" if name.endswith("中心") else "总队长" if name.endswith("总队") else None
    if kind == "government":
        return "市长" if name.endswith("市人民政府") and len(name) <= 8 else "区长" if "区人民政府" in name else "县长"
    for suffix, title in (("办公厅", "秘书长"), ("厅", "厅长"), ("委员会", "主任"), ("局", "局长"), ("办公室", "主任")):
        if name.endswith(suffix):
            return title
    return "主任"


def load_demo(
    session: Session,
    ctx: ChangeContext,
    scale: float = 1.0,
    progress: Progress | None = None,
    seed: int = DEFAULT_SEED,
    today: date | None = None,
) -> DemoSummary:
    """Load the demo inventory into an empty database (the caller commits); `scale` multiplies systems and the like."""
    if scale <= 0:
        raise ValueError("scale must be positive")
    started = datetime.now(UTC)
    loader = _Loader(session, ctx, seed, scale, today or date.today(), progress or (lambda _k, _n: None))
    loader.load_regions()
    loader.load_units()
    loader.load_rooms()
    loader.load_clouds()
    loader.load_exits()
    loader.load_networks()
    loader.load_systems()
    loader.load_verticals()
    loader.load_extranet()
    loader.load_determinations()
    session.flush()
    return DemoSummary(
        seed=seed,
        scale=scale,
        counts=dict(loader.counts),
        digest=inventory_digest(session),
        seconds=(datetime.now(UTC) - started).total_seconds(),
    )


def inventory_digest(session: Session) -> str:
    """SHA-256 over every kind's codes (sorted), so two inventories can be compared in one string."""
    h = hashlib.sha256()
    for name, spec in KINDS.items():
        model: Any = spec.model
        h.update(name.encode())
        for code in session.scalars(select(model.code).order_by(model.code)):
            h.update(b"\0" + code.encode())
    return h.hexdigest()
