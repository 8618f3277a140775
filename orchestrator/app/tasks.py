"""Every background task of the service, registered by importing its module (the app and `yunwang worker`)."""

from __future__ import annotations

from collectors import tasks as collector_tasks
from dashboards import report_tasks
from inventory.io import tasks as import_tasks
from orchestrator.requests import tasks as request_tasks

MODULES = (request_tasks, collector_tasks, import_tasks, report_tasks)
