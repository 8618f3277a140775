"""The registry of inventory kinds: one spec per kind drives schemas, API routes and import/export."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Table

from core.db import Base
from inventory import rules
from inventory.enums import SubjectKind
from inventory.models import (
    Cloud,
    DedicatedNetwork,
    Determination,
    Device,
    ExtranetNode,
    InformationSystem,
    InternetExit,
    NodeAccess,
    Region,
    Room,
    ServiceItem,
    Unit,
    VerticalSystem,
    system_depends_on,
    system_exits,
    system_networks,
    system_rooms,
)
from inventory.rules import Preload, Rule


@dataclass(frozen=True)
class Column:
    """One column as people see it in a spreadsheet: field name, Chinese and English header."""

    field: str
    zh: str
    en: str
    ref: str | None = None  # kind whose code this column holds (the field stores the id)


@dataclass(frozen=True)
class Link:
    """A many-to-many list field (e.g. a system's dependencies), written as codes joined by ';'."""

    field: str
    zh: str
    en: str
    table: Table
    ref: str
    relationship: str


@dataclass(frozen=True)
class KindSpec:
    """Everything generic code needs to know about one inventory kind."""

    name: str
    model: type[Base]
    zh: str
    en: str
    columns: tuple[Column, ...]
    links: tuple[Link, ...] = ()
    unit_field: str | None = None  # the column naming the owning unit, for scoped roles
    parent_kind: str | None = None  # scope through a parent (service items → vertical system)
    parent_field: str | None = None
    subject: SubjectKind | None = None
    search_fields: tuple[str, ...] = ("code", "name")
    extra: dict[str, str] = field(default_factory=dict)
    rules: tuple[Rule, ...] = ()  # domain rules (inventory.rules), run in this order on every write
    preload: Preload | None = None  # loads what the rules look up by id, once per batch
    # Columns a collector observes (device facts): shown live, never part of an object's recorded state — not in
    # the change log (an edit's before/after would carry whatever was last read) and so not in `as_of` reads.
    observed: tuple[str, ...] = ()

    @property
    def fields(self) -> list[str]:
        return [c.field for c in self.columns]


def _c(f: str, zh: str, en: str | None = None, ref: str | None = None) -> Column:
    return Column(f, zh, en or f, ref)


KINDS: dict[str, KindSpec] = {}


def _register(spec: KindSpec) -> KindSpec:
    KINDS[spec.name] = spec
    return spec


_register(
    KindSpec(
        "regions",
        Region,
        "行政区划",
        "administrative regions",
        (
            _c("code", "区划代码", "code"),
            _c("name", "名称", "name"),
            _c("level", "层级", "level"),
            _c("parent_id", "上级区划代码", "parent", ref="regions"),
        ),
        rules=(rules.region_tree,),
    )
)
_register(
    KindSpec(
        "units",
        Unit,
        "单位",
        "units",
        (
            _c("code", "单位编码", "code"),
            _c("name", "单位名称", "name"),
            _c("kind", "单位类型", "kind"),
            _c("level", "层级", "level"),
            _c("parent_id", "上级单位编码", "parent", ref="units"),
            _c("region_id", "所在区划代码", "region", ref="regions"),
            _c("cloud_chief", "云长", "cloud_chief"),
            _c("cloud_chief_title", "云长职务", "cloud_chief_title"),
            _c("is_sub_cloud_chief", "是否子云长单位", "is_sub_cloud_chief"),
        ),
        unit_field="id",
        rules=(rules.no_cycle,),
    )
)
_register(
    KindSpec(
        "rooms",
        Room,
        "数据中心/机房",
        "data centres and machine rooms",
        (
            _c("code", "机房编码", "code"),
            _c("name", "机房名称", "name"),
            _c("owner_unit_id", "所属单位编码", "owner_unit", ref="units"),
            _c("region_id", "所在区划代码", "region", ref="regions"),
            _c("classified", "是否涉密", "classified"),
            _c("is_data_centre", "是否数据中心", "is_data_centre"),
            _c("racks", "机柜数", "racks"),
            _c("status", "状态", "status"),
            _c("status_changed_at", "状态变更时间", "status_changed_at"),
        ),
        unit_field="owner_unit_id",
        subject=SubjectKind.ROOM,
        rules=(rules.new_build_allowed,),
    )
)
_register(
    KindSpec(
        "clouds",
        Cloud,
        "云平台",
        "clouds",
        (
            _c("code", "云编码", "code"),
            _c("name", "云名称", "name"),
            _c("kind", "云类型", "kind"),
            _c("owner_unit_id", "建设单位编码", "owner_unit", ref="units"),
            _c("region_id", "所在区划代码", "region", ref="regions"),
            _c("site", "站点", "site"),
            _c("clouds_yaml_name", "clouds.yaml名称", "clouds_yaml_name"),
            _c("on_gov_cloud", "是否建于政务云", "on_gov_cloud"),
            _c("managed", "是否纳入统筹管理", "managed"),
        ),
        subject=SubjectKind.CLOUD,
        rules=(rules.new_build_allowed,),
    )
)
_register(
    KindSpec(
        "internet_exits",
        InternetExit,
        "互联网出口",
        "internet exits",
        (
            _c("code", "出口编码", "code"),
            _c("name", "出口名称", "name"),
            _c("owner_unit_id", "所属单位编码", "owner_unit", ref="units"),
            _c("region_id", "所在区划代码", "region", ref="regions"),
            _c("isp", "运营商", "isp"),
            _c("bandwidth_mbps", "带宽(Mbps)", "bandwidth_mbps"),
            _c("status", "状态", "status"),
            _c("status_changed_at", "状态变更时间", "status_changed_at"),
        ),
        unit_field="owner_unit_id",
        subject=SubjectKind.EXIT,
        rules=(rules.new_build_allowed,),
    )
)
_register(
    KindSpec(
        "networks",
        DedicatedNetwork,
        "业务专网",
        "dedicated business networks",
        (
            _c("code", "专网编码", "code"),
            _c("name", "专网名称", "name"),
            _c("owner_unit_id", "所属单位编码", "owner_unit", ref="units"),
            _c("level", "层级", "level"),
            _c("classified", "是否涉密", "classified"),
            _c("status", "迁移状态", "status"),
            _c("status_changed_at", "状态变更时间", "status_changed_at"),
        ),
        unit_field="owner_unit_id",
        subject=SubjectKind.NETWORK,
        rules=(rules.classified_network_stays, rules.new_build_allowed),
    )
)
_register(
    KindSpec(
        "systems",
        InformationSystem,
        "信息系统",
        "information systems",
        (
            _c("code", "系统编码", "code"),
            _c("name", "系统名称", "name"),
            _c("owner_unit_id", "所属单位编码", "owner_unit", ref="units"),
            _c("classified", "是否涉密", "classified"),
            _c("hosting", "部署方式", "hosting"),
            _c("room_id", "所在机房编码", "room", ref="rooms"),
            _c("cloud_id", "所在云编码", "cloud", ref="clouds"),
            _c("status", "迁移状态", "status"),
            _c("status_changed_at", "状态变更时间", "status_changed_at"),
            _c("vcpus", "vCPU数", "vcpus"),
            _c("memory_gb", "内存(GB)", "memory_gb"),
            _c("storage_gb", "存储(GB)", "storage_gb"),
            _c("users_count", "用户数", "users_count"),
            _c("monthly_visits", "月访问量", "monthly_visits"),
            _c("last_access_at", "最近访问日期", "last_access_at"),
            _c("last_maintenance_at", "最近运维日期", "last_maintenance_at"),
            _c("replaced_by_id", "替代系统编码", "replaced_by", ref="systems"),
            _c("business_active", "业务是否在用", "business_active"),
        ),
        links=(
            Link("depends_on_ids", "依赖系统", "depends_on", system_depends_on, "systems", "depends_on"),
            Link("network_ids", "依赖专网", "networks", system_networks, "networks", "networks"),
            Link("room_ids", "依赖机房", "rooms", system_rooms, "rooms", "rooms"),
            Link("exit_ids", "依赖互联网出口", "exits", system_exits, "internet_exits", "exits"),
        ),
        unit_field="owner_unit_id",
        subject=SubjectKind.SYSTEM,
        rules=(rules.system_placement,),
        preload=rules.system_clouds,
    )
)
_register(
    KindSpec(
        "vertical_systems",
        VerticalSystem,
        "垂直系统",
        "vertical systems",
        (
            _c("code", "系统编码", "code"),
            _c("name", "系统名称", "name"),
            _c("scope", "垂直类型", "scope"),
            _c("owner_unit_id", "主管单位编码", "owner_unit", ref="units"),
            _c("region_id", "所在区划代码", "region", ref="regions"),
            _c("classified", "是否涉密", "classified"),
        ),
        unit_field="owner_unit_id",
    )
)
_register(
    KindSpec(
        "service_items",
        ServiceItem,
        "垂直系统事项",
        "service items",
        (
            _c("code", "事项编码", "code"),
            _c("name", "事项名称", "name"),
            _c("vertical_system_id", "垂直系统编码", "vertical_system", ref="vertical_systems"),
            _c("docking_status", "对接状态", "docking_status"),
            _c("docked_at", "对接日期", "docked_at"),
        ),
        parent_kind="vertical_systems",
        parent_field="vertical_system_id",
        subject=SubjectKind.SERVICE_ITEM,
    )
)
_register(
    KindSpec(
        "extranet_nodes",
        ExtranetNode,
        "外网节点",
        "extranet nodes",
        (
            _c("code", "节点编码", "code"),
            _c("name", "节点名称", "name"),
            _c("level", "层级", "level"),
            _c("region_id", "所在区划代码", "region", ref="regions"),
            _c("parent_id", "上级节点编码", "parent", ref="extranet_nodes"),
            _c("address", "探测地址", "address"),
            _c("tcp_ports", "探测端口", "tcp_ports"),
            _c("state", "状态", "state"),
            _c("state_since", "状态起始时间", "state_since"),
        ),
        rules=(rules.no_cycle,),
    )
)
_register(
    KindSpec(
        "devices",
        Device,
        "网络设备",
        "devices",
        (
            _c("code", "设备编码", "code"),
            _c("name", "设备名称", "name"),
            _c("node_id", "所在节点编码", "node", ref="extranet_nodes"),
            _c("vendor", "厂商", "vendor"),
            _c("device_type", "设备类型(netmiko)", "device_type"),
            _c("mgmt_address", "管理地址", "mgmt_address"),
            _c("ssh_port", "SSH端口", "ssh_port"),
            _c("credential_ref", "凭据名称", "credential_ref"),
        ),
        observed=("facts", "facts_at"),
    )
)
_register(
    KindSpec(
        "node_access",
        NodeAccess,
        "横向接入",
        "horizontal access records",
        (
            _c("code", "接入编码", "code"),
            _c("unit_id", "单位编码", "unit", ref="units"),
            _c("node_id", "接入节点编码", "node", ref="extranet_nodes"),
            _c("status", "接入状态", "status"),
            _c("bandwidth_mbps", "带宽(Mbps)", "bandwidth_mbps"),
            _c("connected_on", "接入日期", "connected_on"),
        ),
        unit_field="unit_id",
        search_fields=("code",),
        rules=(rules.access_matches_area,),
    )
)
_register(
    KindSpec(
        "determinations",
        Determination,
        "技术认定",
        "technical determinations",
        (
            _c("code", "认定编号", "code"),
            _c("subject_kind", "认定对象类型", "subject_kind"),
            _c("subject_id", "认定对象ID", "subject_id"),
            _c("new_object_code", "准予新建对象编码", "new_object_code"),
            _c("decision", "认定结论", "decision"),
            _c("reason", "理由", "reason"),
            _c("decided_by", "认定人", "decided_by"),
            _c("decided_on", "认定日期", "decided_on"),
            _c("review_on", "回头看日期", "review_on"),
            _c("active", "是否有效", "active"),
        ),
        search_fields=("code", "reason"),
        rules=(rules.determination_complete,),
    )
)

# Which kind a determination's subject_kind points at.
SUBJECT_KINDS: dict[SubjectKind, str] = {spec.subject: spec.name for spec in KINDS.values() if spec.subject is not None}
