"""Listing helpers for the OpenStack integration tests (what the cloud really holds)."""

from __future__ import annotations

from orchestrator.provisioning.driver import CloudObject
from orchestrator.provisioning.openstack import OpenStackDriver


def owned_by(driver: OpenStackDriver, project_id: str, request_id: str) -> list[CloudObject]:
    """Everything in the project carrying this request's marker, as the cloud lists it now."""
    return [o for o in driver.list_resources([project_id]) if o.owner and o.owner[0] == request_id]


def everything_in(driver: OpenStackDriver, project_id: str) -> list[CloudObject]:
    """Every server, volume, FIP, router, SG (bar 'default'), subnet and network of the project."""
    return driver.list_resources([project_id])
