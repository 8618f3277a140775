"""Inventory tables, one section per kind. Domain rules live in service.py, not here."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, enum_type
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


class Timestamped:
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


# --- administrative regions ---------------------------------------------------------------


class Region(Timestamped, Base):
    """An administrative region (自治区/市/县/乡镇) with its GB/T 2260 code."""

    __tablename__ = "regions"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(12), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[RegionLevel] = mapped_column(enum_type(RegionLevel), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"), index=True)


# --- units ----------------------------------------------------------------------------------


class Unit(Timestamped, Base):
    """A department, second-level body or SOE; the head is its cloud chief (云长)."""

    __tablename__ = "units"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[UnitKind] = mapped_column(enum_type(UnitKind), default=UnitKind.DEPARTMENT)
    level: Mapped[RegionLevel] = mapped_column(enum_type(RegionLevel), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), index=True)
    cloud_chief: Mapped[str | None] = mapped_column(String(100))
    cloud_chief_title: Mapped[str | None] = mapped_column(String(100))
    is_sub_cloud_chief: Mapped[bool] = mapped_column(Boolean, default=False)


# --- rooms, clouds, exits, networks -----------------------------------------------------


class Room(Timestamped, Base):
    """A data centre or machine room (数据中心/机房)."""

    __tablename__ = "rooms"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    owner_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), index=True)
    classified: Mapped[bool] = mapped_column(Boolean, default=False)
    is_data_centre: Mapped[bool] = mapped_column(Boolean, default=False)
    racks: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[RoomStatus] = mapped_column(enum_type(RoomStatus), default=RoomStatus.ACTIVE)
    status_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Cloud(Timestamped, Base):
    """A cloud: the gov cloud's regions/sites, sub-clouds and industry clouds."""

    __tablename__ = "clouds"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[CloudKind] = mapped_column(enum_type(CloudKind), index=True)
    owner_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), index=True)
    site: Mapped[str | None] = mapped_column(String(100))
    clouds_yaml_name: Mapped[str | None] = mapped_column(String(100))
    on_gov_cloud: Mapped[bool] = mapped_column(Boolean, default=False)
    managed: Mapped[bool] = mapped_column(Boolean, default=True)


class InternetExit(Timestamped, Base):
    """A unit's own internet egress (互联网出口), to be consolidated."""

    __tablename__ = "internet_exits"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    owner_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), index=True)
    isp: Mapped[str | None] = mapped_column(String(50))
    bandwidth_mbps: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[ExitStatus] = mapped_column(enum_type(ExitStatus), default=ExitStatus.ACTIVE)
    status_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DedicatedNetwork(Timestamped, Base):
    """A department's dedicated business network (业务专网)."""

    __tablename__ = "networks"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    owner_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    level: Mapped[RegionLevel] = mapped_column(enum_type(RegionLevel), index=True)
    classified: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    status: Mapped[NetworkStatus] = mapped_column(
        enum_type(NetworkStatus), default=NetworkStatus.NOT_STARTED, index=True
    )
    status_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# --- information systems ------------------------------------------------------------------

