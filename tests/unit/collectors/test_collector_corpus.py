"""Real-world outputs (tests/unit/collectors/corpus, sources in SOURCES.md) parsed into the facts an
operator would read off the text by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from collectors import device_facts as F

CORPUS = Path(__file__).with_name("corpus")


def read(platform: str, fact: str, name: str) -> Any:
    p = F.PLATFORMS[platform]
    return F.READERS[fact](p, F.clean((CORPUS / name).read_text(), command=p.commands[fact]))


VERSIONS = [
    (
        "huawei",
        "huawei_vrp/display_version_vrp8_ne40e.txt",
        {"os": "VRP8", "version": "8.180", "release": "V800R011C00SPC200", "model": "NE40E-X2-M8A"},
        161 * 86400 + 20 * 60,
    ),
    (
        "huawei",
        "huawei_vrp/display_version_vrp5_ar6280.txt",
        {"os": "VRP5", "version": "5.170", "release": "V300R019C10SPC300", "model": "AR6280"},
        60 * 604800 + 4 * 86400 + 11 * 3600 + 20 * 60,
    ),
    (
        "hp_comware",
        "hp_comware/display_version_cw7_hpe5945.txt",
        {
            "vendor": "HPE",
            "os": "Comware7",
            "version": "7.1.070",
            "release": "6710P01-US",
            "model": "FF 5945 32QSFP28 Switch",
        },
        84 * 604800 + 2 * 86400 + 3 * 3600 + 51 * 60,
    ),
    (
        "hp_comware",
        "hp_comware/display_version_cw5_s7510e.txt",
        {"vendor": "H3C", "os": "Comware5", "version": "5.20", "release": "6709L25", "model": "S7510E"},
        309 * 604800 + 86400 + 16 * 3600 + 15 * 60,
    ),
    (
        "zte_zxros",
        "zte_zxros/show_version_zxctn6120hs.txt",
        {"vendor": "ZTE", "version": "V5.10.00.50", "model": "ZXCTN 6120H-S"},
        23 * 86400 + 10 * 3600 + 59 * 60,
    ),
    (
        "cisco_ios",
        "cisco_ios/show_version_iosxe_asr1001.txt",
        {
            "os": "IOS-XE",
            "version": "15.3(2)S1",
            "release": "03.09.01.S",
            "model": "ASR1001",
            "serials": ["SSI1289001MH"],
        },
        86400 + 15 * 3600 + 32 * 60,
    ),
    (
        "ruijie_os",
        "ruijie_os/show_version_s8600e_modules.txt",
        {"version": "11.0(4)B8", "release": "B8", "model": "S8607E", "serials": ["G1XXXXXXXX020", "G1XXXXXXXX131"]},
        313 * 86400 + 22 * 3600 + 34 * 60 + 30,
    ),
]


@pytest.mark.parametrize(("platform", "name", "expected", "uptime"), VERSIONS, ids=[v[1] for v in VERSIONS])
def test_version_model_release_serials_and_uptime(
    platform: str, name: str, expected: dict[str, Any], uptime: int
) -> None:
    got = read(platform, "version", name)
    assert {k: got.get(k) for k in expected} == expected
    assert got["uptime_seconds"] == uptime


INTERFACES = [  # (platform, file, total, by physical state, by protocol state), counted in the files by hand
    ("huawei", "huawei_vrp/display_interface_brief_eth_trunks.txt", 18, {"down": 1, "up": 17}, {"down": 3, "up": 15}),
    (
        "hp_comware",
        "hp_comware/display_interface_brief_route_and_bridge.txt",
        11,
        {"down": 7, "up": 4},
        {"down": 3, "unknown": 4, "up": 4},  # bridge-mode rows have no protocol column
    ),
    ("zte_zxros", "zte_zxros/show_interface_brief_36ports.txt", 36, {"admin_down": 32, "up": 4}, {"down": 32, "up": 4}),
]


@pytest.mark.parametrize(("platform", "name", "total", "phy", "proto"), INTERFACES, ids=[i[1] for i in INTERFACES])
def test_interface_counts_by_physical_and_protocol_state(
    platform: str, name: str, total: int, phy: dict[str, int], proto: dict[str, int]
) -> None:
    rows = read(platform, "interfaces", name)
    assert len(rows) == total
    assert F.count([r["physical"] for r in rows]) == phy
    assert F.count([r["protocol"] for r in rows]) == proto


def test_comware_serials_are_the_chassis_and_slots_not_fans_or_power_supplies() -> None:
    rows = read("hp_comware", "serials", "hp_comware/display_device_manuinfo_5930.txt")
    assert [r["serial"] for r in rows] == ["CN43GG2001"]


def test_cisco_inventory_serial_is_the_chassis_not_its_modules() -> None:
    rows = read("cisco_ios", "serials", "cisco_ios/show_inventory_3640.txt")
    assert [(r["member"], r["serial"]) for r in rows] == [("3640 chassis", "FF1045C5")]


def test_a_whole_device_from_corpus_outputs_is_ok_with_missing_optional_commands_listed() -> None:
    outputs = {
        "version": (CORPUS / "huawei_vrp/display_version_vrp8_ne40e.txt").read_text(),
        "interfaces": (CORPUS / "huawei_vrp/display_interface_brief_eth_trunks.txt").read_text(),
        "cpu": "                  ^\nError: Unrecognized command found at '^' position.\n",
    }
    facts = F.parse_facts(F.PLATFORMS["huawei"], outputs, "<PE-NE40E>")
    assert (facts["hostname"], facts["release"], facts["interfaces_total"]) == ("PE-NE40E", "V800R011C00SPC200", 18)
    assert facts["unsupported"] == ["display esn", "display cpu-usage", "display memory-usage"]
    assert "cpu" not in facts and "serials" not in facts


def test_notice_lines_and_prompt_fragments_do_not_empty_a_template() -> None:
    text = (CORPUS / "huawei_vrp/display_interface_brief_eth_trunks.txt").read_text()
    noisy = (
        "display interface brief\n"
        "Info: The max number of VTY users is 20, and the number\n      of current VTY users on line is 1.\n"
        + text
        + "<PE-NE"  # the first packet of the next prompt
    )
    rows = F.READERS["interfaces"](F.PLATFORMS["huawei"], F.clean(noisy, "<PE-NE40E>", "display interface brief"))
    assert len(rows) == 18


def test_an_unexpected_line_is_a_parse_failure_with_the_raw_excerpt_never_an_empty_success() -> None:
    text = (CORPUS / "huawei_vrp/display_version_vrp5_ar6280.txt").read_text()
    broken = "Huawei Versatile Routing Platform Software\nLicense expires in 3 days!\n" + text
    with pytest.raises(F.ParseFailure) as err:
        F.parse_facts(F.PLATFORMS["huawei"], {"version": broken, "interfaces": "x"}, "<AR>")
    assert err.value.command == "display version"
    assert err.value.excerpt.startswith("Huawei Versatile Routing Platform Software\nLicense expires in 3 days!")
    with pytest.raises(F.ParseFailure) as err2:
        F.parse_facts(F.PLATFORMS["huawei"], {"version": text, "interfaces": "garbage\n"}, "<AR>")
    assert (err2.value.command, err2.value.excerpt) == ("display interface brief", "garbage\n")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1 year, 2 weeks, 3 days, 4 hours, 5 minutes", 31536000 + 1209600 + 259200 + 14400 + 300),
        ("0 week, 1 day, 0 hour, 1 minute", 86400 + 60),
        ("23 day(s), 10 hour(s), 59 minute(s)", 23 * 86400 + 10 * 3600 + 59 * 60),
        ("313:22:34:30", 313 * 86400 + 22 * 3600 + 34 * 60 + 30),
        ("N/A", None),
    ],
)
def test_uptime_is_normalised_to_seconds(text: str, seconds: int | None) -> None:
    assert F.uptime_seconds(text) == seconds


def test_huawei_patch_information_gives_the_running_patch() -> None:
    assert read("huawei", "patch", "huawei_vrp/display_patch-information_v600r021.txt") == {
        "patch": "V600R021SPH001",
        "patch_package": "flash:/RPG_PNFV600R021SPH001.PAT",
        "patch_state": "running",
    }


def test_huawei_patch_information_is_asked_only_when_display_version_has_no_patch_line() -> None:
    p = F.PLATFORMS["huawei"]
    without = (CORPUS / "huawei_vrp/display_version_vrp8_ne40e.txt").read_text()  # no `Patch version` line
    assert "display patch-information" in p.commands_for(without).values()
    with_line = without + "Patch Version: V800R011SPH120\n"
    assert "display patch-information" not in p.commands_for(with_line).values()
    outputs = {
        "version": without,
        "patch": (CORPUS / "huawei_vrp/display_patch-information_v600r021.txt").read_text(),
        "interfaces": (CORPUS / "huawei_vrp/display_interface_brief_eth_trunks.txt").read_text(),
    }
    facts = F.parse_facts(p, outputs, "<PE-NE40E>")
    assert (facts["release"], facts["patch"], facts["patch_state"]) == (
        "V800R011C00SPC200",
        "V600R021SPH001",
        "running",
    )
    assert "display patch-information" not in facts["unsupported"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Info: No patch exists.\n", None),  # the notice is removed by clean(): nothing left, no patch
        (
            "Patch Package Name    :flash:/P.PAT\nPatch Package Version :V200R019SPH011\nPatch Package State   :Idle\n",
            None,
        ),
    ],
)
def test_huawei_no_patch_or_an_idle_package_is_no_running_patch(text: str, expected: str | None) -> None:
    outputs = {
        "version": (CORPUS / "huawei_vrp/display_version_vrp5_ar6280.txt").read_text(),
        "patch": text,
        "interfaces": (CORPUS / "huawei_vrp/display_interface_brief_eth_trunks.txt").read_text(),
    }
    assert F.parse_facts(F.PLATFORMS["huawei"], outputs, "<AR>")["patch"] is expected


def test_huawei_patch_output_that_does_not_parse_is_a_parse_failure() -> None:
    with pytest.raises(F.ParseFailure) as e:
        read_text = "%%% garbage ###\n"
        F.READERS["patch"](F.PLATFORMS["huawei"], read_text)
    assert e.value.command == "display patch-information"


def test_zte_board_stanzas_of_a_real_output_are_read_board_by_board() -> None:
    """The board stanzas of the captured ZXCTN `show version` (no serial lines in it): four boards, read
    with the template that reads `show board-info`, and no serial invented for any of them."""
    from collectors import templates

    text = (CORPUS / "zte_zxros/show_version_zxctn6120hs_all_boards.txt").read_text()
    rows = templates.parse("zte_zxros", "show board-info", text)
    assert [(r["board"], r["shelf"], r["slot"]) for r in rows] == [
        ("SMGD", "1", "1"),
        ("FAN", "1", "2"),
        ("PW1DC", "1", "3"),
        ("PW1DC", "1", "4"),
    ]
    assert read("zte_zxros", "serials", "zte_zxros/show_version_zxctn6120hs_all_boards.txt") == []


def test_zte_without_show_board_info_lists_it_unsupported_and_still_succeeds() -> None:
    outputs = {
        "version": (CORPUS / "zte_zxros/show_version_zxctn6120hs.txt").read_text(),
        "serials": "show board-info\n            ^\n% Invalid input detected at '^' marker.\n",
        "interfaces": (CORPUS / "zte_zxros/show_interface_brief_36ports.txt").read_text(),
    }
    facts = F.parse_facts(F.PLATFORMS["zte_zxros"], outputs, "ZTE#")
    assert "show board-info" in facts["unsupported"] and "serials" not in facts
    assert facts["interfaces_total"] == 36
