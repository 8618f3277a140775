"""Inventory lists: every kind × field × operator, sorting and paging, live and with `as_of`, on SQLite and PostgreSQL.

The matrix is generated from the models, so a new column is covered without a new test. The expected
answers are computed here with plain Python predicates over the hand-built dataset in list_dataset.py
(never by the query code); a few exact answers below are counted by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from sqlalchemy import JSON, Enum, inspect

from core.db import Database
from core.enums import Role
from core.identity import create_token
from core.times import BEIJING
from inventory.kinds import KINDS
from inventory.schemas import page_schema
from orchestrator.app.factory import create_app
from orchestrator.app.settings import Settings
from tests.unit.inventory import list_dataset
from tests.unit.inventory.list_dataset import T1, Rows

API = "/api/v1/inventory"
ALL_OPS = ("eq", "ne", "in", "gt", "gte", "lt", "lte", "contains", "isnull")
# The operator matrix, by hand: what each field type answers (anything else is a 422).
ORDERED = {"eq", "ne", "in", "gt", "gte", "lt", "lte", "isnull"}
EXPECTED_OPS = {
    "str": ORDERED | {"contains"},
    "enum": {"eq", "ne", "in", "contains", "isnull"},
    "bool": {"eq", "ne", "in", "isnull"},
    "int": ORDERED,
    "float": ORDERED,
    "date": ORDERED,
    "datetime": ORDERED,
    "json": set(),
}
SKIP = ("created_at", "updated_at")  # server-set; checked by hand below


def field_type(col: Any) -> str:
    if isinstance(col.type, Enum):
        return "enum"
    if isinstance(col.type, JSON):
        return "json"
    return {bool: "bool", int: "int", float: "float", date: "date", datetime: "datetime", str: "str"}[
        col.type.python_type
    ]


def columns(kind: str) -> list[tuple[str, str]]:
    return [(c.name, field_type(c)) for c in inspect(KINDS[kind].model).columns if c.name not in SKIP]


@pytest.fixture
def lists(any_db: Database, tmp_path: Path) -> Iterator[tuple[TestClient, Rows, Rows]]:
    """A client (admin) on SQLite or PostgreSQL with the dataset loaded: (client, live rows, rows at T1)."""
    with any_db.session() as s:
        live, at_t1 = list_dataset.build(s)
        token = create_token(s, "lists-admin", Role.ADMIN)
    settings = Settings(database_url=any_db.url, data_dir=tmp_path / "data", scheduler_enabled=False)
    app = create_app(settings, registry=CollectorRegistry(), database=any_db)
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        yield client, live, at_t1


# --- expected answers: plain Python ----------------------------------------------------------


def text(v: Any) -> str:
    """A value as a query-string value (times with the Beijing offset)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, datetime):
        return v.astimezone(BEIJING).isoformat()
    if isinstance(v, date):
        return v.isoformat()
    return str(v)


def probe(rows: list[dict[str, Any]], name: str, typ: str) -> Any:
    """A value to filter with: row 1's, else any row's, else a value of the type that matches nothing."""
    values = [r[name] for r in rows if r[name] is not None]
    if rows[1][name] is not None:
        return rows[1][name]
    if values:
        return values[0]
    fallback = {"str": "none", "int": 7, "float": 7.5, "date": date(2020, 1, 1), "bool": True}
    return fallback.get(typ, datetime(2020, 1, 1, tzinfo=BEIJING))


def needle(value: Any) -> str:
    """A substring of a value with its ASCII case flipped (contains is ASCII-case-insensitive)."""
    s = str(value)
    part = s[1:4] if len(s) > 3 else s
    return part.swapcase()


def expected_ids(rows: list[dict[str, Any]], name: str, op: str, p: Any) -> list[int]:
    def keep(v: Any) -> bool:
        if op == "isnull":
            return (v is None) == bool(p)
        if v is None:
            return False
        if op == "in":
            return bool(v in p)
        if op == "contains":
            return str(p).lower() in str(v).lower()
        return bool(
            {
                "eq": v == p,
                "ne": v != p,
                "gt": v > p if op == "gt" else False,
                "gte": v >= p if op == "gte" else False,
                "lt": v < p if op == "lt" else False,
                "lte": v <= p if op == "lte" else False,
            }[op]
        )

    return sorted(r["id"] for r in rows if keep(r[name]))


def fetch(client: TestClient, kind: str, params: dict[str, str]) -> tuple[list[int], int]:
    resp = client.get(f"{API}/{kind}", params={"limit": "1000", **params})
    assert resp.status_code == 200, (kind, params, resp.text)
    body = resp.json()
    return [item["id"] for item in body["items"]], body["total"]


