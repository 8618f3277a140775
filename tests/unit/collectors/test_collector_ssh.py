"""SSH collection without a network: simulated vendor outputs → facts, failure reasons, retries, decoding."""

from __future__ import annotations

import base64
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import paramiko
import pytest
from netmiko.exceptions import NetmikoAuthenticationException, ReadTimeout
from pydantic import SecretStr

from collectors import device_facts, ssh
from collectors.credentials import Credential

SIM = Path(__file__).resolve().parents[2] / "env" / "testnet" / "devicesim.py"
PASSWORD = "Sup3r-Secret-Pw"


@pytest.fixture(scope="module")
def sim() -> ModuleType:
    spec = importlib.util.spec_from_file_location("devicesim_for_tests", SIM)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["devicesim_for_tests"] = module
    spec.loader.exec_module(module)
    return module


def outputs(sim: ModuleType, kind: str, device_type: str) -> dict[str, str]:
    """What the collector would read from the simulator: the version first, then the commands it decides on."""
    p = device_facts.PLATFORMS[device_type]
    version = sim.COMMANDS[kind][p.commands["version"]]("HOST")
    asked = p.commands_for(version)
    return {fact: sim.COMMANDS[kind][c]("HOST") for fact, c in asked.items() if c in sim.COMMANDS[kind]}


def facts(sim: ModuleType, kind: str, device_type: str, prompt: str) -> dict[str, Any]:
    return device_facts.parse_facts(device_facts.PLATFORMS[device_type], outputs(sim, kind, device_type), prompt)


def test_huawei_vrp_stack_facts(sim: ModuleType) -> None:
    f = facts(sim, "huawei", "huawei", "<GX-HW-1-1>")
    assert (f["hostname"], f["vendor"], f["os"], f["version"]) == ("GX-HW-1-1", "Huawei", "VRP5", "5.170")
    assert (f["model"], f["release"]) == ("S5720-28X-SI-AC", "V200R019C10SPC500")
    # no `Patch version` line in its display version, so display patch-information was asked
    assert (f["patch"], f["patch_state"]) == ("V200R019SPH011", "running")
    assert [s["serial"] for s in f["serials"]] == ["2102350DLL10K9000123", "2102350DLL10K9000456"]
    assert f["cpu"] == {"percent": 11.0, "period_seconds": 300}  # the five-minute figure
    assert f["memory"] == {"percent": 32.0, "period_seconds": 0, "total_bytes": 1073741824, "used_bytes": 343597383}
    assert f["interfaces_total"] == 5 and f["interfaces_by_physical"] == {"admin_down": 1, "up": 4}
    assert f["interfaces_by_protocol"] == {"down": 1, "up": 4} and f["unsupported"] == []


def test_comware_facts_come_from_project_templates(sim: ModuleType) -> None:
    f = facts(sim, "comware", "hp_comware", "<GX-H3C-2-1>")
    assert (f["os"], f["version"], f["release"], f["model"]) == ("Comware7", "7.1.064", "0821P11", "S5560X-30C-EI")
    assert [s["serial"] for s in f["serials"]] == ["219801A2A58203Q00012", "219801A2A58203Q00034"]  # no fan
    assert f["cpu"] == {"percent": 3.0, "period_seconds": 300}
    assert f["memory"]["percent"] == 60.5  # 100 - FreeRatio 39.5%
    assert f["interfaces_total"] == 6 and f["interfaces_by_protocol"] == {"unknown": 3, "up": 3}


def test_cisco_ios_stack_serials_cpu_and_memory(sim: ModuleType) -> None:
    f = facts(sim, "cisco", "cisco_ios", "GX-CS-3-1#")
    assert (f["version"], f["model"], f["os"]) == ("15.0(2)SE11", "WS-C3750X-48P", "IOS")
    assert [s["serial"] for s in f["serials"]] == ["FDO1633Q14S", "FDO1712R0AB"]  # both stack members
    assert f["cpu"] == {"percent": 7.0, "period_seconds": 300}
    assert f["memory"]["percent"] == round(100 * 235424616 / 786957564, 1) == 29.9
    assert f["interfaces_by_physical"] == {"admin_down": 1, "down": 1, "up": 2}


