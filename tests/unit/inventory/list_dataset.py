"""A small hand-built inventory with every kind and every column set, for the list-query tests.

`build(session)` writes it through inventory.service (created at T0, then changed at T2) and returns
the expected rows: kind → list of {field: typed value} as they are live and as they were at T1.
Fields a row leaves out take the column's default (or None), so a new column is covered at once.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import Enum
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import Session

from core.audit import ChangeContext
from core.times import BEIJING
from inventory import build_rules, service
from inventory.enums import Decision
from inventory.kinds import KINDS
from inventory.models import Determination

T0 = datetime(2024, 3, 1, 10, 0, tzinfo=BEIJING)  # the dataset is created
T1 = "2024-04-01T00:00:00"  # as_of (no offset: Beijing time) — sees the T0 state only
T2 = datetime(2024, 6, 1, 10, 0, tzinfo=BEIJING)  # later changes, invisible at T1

Rows = dict[str, list[dict[str, Any]]]


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _rows(ref: dict[str, int]) -> dict[str, list[dict[str, Any]]]:
    """kind → rows, in creation order; `ref` resolves names of rows created earlier to ids."""
    r = ref
    return {
        "regions": [
            {"code": "450000", "name": "广西Zone", "level": "region", "parent_id": None},
            {"code": "450100", "name": "南宁city", "level": "city", "parent_id": r["regions0"]},
            {"code": "450102", "name": "兴宁Area", "level": "county", "parent_id": r["regions1"]},
        ],
        "units": [
            {
                "code": "U-Alpha",
                "name": "Alpha单位",
                "kind": "department",
                "level": "region",
                "parent_id": None,
                "region_id": r["regions0"],
                "cloud_chief": "张三",
                "cloud_chief_title": "厅长",
                "is_sub_cloud_chief": True,
            },
            {
                "code": "U-beta",
                "name": "beta单位",
                "kind": "government",
                "level": "city",
                "parent_id": r["units0"],
                "region_id": r["regions1"],
                "cloud_chief": None,
                "cloud_chief_title": "局长",
                "is_sub_cloud_chief": False,
            },
            {
                "code": "U-Gamma",
                "name": "Gamma中心",
                "kind": "second_level",
                "level": "county",
                "parent_id": r["units1"],
                "region_id": r["regions2"],
                "cloud_chief": "李四",
                "cloud_chief_title": None,
                "is_sub_cloud_chief": False,
            },
        ],
        "rooms": [
            {
                "code": "RM-a",
                "name": "一号Room",
                "owner_unit_id": r["units0"],
                "region_id": r["regions0"],
                "classified": False,
                "is_data_centre": True,
                "racks": 40,
                "status": "active",
                "status_changed_at": _t("2022-01-01T09:00:00+08:00"),
            },
            {
                "code": "RM-B",
                "name": "二号room",
                "owner_unit_id": r["units1"],
                "region_id": r["regions1"],
                "classified": True,
                "is_data_centre": False,
                "racks": None,
                "status": "consolidating",
                "status_changed_at": None,
            },
            {
                "code": "RM-c",
                "name": "三号",
                "owner_unit_id": r["units2"],
                "region_id": r["regions2"],
                "classified": False,
                "is_data_centre": False,
                "racks": 3,
                "status": "closed",
                "status_changed_at": _t("2023-05-05T23:00:00+08:00"),
            },
        ],
        "clouds": [
            {
                "code": "C-Gov",
                "name": "政务云Nanning",
                "kind": "gov_cloud",
                "owner_unit_id": None,
                "region_id": r["regions0"],
                "site": "南宁核心",
                "clouds_yaml_name": "gov-nanning",
                "on_gov_cloud": True,
                "managed": True,
            },
            {
                "code": "C-sub",
                "name": "子云",
                "kind": "sub_cloud",
                "owner_unit_id": r["units1"],
                "region_id": r["regions1"],
                "site": None,
                "clouds_yaml_name": None,
                "on_gov_cloud": False,
                "managed": True,
            },
            {
                "code": "C-Ind",
                "name": "行业云Edu",
                "kind": "industry_cloud",
                "owner_unit_id": r["units0"],
                "region_id": r["regions0"],
                "site": "桂林",
                "clouds_yaml_name": "edu",
                "on_gov_cloud": False,
                "managed": False,
            },
        ],
        "internet_exits": [
            {
                "code": "EX-1",
                "name": "电信Exit",
                "owner_unit_id": r["units0"],
                "region_id": r["regions0"],
                "isp": "China Telecom",
                "bandwidth_mbps": 1000,
                "status": "active",
                "status_changed_at": None,
            },
            {
                "code": "EX-2",
                "name": "联通出口",
                "owner_unit_id": r["units1"],
                "region_id": r["regions1"],
                "isp": None,
                "bandwidth_mbps": 100,
                "status": "consolidated",
                "status_changed_at": _t("2023-12-31T16:00:00+00:00"),
            },
            {
                "code": "EX-3",
                "name": "移动exit",
                "owner_unit_id": r["units2"],
                "region_id": r["regions2"],
                "isp": "China Mobile",
                "bandwidth_mbps": None,
                "status": "closed",
                "status_changed_at": _t("2021-07-01T00:00:00+08:00"),
            },
        ],
        "networks": [
            {
                "code": "NET-1",
                "name": "社保Net",
                "owner_unit_id": r["units0"],
                "level": "region",
                "classified": False,
                "status": "interconnected",
                "status_changed_at": _t("2023-12-31T23:30:00+08:00"),
            },
            {
                "code": "NET-2",
                "name": "公安专网",
                "owner_unit_id": r["units1"],
                "level": "city",
                "classified": True,
                "status": "not_started",
                "status_changed_at": None,
            },
            {
                "code": "NET-3",
                "name": "税务net",
                "owner_unit_id": r["units2"],
                "level": "county",
                "classified": False,
                "status": "in_progress",
                "status_changed_at": _t("2024-01-01T07:59:59+08:00"),  # 2023-12-31 in UTC
            },
        ],
        "systems": [
            {
                "code": "SYS-1",
                "name": "OA系统",
                "owner_unit_id": r["units0"],
                "classified": False,
                "hosting": "gov_cloud",
                "room_id": None,
                "cloud_id": r["clouds0"],
                "status": "migrated",
                "status_changed_at": _t("2023-06-30T12:00:00+08:00"),
                "vcpus": 8,
                "memory_gb": 16.5,
                "storage_gb": 500.0,
                "users_count": 1200,
                "monthly_visits": 30000,
                "last_access_at": date(2024, 2, 1),
                "last_maintenance_at": date(2023, 12, 31),
                "replaced_by_id": None,
                "business_active": True,
            },
            {
                "code": "SYS-2",
                "name": "涉密Oa",
                "owner_unit_id": r["units1"],
                "classified": True,
                "hosting": "room",
                "room_id": r["rooms1"],
                "cloud_id": None,
                "status": "not_migrated",
                "status_changed_at": None,
                "vcpus": 2,
                "memory_gb": 4.0,
                "storage_gb": None,
                "users_count": None,
                "monthly_visits": 0,
                "last_access_at": None,
                "last_maintenance_at": date(2022, 5, 4),
                "replaced_by_id": None,
                "business_active": False,
            },
            {
                "code": "SYS-3",
                "name": "审批平台",
                "owner_unit_id": r["units2"],
                "classified": False,
                "hosting": "sub_cloud",
                "room_id": r["rooms2"],
                "cloud_id": r["clouds1"],
                "status": "in_progress",
                "status_changed_at": _t("2024-02-29T08:00:00+00:00"),
                "vcpus": None,
                "memory_gb": 64.25,
                "storage_gb": 20.0,
                "users_count": 15,
                "monthly_visits": None,
                "last_access_at": date(2024, 2, 29),
                "last_maintenance_at": None,
                "replaced_by_id": r["systems0"],
                "business_active": True,
            },
        ],
        "vertical_systems": [
            {
                "code": "V-1",
                "name": "区垂Tax",
                "scope": "region",
                "owner_unit_id": r["units0"],
                "region_id": r["regions0"],
                "classified": False,
            },
            {
                "code": "V-2",
                "name": "市垂",
                "scope": "city",
                "owner_unit_id": r["units1"],
                "region_id": r["regions1"],
                "classified": True,
            },
            {
                "code": "V-3",
                "name": "国垂system",
                "scope": "national",
                "owner_unit_id": r["units0"],
                "region_id": r["regions0"],
                "classified": False,
            },
        ],
        "service_items": [
            {
                "code": "SI-1",
                "name": "事项One",
                "vertical_system_id": r["vertical_systems0"],
                "docking_status": "docked",
                "docked_at": date(2023, 11, 30),
            },
            {
                "code": "SI-2",
                "name": "事项二",
                "vertical_system_id": r["vertical_systems1"],
                "docking_status": "not_docked",
                "docked_at": None,
            },
            {
                "code": "SI-3",
                "name": "事项three",
                "vertical_system_id": r["vertical_systems0"],
                "docking_status": "in_progress",
                "docked_at": date(2024, 1, 2),
            },
        ],
        "extranet_nodes": [
            {
                "code": "N-R",
                "name": "自治区Node",
                "level": "region",
                "region_id": r["regions0"],
                "parent_id": None,
                "address": "127.64.0.1",
                "tcp_ports": "22,443",
                "state": "up",
                "state_since": _t("2024-01-01T00:00:00+08:00"),
            },
            {
                "code": "N-C",
                "name": "南宁节点",
                "level": "city",
                "region_id": r["regions1"],
                "parent_id": r["extranet_nodes0"],
                "address": None,
                "tcp_ports": None,
                "state": "down",
                "state_since": None,
            },
            {
                "code": "N-K",
                "name": "兴宁node",
                "level": "county",
                "region_id": r["regions2"],
                "parent_id": r["extranet_nodes1"],
                "address": "127.65.1.1",
                "tcp_ports": "443",
                "state": "degraded",
                "state_since": _t("2024-02-10T12:00:00+08:00"),
            },
        ],
        "devices": [
            {
                "code": "DEV-1",
                "name": "核心Router",
                "node_id": r["extranet_nodes0"],
                "vendor": "Huawei",
                "device_type": "huawei",
                "mgmt_address": "127.64.0.11",
                "ssh_port": 22,
                "credential_ref": "cred-a",
                "facts": {"model": "NE40E"},
                "facts_at": _t("2024-02-01T09:00:00+08:00"),
            },
            {
                "code": "DEV-2",
                "name": "汇聚交换机",
                "node_id": r["extranet_nodes1"],
                "vendor": "H3C",
                "device_type": "hp_comware",
                "mgmt_address": "127.64.1.11",
                "ssh_port": 2222,
                "credential_ref": None,
                "facts": None,
                "facts_at": None,
            },
            {
                "code": "DEV-3",
                "name": "接入switch",
                "node_id": r["extranet_nodes2"],
                "vendor": "Ruijie",
                "device_type": "ruijie_os",
                "mgmt_address": "127.65.1.11",
                "ssh_port": 22,
                "credential_ref": "cred-B",
                "facts": None,
                "facts_at": _t("2024-02-01T08:59:59+08:00"),
            },
        ],
        "node_access": [
            {
                "code": "ACC-1",
                "unit_id": r["units0"],
                "node_id": r["extranet_nodes0"],
                "status": "connected",
                "bandwidth_mbps": 100,
                "connected_on": date(2021, 12, 31),
            },
            {
                "code": "ACC-2",
                "unit_id": r["units1"],
                "node_id": r["extranet_nodes1"],
                "status": "planned",
                "bandwidth_mbps": None,
                "connected_on": None,
            },
            {
                "code": "acc-3",
                "unit_id": r["units2"],
                "node_id": r["extranet_nodes2"],
                "status": "disconnected",
                "bandwidth_mbps": 10,
                "connected_on": date(2022, 1, 1),
            },
        ],
        "determinations": [
            {
                "code": "DET-1",
                "subject_kind": "system",
                "subject_id": r["systems1"],
                "decision": "exempt",
                "reason": "涉密系统 Exempt",
                "decided_by": "云长办",
                "decided_on": date(2023, 3, 1),
                "review_on": date(2024, 3, 1),
                "active": True,
            },
            {
                "code": "DET-2",
                "subject_kind": "network",
                "subject_id": r["networks1"],
                "decision": "retire",
                "reason": None,
                "decided_by": "Office",
                "decided_on": date(2023, 7, 1),
                "review_on": None,
                "active": False,
            },
            {
                "code": "DET-3",
                "subject_kind": "room",
                "subject_id": r["rooms0"],
                "decision": "keep",
                "reason": "保留 keep",
                "decided_by": "云长办",
                "decided_on": date(2024, 1, 15),
                "review_on": date(2025, 1, 15),
                "active": True,
            },
        ],
    }


# Applied at T2 (live state only): one change per kind to row 0, plus one new region.
LATER = {"name": "改名Later", "code": "ZZ-later"}


def _typed(kind: str, row: dict[str, Any]) -> dict[str, Any]:
    """Every column with its value as the filters compare it: enums by value, times in UTC."""
    out: dict[str, Any] = {}
    for col in inspect(KINDS[kind].model).columns:
        if col.name in ("created_at", "updated_at"):
            continue
        if col.name in row:
            v = row[col.name]
        elif col.default is not None and not callable(default := getattr(col.default, "arg", None)):
            v = default
        else:
            v = None
        if isinstance(v, Enum):
            v = v.value
        if isinstance(v, datetime):
            v = v.astimezone(UTC)
        out[col.name] = v
    return out


def build(session: Session) -> tuple[Rows, Rows]:
    """Write the dataset; return (live rows, rows as of T1), each kind's rows with their ids."""
    ref: dict[str, int] = {}
    created: Rows = {}
    ctx0 = ChangeContext(actor="tester", role="admin", at=T0)
    assert set(_rows(_Lazy(ref))) == set(KINDS), "the dataset must have rows for every kind"
    for kind in KINDS:  # registered in dependency order
        created[kind] = []
        for i in range(3):
            row = _rows(_Lazy(ref))[kind][i]  # rebuilt per row: a row may name an earlier row of its kind
            permit = _allow_new(session, kind, row)
            obj = service.create(session, kind, row, ctx0)
            if permit is not None:  # the office's permission is not part of the list dataset
                session.delete(permit)
                session.flush()
            ref[f"{kind}{i}"] = obj.id  # type: ignore[attr-defined]
            created[kind].append(_typed(kind, {**row, "id": obj.id}))  # type: ignore[attr-defined]
    session.flush()
    at_t1 = {k: [dict(r) for r in v] for k, v in created.items()}
    ctx2 = ChangeContext(actor="tester", role="admin", at=T2)
    live = {k: [dict(r) for r in v] for k, v in created.items()}
    for kind, rows in live.items():
        field = "name" if "name" in rows[0] else "code"
        change = {field: LATER[field]}
        service.update(session, kind, rows[0]["id"], change, ctx2)
        rows[0].update(change)
    new = {"code": "450200", "name": "柳州Later", "level": "city", "parent_id": ref["regions0"]}
    obj = service.create(session, "regions", new, ctx2)
    live["regions"].append(_typed("regions", {**new, "id": obj.id}))  # type: ignore[attr-defined]
    session.flush()
    return live, at_t1


def _allow_new(session: Session, kind: str, row: dict[str, Any]) -> Determination | None:
    """The office's allow_new for a guarded new object (build_rules), written straight to the table so that the
    determinations of the dataset stay exactly the rows listed above."""
    if kind not in build_rules.GUARDED or row.get("classified"):
        return None
    permit = Determination(
        code=f"LIST-ALLOW-{kind}-{row['code']}",
        subject_kind=build_rules.GUARDED[kind][0],
        new_object_code=row["code"],
        decision=Decision.ALLOW_NEW,
        decided_by="office",
        decided_on=date(2020, 1, 1),
    )
    session.add(permit)
    session.flush()
    return permit


class _Lazy(dict[str, int]):
    """Row references: resolved to ids already created (the kinds are listed in dependency order)."""

    def __init__(self, ref: dict[str, int]) -> None:
        super().__init__()
        self.ref = ref

    def __getitem__(self, key: str) -> int:
        return self.ref.get(key, 0)
