"""Device facts from raw CLI outputs: vendor, model, version and release, serials, uptime, interfaces, CPU, memory.

Pure (no I/O). Parsed with TextFSM (ntc-templates, or the project's templates in collectors/textfsm/ where
ntc-templates has none). A result is a success only when every required command parsed: otherwise
`ParseFailure` names the command and keeps a raw excerpt, and the caller keeps the previous good facts.
A command the device does not know (`Error: Unrecognized command`, `% Invalid input`) leaves its fact out
and is listed under `unsupported`; it is not a parse failure unless the fact is required.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from collectors import templates

EXCERPT_CHARS = 600
_UNSUPPORTED = re.compile(
    r"(?im)^\s*(?:Error:\s*(?:Unrecognized command|Wrong parameter|Incomplete command|Too many parameters)"
    r"|%\s*(?:Invalid input|Unknown command|Incomplete command|Unrecognized command|Ambiguous command))"
)
_NOTICE = re.compile(r"^\s*(?:Info|Warning|Notice)\s*:", re.I)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_UNITS = {"year": 365 * 86400, "week": 7 * 86400, "day": 86400, "hour": 3600, "minute": 60, "second": 1}
_UPTIME = re.compile(r"(\d+)\s*(year|week|day|hour|minute|second)s?(?:\(s\))?", re.I)


class ParseFailure(Exception):
    """A required command's output did not parse; `excerpt` is the cleaned output (cut) for diagnosis."""

    def __init__(self, command: str, excerpt: str, why: str = "no rows") -> None:
        super().__init__(f"{command}: {why}")
        self.command = command
        self.excerpt = excerpt[:EXCERPT_CHARS]
        self.why = why


@dataclass(frozen=True)
class Platform:
    """One CLI flavour: its TextFSM platform, vendor, and the command per fact (version first)."""

    ntc: str
    vendor: str
    commands: dict[str, str]
    required: tuple[str, ...] = ("version", "interfaces")
    paging_commands: tuple[str, ...] = field(default_factory=tuple)
    # fact → pattern: the fact's command is run only when the version output does NOT match it
    # (Huawei: `display patch-information` only when `display version` printed no `Patch version` line).
    unless_version: dict[str, str] = field(default_factory=dict)

    def commands_for(self, version_output: str) -> dict[str, str]:
        """The commands to run once the version output is known (fact → command)."""
        return {
            fact: command
            for fact, command in self.commands.items()
            if not (fact in self.unless_version and re.search(self.unless_version[fact], version_output))
        }


PLATFORMS: dict[str, Platform] = {
    "huawei": Platform(
        "huawei_vrp",
        "Huawei",
        {
            "version": "display version",
            "patch": "display patch-information",
            "serials": "display esn",
            "interfaces": "display interface brief",
            "cpu": "display cpu-usage",
            "memory": "display memory-usage",
        },
        unless_version={"patch": r"(?im)^\s*Patch\s+version\s*:\s*\S"},
    ),
    "hp_comware": Platform(
        "hp_comware",
        "H3C",
        {
            "version": "display version",
            "serials": "display device manuinfo",
            "interfaces": "display interface brief",
            "cpu": "display cpu-usage",
            "memory": "display memory",
        },
    ),
    "ruijie_os": Platform(
        "ruijie_os",
        "Ruijie",
        {"version": "show version", "interfaces": "show interfaces status", "cpu": "show cpu", "memory": "show memory"},
    ),
    "zte_zxros": Platform(
        "zte_zxros",
        "ZTE",
        {
            "version": "show version",
            "serials": "show board-info",  # every board of every shelf (chassis / stack member)
            "interfaces": "show interface brief",
            "cpu": "show processor",
            "memory": "show processor",  # one command for both (run once)
        },
    ),
    "cisco_ios": Platform(
        "cisco_ios",
        "Cisco",
        {
            "version": "show version",
            "serials": "show inventory",
            "interfaces": "show ip interface brief",
            "cpu": "show processes cpu",
            "memory": "show processes memory sorted",
        },
    ),
}
PLATFORMS["cisco_xe"] = PLATFORMS["cisco_ios"]  # IOS-XE answers the same commands; ntc's cisco_ios templates read it
# FRRouting's vtysh behind a cisco_ios device type: recognised from `show version`, then asked its own commands.
FRR = Platform("frr", "FRRouting", {"version": "show version", "interfaces": "show interface brief"})


