"""Chinese labels of every enum value, as people write them in department spreadsheets.

The first label of each value is the one templates show beside the code (`migrated（已迁移）`); the others
are accepted synonyms. Exports keep writing the codes, so a file round-trips unchanged either way.
"""

from __future__ import annotations

from enum import Enum, StrEnum

from inventory.enums import (
    AccessStatus,
    CloudKind,
    Decision,
    DockingStatus,
    ExitStatus,
    Hosting,
    NetworkStatus,
    NodeState,
    RegionLevel,
    RoomStatus,
    SubjectKind,
    SystemStatus,
    UnitKind,
    VerticalScope,
)

ENUM_LABELS: dict[type[StrEnum], dict[str, tuple[str, ...]]] = {
    RegionLevel: {
        "region": ("自治区级", "自治区", "区级"),
        "city": ("市级", "设区市", "市"),
        "county": ("县级", "县(市、区)", "县区", "县"),
        "township": ("乡镇级", "乡镇", "乡(镇)"),
    },
    UnitKind: {
        "department": ("部门",),
        "second_level": ("二级单位",),
        "soe": ("国有企业", "国企"),
        "government": ("人民政府", "政府"),
        "other": ("其他",),
    },
    RoomStatus: {"active": ("在用", "运行"), "consolidating": ("整合中",), "closed": ("已关闭", "已关停")},
    CloudKind: {
        "gov_cloud": ("政务云", "壮美广西·政务云"),
        "sub_cloud": ("子云",),
        "industry_cloud": ("行业云",),
    },
    ExitStatus: {"active": ("在用",), "consolidated": ("已整合", "已归并"), "closed": ("已关闭", "已关停")},
    NetworkStatus: {
        "not_started": ("未启动", "未开始"),
        "in_progress": ("进行中", "迁移中"),
        "interconnected": ("已打通", "已互联互通"),
        "migrated": ("已迁移", "已整合"),
        "retired": ("已撤销", "已停用"),
    },
    Hosting: {"room": ("机房", "自建机房"), "sub_cloud": ("子云",), "gov_cloud": ("政务云",), "other": ("其他",)},
    SystemStatus: {
        "not_migrated": ("未迁移", "未上云"),
        "in_progress": ("迁移中", "进行中"),
        "migrated": ("已迁移", "已上云"),
        "retired": ("已下线", "已停用", "已关停"),
    },
    VerticalScope: {"region": ("区垂",), "city": ("市垂",), "national": ("国垂",)},
    DockingStatus: {"not_docked": ("未对接",), "in_progress": ("对接中",), "docked": ("已对接",)},
    NodeState: {"unknown": ("未知",), "up": ("正常", "在线"), "degraded": ("降级",), "down": ("中断", "离线")},
    AccessStatus: {"planned": ("计划接入", "计划"), "connected": ("已接入",), "disconnected": ("已断开",)},
    SubjectKind: {
        "system": ("信息系统", "系统"),
        "network": ("业务专网", "专网"),
        "room": ("机房", "数据中心"),
        "exit": ("互联网出口", "出口"),
        "service_item": ("垂直系统事项", "事项"),
    },
    Decision: {
        "must_migrate": ("须迁移", "必须迁移"),
        "exempt": ("豁免",),
        "retire": ("下线", "关停"),
        "keep": ("保留",),
    },
}


def label(typ: type[Enum], value: str) -> str | None:
    """The Chinese label shown for a value (None when the enum has none)."""
    labels = ENUM_LABELS.get(typ, {}).get(value)  # type: ignore[arg-type]
    return labels[0] if labels else None


def shown(typ: type[Enum], value: str) -> str:
    """A value as templates list it: `migrated（已迁移）`."""
    zh = label(typ, value)
    return f"{value}（{zh}）" if zh else value
