"""Every background task of the service, registered by importing its module (the app and `yunwang worker`)."""

from __future__ import annotations

from orchestrator.requests import tasks as request_tasks

MODULES = (request_tasks,)