def test_ruijie_and_zte_facts(sim: ModuleType) -> None:
    rj = facts(sim, "ruijie", "ruijie_os", "GX-RJ-4-1#")
    assert (rj["version"], rj["release"], rj["model"]) == ("11.4(1)B74P2", "B74P2", "S6000C-48GT4XS-E")
    assert rj["cpu"] == {"percent": 4.4, "period_seconds": 300} and rj["memory"]["percent"] == 36.7
    assert rj["interfaces_by_physical"] == {"admin_down": 1, "down": 1, "up": 2}
    zte = facts(sim, "zte", "zte_zxros", "GX-ZTE-5-1#")
    assert (zte["version"], zte["model"]) == ("V5.10.00.50", "ZXCTN 6120H-S")
    # both stack members' main boards; fans and power boards print N/A
    assert zte["serials"] == [
        {"member": "1/1", "serial": "219000734530", "name": "SMGD"},
        {"member": "2/1", "serial": "219000734611", "name": "SMGD"},
    ]
    assert zte["cpu"] == {"percent": 8.0, "period_seconds": 120}
    assert zte["memory"]["percent"] == 37.5  # (8192 - 5120) / 8192
    assert zte["interfaces_by_physical"] == {"admin_down": 1, "down": 1, "up": 1}


def test_no_silent_cap_on_interfaces(sim: ModuleType) -> None:
    out = {**outputs(sim, "huawei", "huawei"), "interfaces": sim.vrp_many_brief("H")}
    f = device_facts.parse_facts(device_facts.PLATFORMS["huawei"], out, "<H>")
    assert f["interfaces_total"] == 25 * 48 == len(f["interfaces"])
    assert f["interfaces_by_physical"] == {"down": 25 * 12, "up": 25 * 36}


def test_garbled_output_is_a_parse_failure(sim: ModuleType) -> None:
    with pytest.raises(device_facts.ParseFailure):
        device_facts.parse_facts(device_facts.PLATFORMS["huawei"], {"version": sim.garbage("x")}, "<x>")


def test_frr_behind_cisco_ios_is_read_with_its_own_commands() -> None:
    p = device_facts.flavour("cisco_ios", "FRRouting 8.4.4 (vm) on Linux(6.1).\n")
    assert p is device_facts.FRR
    f = device_facts.parse_facts(
        p,
        {
            "version": "FRRouting 8.4.4 (vm) on Linux(6.1).\n",
            "interfaces": "Interface       Status  VRF             Addresses\n---------       ------  ---             ---------\n"
            "lo              up      default         172.23.201.1/32\neth9            down    default\n",
        },
        "ywr1#",
    )
    assert (f["vendor"], f["version"], f["interfaces_total"], f["interfaces_up"]) == ("FRRouting", "8.4.4", 2, 1)


def test_gbk_and_utf8_are_told_apart_and_a_known_encoding_is_tried_first() -> None:
    gbk = "<南宁核心-6>".encode("gbk").decode("latin-1")
    utf8 = "<南宁核心-6>".encode().decode("latin-1")
    assert ssh.decode(gbk, None) == ("<南宁核心-6>", "gbk")
    assert ssh.decode(utf8, None) == ("<南宁核心-6>", "utf-8")
    assert ssh.decode(gbk, "gbk") == ("<南宁核心-6>", "gbk")
    assert ssh.decode("<plain>", "gbk") == ("<plain>", "gbk")


CRED = Credential("netops", SecretStr(PASSWORD))
TARGET = ssh.SshTarget("192.0.2.10", "huawei", device_id=7)


def _session_raising(exc: BaseException, calls: list[Any]) -> Any:
    def session(*args: Any) -> Any:
        calls.append(args)
        raise exc

    return session


def test_authentication_failure_is_never_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    exc = NetmikoAuthenticationException(f"Authentication to device failed (tried {PASSWORD})")
    monkeypatch.setattr(ssh, "_session", _session_raising(exc, calls))
    r = ssh.collect(TARGET, CRED, ssh.SshOptions(retries=3))
    assert (r.ok, r.error, len(calls)) == (False, "auth_failed", 1)
    assert PASSWORD not in repr(r)


def test_a_changed_host_key_is_refused_and_never_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    exc = paramiko.BadHostKeyException("192.0.2.10", paramiko.RSAKey.generate(1024), paramiko.RSAKey.generate(1024))
    monkeypatch.setattr(ssh, "_session", _session_raising(exc, calls))
    r = ssh.collect(TARGET, CRED, ssh.SshOptions(retries=3))
    assert (r.ok, r.error, len(calls), r.facts) == (False, "host_key_changed", 1, None)