def flavour(device_type: str, version_output: str) -> Platform:
    """The platform to read a device with, once its version output is known (FRR hides behind cisco_ios)."""
    if device_type in ("cisco_ios", "cisco_xe") and "FRRouting" in version_output:
        return FRR
    return PLATFORMS[device_type]


def clean(text: str, prompt: str = "", command: str = "") -> str:
    """Output as the templates expect it: no CR, ANSI codes, notices (`Info: …` and their continuation
    lines), echoed command, echoed prompt or a prompt fragment left by a split read."""
    text = _ANSI.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    out: list[str] = []
    in_notice = False
    for line in text.split("\n"):
        if _NOTICE.match(line):
            in_notice = not line.rstrip().endswith(".")
            continue
        if in_notice and line.startswith("    ") and line.strip():
            in_notice = not line.rstrip().endswith(".")
            continue
        in_notice = False
        out.append(line)
    while out and not out[0].strip():
        out.pop(0)
    if out and command and out[0].rstrip().endswith(command):
        out.pop(0)  # the command echoed after (part of) the prompt
    core = prompt.strip().strip("<>[]#")
    while out and core and out[-1].strip() and core.startswith(out[-1].strip().strip("<>[]#")):
        out.pop()  # the prompt (or the first packet of it) at the end
    while out and core and out[0].strip().strip("<>[]#").startswith(core) and len(out[0].strip()) <= len(core) + 2:
        out.pop(0)
    return "\n".join(out).strip("\n") + "\n"


def unsupported(text: str) -> bool:
    return bool(_UNSUPPORTED.search(text))


def uptime_seconds(text: str | None) -> int | None:
    """`1 year, 2 weeks, 3 days, 4 hours, 5 minutes`, `23 day(s), 10 hour(s)` or Ruijie's `d:hh:mm:ss` → seconds."""
    if not text:
        return None
    m = re.fullmatch(r"\s*(\d+):(\d+):(\d+):(\d+)\s*", text)
    if m:
        d, h, mi, s = (int(x) for x in m.groups())
        return d * 86400 + h * 3600 + mi * 60 + s
    parts = _UPTIME.findall(text)
    if not parts:
        return None
    return sum(int(n) * _UNITS[unit.lower()] for n, unit in parts)


def _num(value: Any) -> float | None:
    try:
        return float(str(value).rstrip("%"))
    except (TypeError, ValueError):
        return None


def _rows(platform: Platform, fact: str, text: str) -> list[dict[str, Any]]:
    return templates.parse(platform.ntc, platform.commands[fact], text)


# --- per-fact readers: (platform, cleaned text) -> facts; raise ParseFailure when nothing can be read ---


