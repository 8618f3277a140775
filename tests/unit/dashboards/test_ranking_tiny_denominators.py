"""Rankings with tiny denominators: a unit at 1/1 is not "first" — too few items are listed apart, ties say so.

Figures are counted by hand from the table in each test; the ranking code only orders them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from dashboards.rates import Breakdown, RateKey, RateReport, make_rate
from dashboards.report import TOO_FEW, ranking

SYS, NET = RateKey.SYSTEMS_MIGRATED, RateKey.NETWORKS_INTERCONNECTED
AT = datetime(2024, 2, 29, 16, 0, tzinfo=UTC)


def reports(units: dict[str, dict[RateKey, tuple[int, int]]]) -> dict[RateKey, RateReport]:
    """One report per rate key, with a unit breakdown per unit: (numerator, denominator)."""
    out: dict[RateKey, RateReport] = {}
    for key in (SYS, NET):
        rows = [
            Breakdown("unit", code, f"单位{code}", make_rate(key, *rates[key], 1.0))
            for code, rates in units.items()
            if key in rates
        ]
        out[key] = RateReport(key, key.value, key.value, AT, make_rate(key, 0, 0, 1.0), rows, {})
    return out


# A 1/1 unit, a 2/2 one, thirty 1/1 units in the old demo's story, and units with enough items.
TABLE = {
    "A": {SYS: (3, 4), NET: (1, 1)},  # 5 items; score (3/4 + 1) / 2 = 0.875
    "B": {SYS: (1, 1)},  # 1 item: too few (1 < 3), although its score is 1.0
    "C": {SYS: (2, 2), NET: (0, 0)},  # 2 items (NET has no denominator): too few; score 1.0
    "D": {SYS: (3, 3)},  # 3 items: ranked, score 1.0
    "E": {SYS: (6, 8), NET: (1, 1)},  # 9 items; score (0.75 + 1) / 2 = 0.875: tied with A
    "F": {SYS: (0, 5)},  # 5 items; score 0.0
    "G": {SYS: (0, 0)},  # nothing counted: no score, last
}


def test_too_few_items_are_listed_apart_and_ties_say_so() -> None:
    rows = ranking(reports(TABLE), "unit")
    got = [(r.rank, r.key, r.items, r.tied, r.too_few) for r in rows]
    assert got == [
        (1, "D", 3, 1, False),
        (2, "A", 5, 2, False),
        (2, "E", 9, 2, False),
        (4, "F", 5, 1, False),
        (None, "B", 1, 1, True),
        (None, "C", 2, 1, True),
        (None, "G", 0, 1, False),
    ]
    notes = {r.key: r.note for r in rows}
    assert notes["A"] == notes["E"] == "并列第2名，共2个 / tied for rank 2 with 1 others"
    assert notes["B"] == f"{TOO_FEW}（1 < 3）"
    assert notes["C"] == f"{TOO_FEW}（2 < 3）"
    assert notes["D"] is None and notes["F"] is None and notes["G"] is None


def test_thirty_units_at_one_of_one_are_not_thirty_firsts() -> None:
    table = {f"U{i:02d}": {SYS: (1, 1)} for i in range(30)} | {"BIG": {SYS: (7, 10)}}
    rows = ranking(reports(table), "unit")
    ranked = [r for r in rows if r.rank is not None]
    assert [(r.rank, r.key) for r in ranked] == [(1, "BIG")]
    assert sum(r.too_few for r in rows) == 30


def test_the_minimum_is_settable() -> None:
    rows = ranking(reports(TABLE), "unit", min_items=1)
    # with a minimum of 1, B (1/1), C (2/2) and D (3/3) share rank 1 at score 1.0: three tied
    assert [(r.rank, r.key, r.tied) for r in rows[:3]] == [(1, "B", 3), (1, "C", 3), (1, "D", 3)]
    assert [(r.rank, r.key) for r in rows[3:]] == [(4, "A"), (4, "E"), (6, "F"), (None, "G")]
    assert not any(r.too_few for r in rows)
    rows = ranking(reports(TABLE), "unit", min_items=6)
    assert [(r.rank, r.key) for r in rows if not r.too_few] == [(1, "E"), (None, "G")]
