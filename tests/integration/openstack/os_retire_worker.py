"""Retire one request in its own process (the integration test SIGKILLs it mid-way, then retires again).

Usage: python os_retire_worker.py DB_URL CLOUDS_YAML REQUEST_DB_ID
"""

from __future__ import annotations

import sys

from core.audit import ChangeContext
from core.db import Database
from core.enums import Role
from core.identity import Principal
from orchestrator.provisioning.openstack import CloudRegistry
from orchestrator.requests.provisioning_hook import retire

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
