"""Reports as tasks (`reports.<name>`), in-process and on Celery workers, SQLite and PostgreSQL: the export made by
a job and downloaded through it equals the synchronous one (CSV bytes, XLSX cells), with the same content type
and file name; only who asked downloads it."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from core.enums import Role
from tests.integration.tasks.test_import_tasks import ASYNC, Service, service  # noqa: F401  (the fixture)
from tests.task_jobs import wait_job

URL = "/api/v1/inventory/systems/export"


def cells(data: bytes) -> list[list[tuple[object, ...]]]:
    wb = load_workbook(io.BytesIO(data))
    return [[tuple(c.value for c in row) for row in ws.iter_rows()] for ws in wb.worksheets]


def test_an_export_made_by_a_job_equals_the_synchronous_one(service: Service) -> None:  # noqa: F811
    svc, h = service, service.headers()
    for fmt in ("csv", "xlsx"):
        sync = svc.client.get(URL, params={"format": fmt}, headers=h)
        assert sync.status_code == 200, sync.text
        r = svc.client.get(URL, params={"format": fmt}, headers={**h, **ASYNC})
        assert r.status_code == 202, r.text
        job = r.json()["job"]
        assert job["name"] == "reports.inventory_export" and r.headers["location"] == job["url"]
        done = wait_job(svc.client, job["url"], h)
        assert done["status"] == "succeeded", done
        got = svc.client.get(job["result_url"], headers=h)
        assert got.status_code == 200, got.text
        assert got.headers["content-type"] == sync.headers["content-type"]
        assert got.headers["content-disposition"] == sync.headers["content-disposition"]
        assert done["result"]["bytes"] == len(got.content)
        if fmt == "csv":
            assert got.content == sync.content
            # by hand: the header row and SYS-OLD, the fixture's one system
            assert got.content.decode("utf-8-sig").count("SYS-OLD") == 1
        else:
            assert cells(got.content) == cells(sync.content)


def test_only_who_asked_downloads_the_report(service: Service) -> None:  # noqa: F811
    svc, h = service, service.headers()
    r = svc.client.get(URL, params={"format": "csv"}, headers={**h, **ASYNC})
    job = r.json()["job"]
    assert wait_job(svc.client, job["url"], h)["status"] == "succeeded"
    other = svc.headers(Role.CLOUD_OPERATOR)
    assert svc.client.get(job["result_url"], headers=other).status_code == 404
    # a job that made no file (an import) has nothing to download: 409
    imp = svc.client.post(
        "/api/v1/inventory/systems/import",
        headers={**h, **ASYNC},
        files={"file": ("e.csv", "系统编码,系统名称\n".encode(), "text/csv")},
        params={"dry_run": 1},
    )
    imp_job = imp.json()["job"]
    wait_job(svc.client, imp_job["url"], h)
    assert svc.client.get(f"{imp_job['url']}/result", headers=h).status_code == 409


def test_the_monthly_draft_made_by_a_job_equals_the_synchronous_draft(service: Service) -> None:  # noqa: F811
    svc, h = service, service.headers()
    for kind in ("xlsx", "html"):
        url = f"/api/v1/reports/2026-11.{kind}"
        sync = svc.client.get(url, params={"draft": 1}, headers=h)
        assert sync.status_code == 200, sync.text
        r = svc.client.get(url, params={"draft": 1}, headers={**h, **ASYNC})
        assert r.status_code == 202, r.text
        job = r.json()["job"]
        assert job["name"] == "reports.monthly_draft"
        assert wait_job(svc.client, job["url"], h, timeout=120)["status"] == "succeeded"
        got = svc.client.get(job["result_url"], headers=h)
        assert got.status_code == 200, got.text
        assert got.headers["content-type"] == sync.headers["content-type"]
        assert f'filename="yunwang-report-2026-11-draft.{kind}"' in got.headers["content-disposition"]
        if kind == "xlsx":
            assert cells(got.content) == cells(sync.content)
        else:
            assert got.content == sync.content
    # a role that may not read drafts is refused at once, as by the synchronous route: no job
    dept = svc.headers(Role.DEPARTMENT_USER, svc.world["county_unit"])
    refused = svc.client.get("/api/v1/reports/2026-11.xlsx", params={"draft": 1}, headers={**dept, **ASYNC})
    assert refused.status_code == 403