system_depends_on = Table(
    "system_depends_on",
    Base.metadata,
    Column("system_id", ForeignKey("systems.id", ondelete="CASCADE"), primary_key=True),
    Column("target_id", ForeignKey("systems.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_system_depends_on_target", "target_id"),
)
system_networks = Table(
    "system_networks",
    Base.metadata,
    Column("system_id", ForeignKey("systems.id", ondelete="CASCADE"), primary_key=True),
    Column("target_id", ForeignKey("networks.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_system_networks_target", "target_id"),
)
system_rooms = Table(
    "system_rooms",
    Base.metadata,
    Column("system_id", ForeignKey("systems.id", ondelete="CASCADE"), primary_key=True),
    Column("target_id", ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_system_rooms_target", "target_id"),
)
system_exits = Table(
    "system_exits",
    Base.metadata,
    Column("system_id", ForeignKey("systems.id", ondelete="CASCADE"), primary_key=True),
    Column("target_id", ForeignKey("internet_exits.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_system_exits_target", "target_id"),
)


class InformationSystem(Timestamped, Base):
    """A government application (信息系统) with hosting, migration state and usage evidence."""

    __tablename__ = "systems"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    owner_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    classified: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    hosting: Mapped[Hosting] = mapped_column(enum_type(Hosting), default=Hosting.ROOM)
    room_id: Mapped[int | None] = mapped_column(ForeignKey("rooms.id"), index=True)
    cloud_id: Mapped[int | None] = mapped_column(ForeignKey("clouds.id"), index=True)
    status: Mapped[SystemStatus] = mapped_column(enum_type(SystemStatus), default=SystemStatus.NOT_MIGRATED, index=True)
    status_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    vcpus: Mapped[int | None] = mapped_column(Integer)
    memory_gb: Mapped[float | None] = mapped_column(Float)
    storage_gb: Mapped[float | None] = mapped_column(Float)
    users_count: Mapped[int | None] = mapped_column(Integer)
    monthly_visits: Mapped[int | None] = mapped_column(Integer)
    last_access_at: Mapped[date | None] = mapped_column(Date)
    last_maintenance_at: Mapped[date | None] = mapped_column(Date)
    replaced_by_id: Mapped[int | None] = mapped_column(ForeignKey("systems.id"))
    business_active: Mapped[bool] = mapped_column(Boolean, default=True)

    depends_on: Mapped[list[InformationSystem]] = relationship(
        secondary=system_depends_on,
        primaryjoin=lambda: InformationSystem.id == system_depends_on.c.system_id,
        secondaryjoin=lambda: InformationSystem.id == system_depends_on.c.target_id,
        lazy="selectin",
    )
    networks: Mapped[list[DedicatedNetwork]] = relationship(secondary=system_networks, lazy="selectin")
    rooms: Mapped[list[Room]] = relationship(secondary=system_rooms, lazy="selectin")
    exits: Mapped[list[InternetExit]] = relationship(secondary=system_exits, lazy="selectin")


# --- vertical systems and service items ---------------------------------------------------


class VerticalSystem(Timestamped, Base):
    """A region-, city- or national-vertical business system (区垂/市垂/国垂)."""

    __tablename__ = "vertical_systems"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    scope: Mapped[VerticalScope] = mapped_column(enum_type(VerticalScope), index=True)
    owner_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), index=True)
    classified: Mapped[bool] = mapped_column(Boolean, default=False)


class ServiceItem(Timestamped, Base):
    """A service item (事项) of a vertical system and its docking with the integrated platform."""

    __tablename__ = "service_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    vertical_system_id: Mapped[int] = mapped_column(ForeignKey("vertical_systems.id"), index=True)
    docking_status: Mapped[DockingStatus] = mapped_column(
        enum_type(DockingStatus), default=DockingStatus.NOT_DOCKED, index=True
    )
    docked_at: Mapped[date | None] = mapped_column(Date)


# --- extranet -------------------------------------------------------------------------------


class ExtranetNode(Timestamped, Base):
    """An e-government extranet point of presence at one administrative level."""

    __tablename__ = "extranet_nodes"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[RegionLevel] = mapped_column(enum_type(RegionLevel), index=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("extranet_nodes.id"), index=True)
    address: Mapped[str | None] = mapped_column(String(64))
    tcp_ports: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[NodeState] = mapped_column(enum_type(NodeState), default=NodeState.UNKNOWN)
    state_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Device(Timestamped, Base):
    """A router or switch at a node, reached over SSH with a netmiko device type."""

    __tablename__ = "devices"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    node_id: Mapped[int] = mapped_column(ForeignKey("extranet_nodes.id"), index=True)
    vendor: Mapped[str] = mapped_column(String(40))
    device_type: Mapped[str] = mapped_column(String(40))
    mgmt_address: Mapped[str] = mapped_column(String(64))
    ssh_port: Mapped[int] = mapped_column(Integer, default=22)
    credential_ref: Mapped[str | None] = mapped_column(String(100))
    facts: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    facts_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class NodeAccess(Timestamped, Base):
    """A unit's horizontal access to the extranet through a node (横向接入)."""

    __tablename__ = "node_access"
    __table_args__ = (UniqueConstraint("unit_id", "node_id", name="uq_node_access_unit_node"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(90), unique=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("extranet_nodes.id"), index=True)
    status: Mapped[AccessStatus] = mapped_column(enum_type(AccessStatus), default=AccessStatus.CONNECTED)
    bandwidth_mbps: Mapped[int | None] = mapped_column(Integer)
    connected_on: Mapped[date | None] = mapped_column(Date)


# --- technical determinations and exemptions --------------------------------------------


class Determination(Timestamped, Base):
    """A technical determination (技术认定): migrate, exempt, retire or keep, with its look-back date."""

    __tablename__ = "determinations"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(60), unique=True)
    subject_kind: Mapped[SubjectKind] = mapped_column(enum_type(SubjectKind), index=True)
    subject_id: Mapped[int | None] = mapped_column(Integer, index=True)  # None: a new object, by new_object_code
    new_object_code: Mapped[str | None] = mapped_column(String(40), index=True)  # allow_new: the code it may take
    decision: Mapped[Decision] = mapped_column(enum_type(Decision))
    reason: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str] = mapped_column(String(100))
    decided_on: Mapped[date] = mapped_column(Date)
    review_on: Mapped[date | None] = mapped_column(Date)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


# --- audit and access -----------------------------------------------------------------------


class RowCountDelta(Base):
    """Row counts of the inventory tables, kept by the database itself on PostgreSQL (statement triggers of
    migration 0004_inventory_row_counts add +n/-n rows in the writing transaction, so a count is exact under
    MVCC): an unfiltered list's total is a sum over a few rows instead of a scan (inventory.row_counts)."""

    __tablename__ = "row_count_deltas"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    n: Mapped[int] = mapped_column(BigInteger)