def _version(p: Platform, text: str) -> dict[str, Any]:
    cmd = p.commands["version"]
    if p is FRR:
        m = re.search(r"FRRouting (\S+)", text)
        if not m:
            raise ParseFailure(cmd, text)
        return {"vendor": "FRRouting", "os": "FRR", "version": m.group(1), "release": m.group(1), "model": "FRR"}
    rows = templates.parse(p.ntc, cmd, text)
    if not rows:
        raise ParseFailure(cmd, text)
    r = rows[0]
    if p.ntc == "huawei_vrp":
        product = str(r.get("product_version") or "").split()
        version = r.get("vrp_version")
        return {
            "vendor": "Huawei",
            "os": f"VRP{str(version).split('.')[0]}" if version else "VRP",
            "version": version,
            "release": product[-1] if product else None,
            "patch": r.get("patch_version") or None,
            "model": str(r.get("model") or "").split()[0] or None,
            "uptime_seconds": uptime_seconds(r.get("uptime")),
        }
    if p.ntc == "hp_comware":
        return {
            "vendor": r.get("vendor") or "H3C",
            "os": f"Comware{str(r.get('version') or '').split('.')[0]}",
            "version": r.get("version"),
            "release": r.get("release"),
            "patch": None if str(r.get("patch") or "None").lower() in ("none", "") else r.get("patch"),
            "model": r.get("model"),
            "uptime_seconds": uptime_seconds(r.get("uptime")),
        }
    if p.ntc == "ruijie_os":
        serials = [s for s in r.get("serial") or [] if s]
        version = r.get("version")
        build = re.search(r"\)(\S+)$", str(version or ""))
        return {
            "vendor": "Ruijie",
            "os": "RGOS",
            "version": version,
            "release": build.group(1) if build else version,
            "patch": None if str(r.get("patch") or "NA").upper() in ("NA", "N/A", "") else r.get("patch"),
            "model": r.get("model") or r.get("description"),
            "uptime_seconds": uptime_seconds(r.get("uptime")),
            "serials": list(dict.fromkeys(serials)),
        }
    if p.ntc == "zte_zxros":
        parts = str(r.get("version") or "").split()
        return {
            "vendor": "ZTE",
            "os": "ZXROS",
            "version": parts[-1] if parts else None,
            "release": r.get("version"),
            "model": ("ZXCTN " + str(r.get("hardware")).strip()) if r.get("hardware") else None,
            "uptime_seconds": uptime_seconds(r.get("uptime")),
        }
    hardware = r.get("hardware") or []
    serial = [s for s in r.get("serial") or [] if s]
    xe = re.search(r"(?m)^IOS XE Version:\s*(\S+)|^Cisco IOS XE Software, Version (\S+)", text)
    return {
        "vendor": "Cisco",
        "os": "IOS-XE" if xe or r.get("rommon") == "IOS-XE" else "IOS",
        "version": r.get("version"),
        "release": (xe.group(1) or xe.group(2)) if xe else r.get("version"),
        "image": r.get("software_image") or None,
        "model": hardware[0] if hardware else None,
        "uptime_seconds": uptime_seconds(r.get("uptime")),
        "serials": list(dict.fromkeys(serial)),
        "stack_models": list(hardware),
    }


def _phy(value: str) -> str:
    v = value.strip().lower()
    if v in ("*down", "adm", "administratively down", "disabled", "admin down"):
        return "admin_down"
    if v in ("^down", "stby", "standby"):
        return "standby"
    if v.startswith("up"):
        return "up"
    if v in ("down", "err-disabled", "notconnect", "dormant"):
        return "down"
    return v or "unknown"


def _proto(value: str | None) -> str:
    v = (value or "").strip().lower()
    if not v or v == "--":
        return "unknown"
    if v.startswith("up"):
        return "up"
    if "down" in v:
        return "down"
    return v


def _interfaces(p: Platform, text: str) -> list[dict[str, Any]]:
    cmd = p.commands["interfaces"]
    if p is FRR:
        rows = [
            {"interface": m.group(1), "status": m.group(2)}
            for m in re.finditer(r"(?m)^(\S+)\s+(up|down)\s+\S+", text)
            if m.group(1) not in ("Interface", "---------")
        ]
        out = [{"name": r["interface"], "physical": _phy(r["status"]), "protocol": _proto(r["status"])} for r in rows]
    else:
        rows = templates.parse(p.ntc, cmd, text)
        out = []
        for r in rows:
            name = r.get("interface") or r.get("intf")
            if p.ntc == "zte_zxros":
                phy = "admin_down" if str(r.get("admin")).lower() != "up" else _phy(str(r.get("physical") or ""))
                proto = _proto(r.get("protocol"))
            elif p.ntc == "cisco_ios":
                phy, proto = _phy(str(r.get("status") or "")), _proto(r.get("proto"))
            elif p.ntc == "ruijie_os":
                phy, proto = _phy(str(r.get("status") or "")), "unknown"
            else:
                phy = _phy(str(r.get("phy") or r.get("link") or r.get("status") or ""))
                proto = _proto(r.get("protocol"))
            out.append({"name": name, "physical": phy, "protocol": proto})
    if not out:
        raise ParseFailure(cmd, text)
    return out