# Two fixed keys and their fingerprints as `ssh-keygen -lf` prints them (not computed by the code under test).
TRUSTED = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
TRUSTED_FP = "SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU"
NEW = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA1aR9fNe7ikZ5CgLlGqFr6rLqHRYf2o5jXgX9l0b0cz"
NEW_FP = "SHA256:kUvnjjv9BadKNFKhLXP35a5crOWQmzNFAJEBuQB5HH8"


def test_a_changed_host_key_reports_the_new_keys_fingerprint_beside_the_trusted_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def key(text: str) -> paramiko.PKey:
        return paramiko.Ed25519Key(data=base64.b64decode(text.split()[1]))

    exc = paramiko.BadHostKeyException("192.0.2.10", key(NEW), key(TRUSTED))
    monkeypatch.setattr(ssh, "_session", _session_raising(exc, []))
    r = ssh.collect(TARGET, CRED, ssh.SshOptions(retries=0))
    assert r.error == "host_key_changed" and r.host_key == NEW
    assert r.detail == f"host key changed: presented {NEW_FP}, trusted {TRUSTED_FP}; session refused"
    assert len(r.detail) <= 200  # fits the stored detail column
    assert ssh.presented_fingerprint(r.detail) == NEW_FP
    assert ssh.presented_fingerprint("authentication failed") is None


def test_timeouts_are_retried_then_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    monkeypatch.setattr(ssh, "_session", _session_raising(ReadTimeout("pattern not detected"), calls))
    r = ssh.collect(TARGET, CRED, ssh.SshOptions(retries=2))
    assert (r.ok, r.error, len(calls)) == (False, "timeout", 3)


def test_paging_left_on_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    exc = ssh.PagingNotDisabled("display interface brief", "Interface  PHY\nGE0/0/1 up\n  ---- More ----")
    monkeypatch.setattr(ssh, "_session", _session_raising(exc, calls))
    r = ssh.collect(TARGET, CRED, ssh.SshOptions(retries=2))
    assert (r.ok, r.error, len(calls)) == (False, "paging_not_disabled", 1)
    assert r.excerpt is not None and r.excerpt.endswith("---- More ----")


def test_an_unparseable_answer_is_parse_error_with_an_excerpt_not_ok(
    monkeypatch: pytest.MonkeyPatch, sim: ModuleType
) -> None:
    def session(*args: Any) -> ssh.Session:
        raw = {"version": sim.vrp_version("H"), "interfaces": "Interface PHY Protocol\nsomething new\n"}
        return ssh.Session(raw, "<H>", device_facts.PLATFORMS["huawei"], "ssh-ed25519 AAAA")

    monkeypatch.setattr(ssh, "_session", session)
    r = ssh.collect(TARGET, CRED, ssh.SshOptions())
    assert (r.ok, r.error, r.facts) == (False, "parse_error", None)
    assert r.excerpt == "Interface PHY Protocol\nsomething new\n"
    assert r.detail == "unparseable output of display interface brief (no rows)"


def test_missing_credential_and_unknown_platform_are_results_not_exceptions() -> None:
    assert ssh.collect(TARGET, None, ssh.SshOptions()).error == "no_credential"
    odd = ssh.SshTarget("192.0.2.10", "juniper_junos")
    assert ssh.collect(odd, CRED, ssh.SshOptions()).error == "bad_target"


def test_more_prompts_are_recognised() -> None:
    for text in ("  ---- More ----", " --More-- ", "<--- More --->"):
        assert ssh.MORE.search(text)
    assert not ssh.MORE.search("Moreover the interface is up")


def test_cached_template_parsing_matches_ntc_templates_parse_output(sim: ModuleType) -> None:
    from ntc_templates.parse import parse_output

    from collectors import templates

    cases = [
        ("huawei_vrp", "display version", sim.vrp_version("H")),
        ("huawei_vrp", "display interface brief", sim.vrp_int_brief("H")),
        ("hp_comware", "display interface brief", sim.comware_int_brief("H")),
        ("cisco_ios", "show version", sim.ios_version("H")),
        ("cisco_ios", "show ip interface brief", sim.ios_int_brief("H")),
        ("cisco_ios", "show processes cpu", sim.ios_cpu("H")),
    ]
    for platform, command, data in cases:
        expected = parse_output(platform=platform, command=command, data=data)
        assert expected and templates.parse(platform, command, data) == expected
        assert templates.parse(platform, command, data) == expected  # cached FSM, same rows again
    assert templates.parse("huawei_vrp", "display version", sim.garbage("x")) == []
    path = templates.template_path("hp_comware", "display version")
    assert path is not None and path.endswith("collectors/textfsm/hp_comware_display_version.textfsm")
