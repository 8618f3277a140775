"""The request catalogue (申请目录): what the configured clouds offer — flavors, images and shared/external
networks — read from their drivers, cached `TTL_S`, merged by name with the clouds that offer each.

A cloud that cannot answer is listed with its error and left out of the offer (the others still answer).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from orchestrator.provisioning.driver import CloudDriver, CloudError, FlavorSize, ImageInfo, NetworkInfo

log = logging.getLogger("yunwang.catalogue")
TTL_S = 300.0
T = TypeVar("T")


@dataclass(frozen=True)
class CloudOffer:
    """What one cloud offers, or why it could not say (`errors`)."""

    cloud: str
    availability_zone: str | None
    flavors: dict[str, FlavorSize] = field(default_factory=dict)
    images: list[ImageInfo] = field(default_factory=list)
    networks: list[NetworkInfo] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def offer_of(driver: CloudDriver) -> CloudOffer:
    """Ask one cloud for its flavors, images and networks; each failure is noted, not raised."""
    errors: list[str] = []

    def read(what: str, call: Callable[[], T], empty: T) -> T:
        try:
            return call()
        except CloudError as exc:
            log.warning("%s of %s unavailable: %s", what, driver.cloud, exc.message)
            errors.append(f"{what}: {exc.message}")
            return empty

    return CloudOffer(
        driver.cloud,
        driver.availability_zone,
        read("flavors", driver.flavors, {}),
        read("images", driver.images, []),
        read("networks", driver.networks, []),
        errors,
    )


Catalogue = Callable[[], Sequence[CloudOffer]]


class CloudCatalogue:
    """The offers of a set of clouds, cached for `ttl_s` seconds."""

    def __init__(self, drivers: Callable[[], Sequence[CloudDriver]], ttl_s: float = TTL_S) -> None:
        self._drivers = drivers
        self._ttl = ttl_s
        self._lock = threading.Lock()
        self._cached: tuple[float, list[CloudOffer]] | None = None

    def __call__(self) -> list[CloudOffer]:
        with self._lock:
            if self._cached is not None and time.monotonic() - self._cached[0] < self._ttl:
                return self._cached[1]
        offers = [offer_of(d) for d in self._drivers()]
        with self._lock:
            self._cached = (time.monotonic(), offers)
        return offers


def no_catalogue() -> list[CloudOffer]:
    """The catalogue when no clouds are configured: empty."""
    return []
