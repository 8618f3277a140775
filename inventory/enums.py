"""Every status and kind in the inventory, as string enums stored by value."""

from enum import StrEnum


class RegionLevel(StrEnum):
    """Administrative level: 自治区 / 市 / 县 / 乡镇."""

    REGION = "region"
    CITY = "city"
    COUNTY = "county"
    TOWNSHIP = "township"


class UnitKind(StrEnum):
    """部门 / 二级单位 / 国有企业 / 其他."""

    DEPARTMENT = "department"
    SECOND_LEVEL = "second_level"
    SOE = "soe"
    GOVERNMENT = "government"
    OTHER = "other"


class RoomStatus(StrEnum):
    ACTIVE = "active"
    CONSOLIDATING = "consolidating"
    CLOSED = "closed"


class CloudKind(StrEnum):
    """壮美广西·政务云 / 子云 / 行业云."""

    GOV_CLOUD = "gov_cloud"
    SUB_CLOUD = "sub_cloud"
    INDUSTRY_CLOUD = "industry_cloud"


class ExitStatus(StrEnum):
    ACTIVE = "active"
    CONSOLIDATED = "consolidated"
    CLOSED = "closed"


class NetworkStatus(StrEnum):
    """Migration state of a dedicated business network (业务专网)."""

    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    INTERCONNECTED = "interconnected"
    MIGRATED = "migrated"
    RETIRED = "retired"


class Hosting(StrEnum):
    """Where an information system runs today."""

    ROOM = "room"
    SUB_CLOUD = "sub_cloud"
    GOV_CLOUD = "gov_cloud"
    OTHER = "other"


class SystemStatus(StrEnum):
    """Migration state of an information system (迁移上云)."""

    NOT_MIGRATED = "not_migrated"
    IN_PROGRESS = "in_progress"
    MIGRATED = "migrated"
    RETIRED = "retired"


class VerticalScope(StrEnum):
    """区垂 / 市垂 / 国垂."""

    REGION = "region"
    CITY = "city"
    NATIONAL = "national"


class DockingStatus(StrEnum):
    NOT_DOCKED = "not_docked"
    IN_PROGRESS = "in_progress"
    DOCKED = "docked"


class NodeState(StrEnum):
    UNKNOWN = "unknown"
    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"


class AccessStatus(StrEnum):
    """Whether a unit is connected to its level's horizontal extranet."""

    PLANNED = "planned"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"


class SubjectKind(StrEnum):
    """What a technical determination is about."""

    SYSTEM = "system"
    NETWORK = "network"
    ROOM = "room"
    EXIT = "exit"
    SERVICE_ITEM = "service_item"
    CLOUD = "cloud"


class Decision(StrEnum):
    """技术认定 outcome."""

    MUST_MIGRATE = "must_migrate"
    EXEMPT = "exempt"
    RETIRE = "retire"
    KEEP = "keep"
    ALLOW_NEW = "allow_new"  # 准予新建: the office allows building a new room, network, exit or cloud
