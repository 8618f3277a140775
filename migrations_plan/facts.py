"""Plain data the pure planning functions work on (no sessions, no ORM objects).

`load.py` fills these from the inventory; tests and benchmarks build them directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from inventory.enums import Decision, Hosting, NetworkStatus, SystemStatus


@dataclass(frozen=True)
class SystemFacts:
    """One information system as planning sees it."""

    id: int
    code: str
    name: str
    unit_id: int
    city_id: int | None = None
    classified: bool = False
    hosting: Hosting = Hosting.ROOM
    status: SystemStatus = SystemStatus.NOT_MIGRATED
    room_id: int | None = None
    cloud_id: int | None = None
    vcpus: int | None = None
    memory_gb: float | None = None
    storage_gb: float | None = None
    users_count: int | None = None
    monthly_visits: int | None = None
    last_access_at: date | None = None
    last_maintenance_at: date | None = None
    replaced_by_id: int | None = None
    business_active: bool = True
    depends_on: tuple[int, ...] = ()
    networks: tuple[int, ...] = ()
    rooms: tuple[int, ...] = ()
    exits: tuple[int, ...] = ()
    determination: Decision | None = None  # the active technical determination, if any
    review_on: date | None = None  # look-back date of that determination

    @property
    def on_cloud(self) -> bool:
        return self.hosting in (Hosting.GOV_CLOUD, Hosting.SUB_CLOUD)


@dataclass(frozen=True)
class NetworkFacts:
    """One dedicated business network (业务专网)."""

    id: int
    code: str
    name: str
    unit_id: int
    city_id: int | None = None
    classified: bool = False
    status: NetworkStatus = NetworkStatus.NOT_STARTED
    determination: Decision | None = None

    @property
    def done(self) -> bool:
        """Already on the extranet (or retired): nothing left to move."""
        return self.status in (NetworkStatus.INTERCONNECTED, NetworkStatus.MIGRATED, NetworkStatus.RETIRED)


@dataclass(frozen=True)
class ExitFacts:
    """A unit's own internet exit; an active one must be consolidated when its systems move."""

    id: int
    code: str
    active: bool = True


@dataclass(frozen=True)
class Capacity:
    """Free capacity of one target cloud, as the orchestrator reports it."""

    cloud_id: int
    code: str
    vcpus: float
    memory_gb: float
    storage_gb: float

    def fits(self, need: Demand) -> bool:
        return need.vcpus <= self.vcpus and need.memory_gb <= self.memory_gb and need.storage_gb <= self.storage_gb

    def minus(self, need: Demand) -> Capacity:
        return Capacity(
            self.cloud_id,
            self.code,
            self.vcpus - need.vcpus,
            self.memory_gb - need.memory_gb,
            self.storage_gb - need.storage_gb,
        )


@dataclass(frozen=True)
class Demand:
    """What one system needs at its target."""

    vcpus: float = 0
    memory_gb: float = 0
    storage_gb: float = 0


@dataclass(frozen=True)
class Flavor:
    """A compute flavor offered on the target cloud."""

    name: str
    vcpus: int
    memory_gb: float


# A sensible default flavor table (general-purpose, 1:2 / 1:4 memory ratios), smallest first.
DEFAULT_FLAVORS: tuple[Flavor, ...] = (
    Flavor("s.small", 1, 2),
    Flavor("s.medium", 2, 4),
    Flavor("s.large", 4, 8),
    Flavor("m.large", 4, 16),
    Flavor("s.xlarge", 8, 16),
    Flavor("m.xlarge", 8, 32),
    Flavor("s.2xlarge", 16, 32),
    Flavor("m.2xlarge", 16, 64),
    Flavor("m.4xlarge", 32, 128),
)


@dataclass(frozen=True)
class Inventory:
    """Everything planning reads, keyed by id."""

    systems: dict[int, SystemFacts]
    networks: dict[int, NetworkFacts] = field(default_factory=dict)
    exits: dict[int, ExitFacts] = field(default_factory=dict)