def assert_422(resp: Any, field: str) -> None:
    assert resp.status_code == 422, resp.text
    body = resp.json()
    assert set(body) == {"error"} and body["error"]["code"] == "validation_failed", body
    assert any(d.get("field") == field for d in body["error"]["details"]), body


# --- the generated matrix --------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_field_and_operator_live_and_as_of(kind: str, lists: tuple[TestClient, Rows, Rows]) -> None:
    client, live, at_t1 = lists
    failures: list[str] = []
    checked = 0
    for name, typ in columns(kind):
        for op in ALL_OPS:
            key = name if op == "eq" else f"{name}__{op}"
            for mode, rows, extra in (("live", live[kind], {}), ("as_of", at_t1[kind], {"as_of": T1})):
                if mode == "as_of" and name in KINDS[kind].observed and op in EXPECTED_OPS[typ]:
                    # observed (device facts): not in the recorded history, so not a filter of it
                    resp = client.get(f"{API}/{kind}", params={key: "1", **extra})
                    if resp.status_code != 422 or resp.json()["error"]["details"][0]["field"] != key:
                        failures.append(f"{mode} {key}: expected 422, got {resp.status_code} {resp.text[:200]}")
                    continue
                if op not in EXPECTED_OPS[typ]:
                    resp = client.get(f"{API}/{kind}", params={key: "1", **extra})
                    if resp.status_code != 422 or resp.json()["error"]["details"][0]["field"] != key:
                        failures.append(f"{mode} {key}: expected 422, got {resp.status_code} {resp.text[:200]}")
                    continue
                p = probe(rows, name, typ)
                if op == "isnull":
                    cases: list[tuple[Any, str]] = [(True, "true"), (False, "false")]
                elif op == "in":  # `in` values are comma-separated: values with a comma are left out
                    others = {
                        r[name] for r in rows if r[name] is not None and r[name] != p and "," not in text(r[name])
                    }
                    chosen = {*([p] if "," not in text(p) else []), *sorted(others, key=text)[:1]}
                    cases = [(chosen, ",".join(text(v) for v in sorted(chosen, key=text)))]
                elif op == "contains":
                    n = needle(p)
                    cases = [(n, n)]
                else:
                    cases = [(p, text(p))]
                for value, raw in cases:
                    got, total = fetch(client, kind, {key: raw, **extra})
                    want = expected_ids(rows, name, op, value)
                    checked += 1
                    if sorted(got) != want or total != len(want):
                        failures.append(f"{mode} {key}={raw!r}: got {sorted(got)} (total {total}), want {want}")
    assert not failures, "\n".join(failures)
    assert checked >= 2 * len(columns(kind))  # the matrix did run


def sort_key(rows: list[dict[str, Any]], name: str, desc: bool) -> list[int]:
    """Expected order: by the field (NULLs last in either direction), ties by id."""
    by_id = sorted(rows, key=lambda r: r["id"])
    present = sorted((r for r in by_id if r[name] is not None), key=lambda r: r[name], reverse=desc)
    return [r["id"] for r in present] + [r["id"] for r in by_id if r[name] is None]


@pytest.mark.parametrize("kind", list(KINDS))
def test_sort_and_paging_live_and_as_of(kind: str, lists: tuple[TestClient, Rows, Rows]) -> None:
    client, live, at_t1 = lists
    failures: list[str] = []
    for name, typ in columns(kind):
        if typ == "json":
            assert_422(client.get(f"{API}/{kind}", params={"sort": name}), "sort")
            continue
        for desc in (False, True):
            sort = f"-{name}" if desc else name
            for mode, rows, extra in (("live", live[kind], {}), ("as_of", at_t1[kind], {"as_of": T1})):
                if mode == "as_of" and name in KINDS[kind].observed:
                    assert_422(client.get(f"{API}/{kind}", params={"sort": sort, **extra}), "sort")
                    continue
                want = sort_key(rows, name, desc)
                got, total = fetch(client, kind, {"sort": sort, **extra})
                if got != want or total != len(want):
                    failures.append(f"{mode} sort={sort}: got {got}, want {want}")
                page, total = fetch(client, kind, {"sort": sort, "limit": "2", "offset": "1", **extra})
                if page != want[1:3] or total != len(want):
                    failures.append(
                        f"{mode} sort={sort} limit=2 offset=1: got {page} (total {total}), want {want[1:3]}"
                    )
    assert not failures, "\n".join(failures)