def _serials(p: Platform, text: str) -> list[dict[str, str]]:
    rows = _rows(p, "serials", text)
    if p.ntc == "huawei_vrp":
        return [{"member": str(r.get("slot") or "0"), "serial": r["esn"]} for r in rows if r.get("esn")]
    if p.ntc == "hp_comware":
        out = []
        for r in rows:
            sn = str(r.get("device_serial_number") or "")
            if sn and sn.upper() not in ("NONE", "NULL") and str(r.get("slot_type", "")).lower() in ("slot", "chassis"):
                member = "/".join(x for x in (r.get("chassis_id"), str(r.get("slot_id") or "")) if x)
                out.append({"member": member, "serial": sn, "name": str(r.get("device_name") or "")})
        return out
    if p.ntc == "zte_zxros":  # boards with a serial (fans and power supplies print N/A)
        return [
            {"member": f"{r['shelf']}/{r['slot']}", "serial": r["serial"], "name": str(r.get("board") or "")}
            for r in rows
            if r.get("serial") and r["serial"].upper() not in ("N/A", "NA", "NONE", "NULL")
        ]
    out = []
    for r in rows:  # cisco show inventory: chassis and stack members, not modules or optics
        name, sn = str(r.get("name") or ""), str(r.get("sn") or "")
        if sn and re.fullmatch(r"(?i)\d+|switch\s*\d+|chassis|.*\bchassis\b.*|\"?\d+\"?", name.strip('"')):
            out.append({"member": name.strip('"'), "serial": sn, "model": str(r.get("pid") or "")})
    return out


_NO_PATCH = re.compile(r"(?i)\bno patch\b|patch\s+(?:package\s+)?(?:does\s+not|doesn't)\s+exist")


def _patch(p: Platform, text: str) -> dict[str, Any]:
    """Huawei `display patch-information`: the package's version is the patch when it is running."""
    rows = _rows(p, "patch", text)
    if not rows or not rows[0].get("version"):
        if _NO_PATCH.search(text):
            return {"patch": None}
        raise ParseFailure(p.commands["patch"], text)
    r = rows[0]
    state = str(r.get("state") or "").lower() or None
    return {
        "patch": r["version"] if state in (None, "running") else None,
        "patch_package": r.get("name") or None,
        "patch_state": state,
    }


def _cpu(p: Platform, text: str) -> dict[str, Any]:
    cmd = p.commands["cpu"]
    rows = templates.parse(p.ntc, cmd, text)
    if not rows:
        raise ParseFailure(cmd, text)
    if p.ntc == "zte_zxros":  # the two-minute column: its longest window
        return {"percent": max(_num(r.get("cpu_2_min")) or 0.0 for r in rows), "period_seconds": 120}
    if not rows:
        raise ParseFailure(cmd, text)
    if p.ntc == "huawei_vrp":
        r = rows[0]
        if _num(r.get("cpu_5_min")) is not None:
            return {"percent": _num(r["cpu_5_min"]), "period_seconds": 300}
        if _num(r.get("cpu_usage")) is not None:
            return {"percent": _num(r["cpu_usage"]), "period_seconds": int(r.get("cycle_seconds") or 60)}
        raise ParseFailure(cmd, text, "no CPU figure")
    five = [(_num(r.get("cpu_5_min")), r) for r in rows if _num(r.get("cpu_5_min")) is not None]
    if not five:
        five = [(_num(r.get("cpu_usage_5_min")), r) for r in rows if _num(r.get("cpu_usage_5_min")) is not None]
    if not five:
        raise ParseFailure(cmd, text, "no five-minute CPU figure")
    out: dict[str, Any] = {"percent": max(v for v, _ in five if v is not None), "period_seconds": 300}
    if len(five) > 1 and all(r.get("slot") for _, r in five):
        out["per_slot"] = {f"{r.get('slot')}/{r.get('cpu') or 0}": v for v, r in five}
    return out


