"""Parsing simulated vendor outputs with ntc-templates, and the retry policy (never on auth failure)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from netmiko.exceptions import NetmikoAuthenticationException, ReadTimeout
from pydantic import SecretStr

from collectors import ssh
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
    p = ssh.PLATFORMS[device_type]
    cmds = {"version": p.version, "interfaces": p.interfaces, "cpu": p.cpu, "memory": p.memory}
    return {fact: sim.COMMANDS[kind][c]("HOST") for fact, c in cmds.items() if c and c in sim.COMMANDS[kind]}


def test_huawei_vrp_facts_come_from_ntc_templates(sim: ModuleType) -> None:
    f = ssh.parse_facts("huawei", outputs(sim, "huawei", "huawei"), "<GX-HW-1-1>")
    assert (f["hostname"], f["version"], f["parsed_by"]) == ("GX-HW-1-1", "5.170", "ntc-templates")
    assert f["interfaces_up"] == 4 and f["cpu_percent"] == 12.0 and f["memory_percent"] == 32.0


def test_cisco_ios_facts_include_cpu_from_its_template(sim: ModuleType) -> None:
    f = ssh.parse_facts("cisco_ios", outputs(sim, "cisco", "cisco_ios"), "GX-CS-3-1#")
    assert (f["hostname"], f["version"], f["model"]) == ("GX-CS-3-1", "15.0(2)SE11", "WS-C3750X-48P")
    assert f["cpu_percent"] == 7.0 and [i["status"] for i in f["interfaces"]][:2] == ["up", "up"]


def test_comware_and_ruijie_fall_back_to_a_version_regex(sim: ModuleType) -> None:
    h3c = ssh.parse_facts("hp_comware", outputs(sim, "comware", "hp_comware"), "<GX-H3C-2-1>")
    assert (h3c["version"], h3c["model"], h3c["cpu_percent"]) == ("7.1.064", "S5560X-30C-EI", 3.0)
    assert len(h3c["interfaces"]) == 6  # route-mode and bridge-mode tables, via the hp_comware template
    rj = ssh.parse_facts("ruijie_os", outputs(sim, "ruijie", "ruijie_os"), "GX-RJ-4-1#")
    assert (rj["version"], rj["model"]) == ("S6000C_RGOS 11.4(1)B74P2", "S6000C-48GT4XS-E")


def test_garbled_output_is_refused(sim: ModuleType) -> None:
    with pytest.raises(ssh.GarbledOutput):
        ssh.parse_facts("huawei", {"version": sim.garbage("x")}, "<x>")


CRED = Credential("netops", SecretStr(PASSWORD))
TARGET = ssh.SshTarget("192.0.2.10", "huawei", device_id=7)


def test_authentication_failure_is_never_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []

    def session(*args: Any) -> Any:
        calls.append(args)
        raise NetmikoAuthenticationException(f"Authentication to device failed (tried {PASSWORD})")

    monkeypatch.setattr(ssh, "_session", session)
    r = ssh.collect(TARGET, CRED, ssh.SshOptions(retries=3))
    assert (r.ok, r.error, len(calls)) == (False, "auth_failed", 1)
    assert PASSWORD not in repr(r)


def test_timeouts_are_retried_then_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []

    def session(*args: Any) -> Any:
        calls.append(args)
        raise ReadTimeout("pattern not detected")

    monkeypatch.setattr(ssh, "_session", session)
    r = ssh.collect(TARGET, CRED, ssh.SshOptions(retries=2))
    assert (r.ok, r.error, len(calls)) == (False, "timeout", 3)


def test_missing_credential_and_unknown_platform_are_results_not_exceptions() -> None:
    assert ssh.collect(TARGET, None, ssh.SshOptions()).error == "no_credential"
    odd = ssh.SshTarget("192.0.2.10", "zte_zxros")
    assert ssh.collect(odd, CRED, ssh.SshOptions()).error == "bad_target"


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
    assert templates.parse("huawei_vrp", "display cpu-usage", "CPU Usage : 1%") == []  # no template
    assert templates.parse("huawei_vrp", "display version", sim.garbage("x")) == []