# --- exact answers counted by hand -----------------------------------------------------------


def codes(client: TestClient, kind: str, params: dict[str, str]) -> list[str]:
    resp = client.get(f"{API}/{kind}", params=params)
    assert resp.status_code == 200, resp.text
    return [item["code"] for item in resp.json()["items"]]


def test_hand_counted_answers(lists: tuple[TestClient, Rows, Rows]) -> None:
    client, _, _ = lists
    # booleans (classified=false answered 500 before)
    assert codes(client, "rooms", {"classified": "false", "sort": "code"}) == ["RM-a", "RM-c"]
    assert codes(client, "rooms", {"classified": "否"}) == ["RM-a", "RM-c"]
    assert codes(client, "systems", {"classified": "true"}) == ["SYS-2"]
    assert codes(client, "systems", {"business_active__ne": "true"}) == ["SYS-2"]
    # filters + sort + paging together
    assert codes(client, "systems", {"classified": "false", "sort": "-vcpus"}) == ["SYS-1", "SYS-3"]
    assert codes(client, "systems", {"memory_gb__gte": "16", "sort": "-memory_gb", "limit": "1", "offset": "1"}) == [
        "SYS-1"
    ]
    # a time without offset is Beijing time: 2024-01-01T00:00 Beijing = 2023-12-31T16:00Z
    # NET-1 changed 2023-12-31 23:30 Beijing (15:30Z), NET-3 2024-01-01 07:59:59 Beijing (23:59:59Z on 12-31)
    assert codes(client, "networks", {"status_changed_at__lt": "2024-01-01T00:00:00"}) == ["NET-1"]
    assert codes(client, "networks", {"status_changed_at__lt": "2024-01-01T00:00:00+08:00"}) == ["NET-1"]
    assert codes(client, "networks", {"status_changed_at__lt": "2024-01-01T00:00:00+00:00", "sort": "code"}) == [
        "NET-1",
        "NET-3",
    ]
    # contains: a substring, ASCII case ignored, % and _ are plain characters
    assert codes(client, "systems", {"name__contains": "oa"}) == ["SYS-2"]  # SYS-1 "OA系统" renamed at T2
    assert codes(client, "systems", {"name__contains": "oa", "as_of": T1, "sort": "code"}) == ["SYS-1", "SYS-2"]
    assert codes(client, "systems", {"name__contains": "%"}) == []
    assert codes(client, "systems", {"code__contains": "_"}) == []
    # as_of: the T0 names, filters and q apply to the past state; the region created at T2 is absent
    assert codes(client, "regions", {"as_of": T1, "sort": "code"}) == ["450000", "450100", "450102"]
    assert codes(client, "regions", {"sort": "code"}) == ["450000", "450100", "450102", "450200"]
    assert codes(client, "units", {"as_of": T1, "q": "alpha"}) == ["U-Alpha"]
    assert codes(client, "units", {"q": "alpha"}) == ["U-Alpha"]  # by code; the name changed at T2
    assert codes(client, "units", {"as_of": T1, "name__contains": "Later"}) == []
    assert codes(client, "units", {"name__contains": "later"}) == ["U-Alpha"]
    # as_of without offset = Beijing: T0 is 2024-03-01 10:00 Beijing
    assert codes(client, "rooms", {"as_of": "2024-03-01T09:59:59"}) == []
    assert codes(client, "rooms", {"as_of": "2024-03-01T10:00:00", "sort": "code"}) == ["RM-B", "RM-a", "RM-c"]
    assert codes(client, "rooms", {"as_of": "2024-03-01T02:00:00+00:00", "classified": "true"}) == ["RM-B"]


def test_returned_times_carry_their_offset(lists: tuple[TestClient, Rows, Rows]) -> None:
    client, _, _ = lists
    body = client.get(f"{API}/networks", params={"code": "NET-1", "as_of": "2024-04-01T00:00:00"}).json()
    assert body["as_of"] == "2024-03-31T16:00:00+00:00"
    assert body["items"][0]["status_changed_at"] == "2023-12-31T15:30:00+00:00"
    live = client.get(f"{API}/networks", params={"code": "NET-1"}).json()["items"][0]
    assert live["status_changed_at"] == "2023-12-31T15:30:00+00:00"
    for stamp in ("created_at", "updated_at"):
        assert live[stamp].endswith("+00:00"), live
    changes = client.get(f"{API}/changes", params={"kind": "networks", "since": "2024-06-01T10:00:00"}).json()
    assert [c["at"] for c in changes["items"]] == ["2024-06-01T02:00:00+00:00"]  # the T2 rename only
    history = client.get(f"{API}/networks/{live['id']}/changes").json()["items"]
    assert [h["at"] for h in history] == ["2024-06-01T02:00:00+00:00", "2024-03-01T02:00:00+00:00"]


