"""Retire one request in its own process (the integration test SIGKILLs it mid-way, then retires again).

Usage: python os_retire_worker.py DB_URL CLOUDS_YAML REQUEST_DB_ID
"""

from __future__ import annotations

import sys

from inventory.auth import Principal
from inventory.db import Database
from inventory.enums import Role
from inventory.service import ChangeContext
from orchestrator.clouds import CloudRegistry
from orchestrator.request_provisioning import retire

if __name__ == "__main__":
    db_url, clouds_yaml, request_id = sys.argv[1:4]
    result = retire(
        Database(db_url),
        Principal("operator-2", Role.CLOUD_OPERATOR),
        ChangeContext(actor="operator-2", role="cloud_operator"),
        int(request_id),
        CloudRegistry(clouds_yaml).driver,
    )
    print(result.status.value, result.message)
