"""Which vantage probes which node: a city node assigned to a vantage takes its subtree; deeper wins."""

from __future__ import annotations

import pytest

from collectors import vantages
from core.db import Database
from tests.builders import Inv


def test_parse_reads_the_setting_and_refuses_bad_entries() -> None:
    assert vantages.parse(" nanning=GX-NN, GX-NN2 ; liuzhou=GX-LZ;") == {
        "nanning": ("GX-NN", "GX-NN2"),
        "liuzhou": ("GX-LZ",),
    }
    assert vantages.parse("") == {}
    # central: the nodes of none; one node in two vantages: which would probe it?
    for bad in ("nanning", "Nanning=GX", "nanning=", "a b=GX", "central=GX", "a=GX-NN;b=GX-LZ,GX-NN"):
        with pytest.raises(ValueError):
            vantages.parse(bad)
    assert (vantages.probe_queue("nanning"), vantages.probe_queue(None)) == ("probe.nanning", "probe")


def test_split_gives_each_vantage_its_subtree(any_db: Database) -> None:
    with any_db.session() as s:
        inv = Inv(s)
        r = inv.region("region", code="450000", name="广西壮族自治区")
        gx = inv.node(r, code="GX")
        nn = inv.node(r, "city", gx, code="NN")
        xn = inv.node(r, "county", nn, code="NN-XN")
        xn_town = inv.node(r, "township", xn, code="NN-XN-1")
        lz = inv.node(r, "city", gx, code="LZ")
        lz_county = inv.node(r, "county", lz, code="LZ-LB")
    with any_db.read_session() as s:
        assert vantages.split(s, {}, None) == {None: None}  # no vantages: one sweep of everything, as today
        got = vantages.split(s, {"nanning": ("NN",), "xingning": ("NN-XN",), "liuzhou": ("LZ",)}, None)
        assert got == {None: [gx], "nanning": [nn], "xingning": [xn, xn_town], "liuzhou": [lz, lz_county]}
        assert vantages.split(s, {"liuzhou": ("LZ",)}, [gx, lz_county]) == {None: [gx], "liuzhou": [lz_county]}


def test_a_code_named_twice_in_one_vantage_counts_once() -> None:
    # by hand: GX-A twice in nn (in one entry and in a second entry of nn) → nn has GX-A and GX-B, once each
    assert vantages.parse("nn=GX-A,GX-A;nn=GX-B,GX-A") == {"nn": ("GX-A", "GX-B")}