def test_live_pages_are_the_bytes_the_page_model_writes(lists: tuple[TestClient, Rows, Rows]) -> None:
    """Live pages are written from the rows without the response model (speed); every kind's page must be the
    very bytes the page model would write: no extra or missing field, times with their offset, floats as floats."""
    client, live, _ = lists
    for kind in KINDS:
        resp = client.get(f"{API}/{kind}", params={"limit": "1000"})
        assert resp.status_code == 200 and resp.headers["content-type"] == "application/json", (kind, resp.text)
        model = page_schema(kind).model_validate(resp.json())
        assert resp.content == model.model_dump_json(exclude_unset=True).encode(), kind
        assert len(model.items) == len(live[kind]), kind  # type: ignore[attr-defined]
    first = client.get(f"{API}/networks", params={"code": "NET-1"}).json()
    assert set(first) == {"items", "total", "limit", "offset"} and first["total"] == 1
    assert first["items"][0]["status_changed_at"] == "2023-12-31T15:30:00+00:00"


def test_server_timestamps_live_only(lists: tuple[TestClient, Rows, Rows]) -> None:
    client, live, _ = lists
    assert fetch(client, "regions", {"created_at__gte": "2000-01-01"})[1] == len(live["regions"]) == 4
    assert fetch(client, "regions", {"created_at__lt": "2000-01-01"})[1] == 0
    assert_422(client.get(f"{API}/regions", params={"as_of": T1, "created_at__gte": "2000-01-01"}), "created_at__gte")
    assert_422(client.get(f"{API}/regions", params={"as_of": T1, "sort": "-updated_at"}), "sort")


BAD: list[tuple[str, dict[str, str], str]] = [
    ("systems", {"vcpus__gt": "abc"}, "vcpus__gt"),
    ("systems", {"vcpus": str(2**63)}, "vcpus"),
    ("systems", {"id__in": f"1,{2**63}"}, "id__in"),
    ("systems", {"memory_gb__lt": "nan"}, "memory_gb__lt"),
    ("systems", {"memory_gb": "Infinity"}, "memory_gb"),
    ("systems", {"classified": "maybe"}, "classified"),
    ("systems", {"classified__gt": "true"}, "classified__gt"),
    ("systems", {"vcpus__contains": "1"}, "vcpus__contains"),
    ("systems", {"status": "bogus"}, "status"),
    ("systems", {"status__gte": "migrated"}, "status__gte"),
    ("systems", {"last_access_at": "2024-13-01"}, "last_access_at"),
    ("systems", {"status_changed_at__gt": "yesterday"}, "status_changed_at__gt"),
    ("systems", {"nosuch": "1"}, "nosuch"),
    ("systems", {"vcpus__like": "1"}, "vcpus__like"),
    ("systems", {"sort": "nosuch"}, "sort"),
    ("systems", {"limit": "0"}, "limit"),
    ("systems", {"limit": "1001"}, "limit"),
    ("systems", {"limit": str(2**63)}, "limit"),
    ("systems", {"offset": "-1"}, "offset"),
    ("systems", {"offset": str(2**63)}, "offset"),
    ("systems", {"id__isnull": "maybe"}, "id__isnull"),
    ("devices", {"facts__isnull": "true"}, "facts__isnull"),
    ("systems", {"as_of": "not-a-time"}, "as_of"),
    ("systems", {"as_of": T1, "vcpus": "x"}, "vcpus"),
]


@pytest.mark.parametrize(
    ("kind", "params", "field"), BAD, ids=[next(iter(p)) + "=" + p[next(iter(p))] for _, p, _ in BAD]
)
def test_invalid_operator_or_value_is_422(kind: str, params: dict[str, str], field: str, admin: TestClient) -> None:
    assert_422(admin.get(f"{API}/{kind}", params=params), field)


def test_typed_matrix_covers_every_column() -> None:
    """Every column of every kind has a known filter type (a new column type fails here first)."""
    seen: Callable[[], set[str]] = lambda: {t for k in KINDS for _, t in columns(k)}  # noqa: E731
    assert seen() <= set(EXPECTED_OPS)
    assert {"str", "enum", "bool", "int", "float", "date", "datetime", "json"} <= seen()