def _memory(p: Platform, text: str) -> dict[str, Any]:
    cmd = p.commands["memory"]
    rows = templates.parse(p.ntc, cmd, text)
    if not rows:
        raise ParseFailure(cmd, text)
    r = rows[0]
    if p.ntc == "huawei_vrp":
        pct = _num(r.get("used_percent"))
        scale = 1024 if str(r.get("unit") or "").lower() in ("kbytes", "kb") else 1
        total = (_num(r.get("total")) or 0) * scale or None
        used = (_num(r.get("used")) or 0) * scale or None
    elif p.ntc == "hp_comware":
        if _num(r.get("used_rate")) is not None:
            pct = _num(r.get("used_rate"))
        else:
            free = _num(r.get("free_ratio"))
            pct = None if free is None else round(100.0 - free, 1)
        scale = 1024 if r.get("unit") == "KB" else 1
        total = (_num(r.get("total")) or 0) * scale or None
        used = (_num(r.get("used")) or 0) * scale or None
        if len(rows) > 1:  # stack / multi-slot: the fullest member counts
            pcts = [
                100.0 - (_num(x.get("free_ratio")) or 0) if x.get("free_ratio") else _num(x.get("used_rate"))
                for x in rows
            ]
            pct = round(max(v for v in pcts if v is not None), 1)
    elif p.ntc == "zte_zxros":  # the master board's physical and free megabytes
        phy, free_mb = _num(r.get("physical_mb")), _num(r.get("free_mb"))
        total = phy * 1024 * 1024 if phy else None
        used = (phy - free_mb) * 1024 * 1024 if phy and free_mb is not None else None
        pct = round(100.0 * (phy - free_mb) / phy, 1) if phy and free_mb is not None else None
    elif p.ntc == "ruijie_os":
        pct = _num(r.get("used_percent"))
        total = (_num(r.get("total_kb")) or 0) * 1024 or None
        used = (_num(r.get("used_kb")) or 0) * 1024 or None
    else:  # cisco_ios show processes memory sorted
        total, used = _num(r.get("memory_total")), _num(r.get("memory_used"))
        pct = round(100.0 * used / total, 1) if total and used is not None else None
    if pct is None:
        raise ParseFailure(cmd, text, "no memory figure")
    out: dict[str, Any] = {"percent": pct, "period_seconds": 0}
    if total:
        out["total_bytes"] = int(total)
    if used is not None:
        out["used_bytes"] = int(used)
    return out


READERS: dict[str, Callable[[Platform, str], Any]] = {
    "version": _version,
    "patch": _patch,
    "interfaces": _interfaces,
    "serials": _serials,
    "cpu": _cpu,
    "memory": _memory,
}


def count(values: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return dict(sorted(out.items()))


def parse_facts(platform: Platform, outputs: dict[str, str], prompt: str = "") -> dict[str, Any]:
    """Facts from raw outputs keyed by fact name; raises ParseFailure on the first required fact that fails."""
    facts: dict[str, Any] = {
        "hostname": re.sub(r"^[<\[]|[>\]#]$", "", prompt.strip()).strip() or None,
        "platform": platform.ntc,
        "vendor": platform.vendor,
        "unsupported": [],
    }
    for fact, reader in READERS.items():
        if fact not in platform.commands:
            continue
        if fact in platform.unless_version and fact not in outputs:
            continue  # not asked: the version output already carried it
        command = platform.commands[fact]
        text = clean(outputs.get(fact, ""), prompt, command)
        if fact == "patch" and not text.strip():
            continue  # only an `Info: No patch …` notice (removed by clean): no patch, keep the version's None
        if unsupported(text) or not text.strip():
            if fact in platform.required:
                why = "command not supported" if text.strip() else "empty output"
                raise ParseFailure(command, text, why)
            facts["unsupported"].append(command)
            continue
        value = reader(platform, text)
        if fact == "version":
            facts.update({k: v for k, v in value.items() if k != "serials" or v})
            if value.get("serials"):
                facts["serials"] = [{"member": str(i + 1), "serial": s} for i, s in enumerate(value["serials"])]
        elif fact == "patch":
            facts.update(value)
        elif fact == "serials":
            if value:
                facts["serials"] = value
        else:
            facts[fact] = value
    interfaces = facts.get("interfaces", [])
    facts["interfaces_total"] = len(interfaces)
    facts["interfaces_by_physical"] = count([i["physical"] for i in interfaces])
    facts["interfaces_by_protocol"] = count([i["protocol"] for i in interfaces])
    facts["interfaces_up"] = facts["interfaces_by_physical"].get("up", 0)
    if "cpu" in facts:
        facts["cpu_percent"] = facts["cpu"]["percent"]
    if "memory" in facts:
        facts["memory_percent"] = facts["memory"]["percent"]
    facts["parsed_by"] = "textfsm"
    return facts
