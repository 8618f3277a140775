"""The scheduler's default capacity source: the newest capacity sample of each cloud."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.db import Database
from orchestrator.provisioning.capacity import latest_capacities
from orchestrator.provisioning.models import CapacitySample


def test_newest_sweep_of_each_cloud_with_its_availability_zone(db: Database) -> None:
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    with db.session() as s:
        for at, used in ((t0, 60), (t0 + timedelta(minutes=5), 10)):
            for host in ("h1", "h2"):
                s.add(
                    CapacitySample(at=at, cloud="gov-nanning", host=host, resource_class="VCPU", total=64.0, used=used)
                )
        s.add(CapacitySample(at=t0, cloud="gov-guilin", host="g1", resource_class="VCPU", total=32.0, used=4))
    with db.session() as s:
        caps = latest_capacities(s, {"gov-nanning": "gov-nanning-az"}.get)
    by = {c.cloud: c for c in caps}
    assert by["gov-nanning"].totals()["VCPU"] == (128.0, 20)  # the 5-minute sweep only
    assert by["gov-nanning"].availability_zone == "gov-nanning-az"
    assert by["gov-guilin"].totals()["VCPU"] == (32.0, 4) and by["gov-guilin"].availability_zone is None
