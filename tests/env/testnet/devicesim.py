#!/usr/bin/env python3
"""Simulated extranet devices over SSH (asyncssh): Huawei VRP, H3C Comware, Cisco IOS, Ruijie and ZTE CLIs.

One process serves every device: the persona is chosen by the LOCAL address a client connected to, so
with an AnyIP route (`ip route add local 172.23.0.0/16 dev lo table local`) it is thousands of devices.
Third octet of that address: 2 → H3C Comware, 3 → Cisco IOS, 4 → Ruijie, 5 → ZTE, 9 → misbehaving devices:
  .1 slow (waits before its prompt)   .2 garbled output      .3 rejects every password
  .4 hangs after login (never a prompt)                      .5 keeps paging on (`---- More ----`)
  .6 GBK: Chinese sysname and output in GBK                  .7 chatty: `Info:` lines in outputs, prompts split
  .8 many interfaces (1,200; no cap may cut them)            across packets and a GBK/UTF-8 character too
anything else → Huawei VRP (a two-member stack). Outputs are realistic enough for ntc-templates; a newline
precedes every prompt (netmiko needs it under load).
usage: devicesim.py --port 22 --password PASSWORD [--bind ADDR] [--slow-seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import asyncssh

START = time.time()


def uptime() -> tuple[int, int, int]:
    up = int(time.time() - START)
    return up // 86400, up % 86400 // 3600, up % 3600 // 60


def persona(ip: str) -> str:
    a = ip.split(".")
    octet = int(a[2]) if len(a) == 4 else 0
    if octet == 9:
        special = {"1": "slow", "2": "garbled", "3": "authfail", "4": "hang", "5": "paging", "6": "gbk", "7": "chatty"}
        return {**special, "8": "many"}.get(a[3], "huawei")
    return {2: "comware", 3: "cisco", 4: "ruijie", 5: "zte"}.get(octet, "huawei")


def hostname(ip: str, kind: str) -> str:
    a = ip.split(".")
    if kind == "gbk":
        return f"南宁核心-{a[-1]}"
    names = {"comware": "GX-H3C", "cisco": "GX-CS", "ruijie": "GX-RJ", "zte": "GX-ZTE"}
    return names.get(kind, "GX-HW") + f"-{a[-2]}-{a[-1]}"


def vrp_version(h: str) -> str:
    d, hh, mm = uptime()
    return (
        "Huawei Versatile Routing Platform Software\n"
        "VRP (R) software, Version 5.170 (S5720 V200R019C10SPC500)\n"
        "Copyright (C) 2000-2020 HUAWEI TECH CO., LTD\n"
        f"HUAWEI S5720-28X-SI-AC Routing Switch uptime is 0 week, {d} day, {hh} hours, {mm} minutes\n\n"
    )


def vrp_patch(h: str) -> str:
    """`display patch-information`, laid out as the captured output in the corpus (its `display version` has
    no `Patch version` line, so the collector asks)."""
    return (
        "Patch Package Name    :flash:/S5720SI-V200R019SPH011.PAT\n"
        "Patch Package Version :V200R019SPH011\n"
        "Patch Package State   :Running\n"
        "Patch Package Run Time:2026-10-12 03:15:42\n"
    )


def vrp_int_brief(h: str) -> str:
    rows = [
        ("GigabitEthernet0/0/1", "up", "up", "0.01%", "0.02%", 0, 0),
        ("GigabitEthernet0/0/2", "*down", "down", "0%", "0%", 0, 0),
        ("GigabitEthernet0/0/3", "up", "up", "12%", "9.5%", 3, 0),
        ("NULL0", "up", "up(s)", "0%", "0%", 0, 0),
        ("Vlanif1", "up", "up", "--", "--", 0, 0),
    ]
    hdr = (
        "PHY: Physical\n*down: administratively down\n^down: standby\n(l): loopback\n(s): spoofing\n"
        "(b): BFD down\n(e): ETHOAM down\n(dl): DLDP down\n(d): Dampening Suppressed\n"
        "InUti/OutUti: input utility/output utility\n"
        "Interface                   PHY   Protocol  InUti OutUti   inErrors  outErrors\n"
    )
    return hdr + "".join(f"{r[0]:<28}{r[1]:<6}{r[2]:<9}{r[3]:>6}{r[4]:>7}{r[5]:>11}{r[6]:>11}\n" for r in rows)


def vrp_cpu(h: str) -> str:
    return (
        "CPU Usage Stat. Cycle: 60 (Second)\nCPU Usage            : 12% Max: 45%\n"
        "CPU Usage Stat. Time : 2026-11-23  01:00:00\nCPU utilization for five seconds: 12%: one minute: 12%: five minutes: 11%\n"
    )


def vrp_mem(h: str) -> str:
    return (
        "Memory utilization statistics at 2026-11-23 01:00:00+08:00\nSystem Total Memory Is: 1073741824 bytes\n"
        "Total Memory Used Is: 343597383 bytes\nMemory Using Percentage Is: 32%\n"
    )


def vrp_esn(h: str) -> str:
    return "ESN of slot 0: 2102350DLL10K9000123\nESN of slot 1: 2102350DLL10K9000456\n"


def vrp_many_brief(h: str) -> str:
    lines = vrp_int_brief(h).splitlines()[:-5]
    for slot in range(25):
        for port in range(1, 49):
            state = "up" if port % 4 else "down"
            lines.append(f"GigabitEthernet{slot}/0/{port:<12}{state:<6}{state:<9}{'0%':>6}{'0%':>7}{0:>11}{0:>11}")
    return "\n".join(lines) + "\n"


def comware_manuinfo(h: str) -> str:
    return (
        "Slot 1 CPU 0:\nDEVICE_NAME          : S5560X-30C-EI\nDEVICE_SERIAL_NUMBER : 219801A2A58203Q00012\n"
        "MAC_ADDRESS          : 70BA-EF6E-2C1A\nMANUFACTURING_DATE   : 2020-03-02\nVENDOR_NAME          : H3C\n"
        "Slot 2 CPU 0:\nDEVICE_NAME          : S5560X-30C-EI\nDEVICE_SERIAL_NUMBER : 219801A2A58203Q00034\n"
        "MAC_ADDRESS          : 70BA-EF6E-2C2B\nMANUFACTURING_DATE   : 2020-03-02\nVENDOR_NAME          : H3C\n"
        "Fan 1:\nDEVICE_NAME          : LSPM1FANSA\nDEVICE_SERIAL_NUMBER : 210231A6NHH19C000123\n"
        "MANUFACTURING_DATE   : 2019-12-12\nVENDOR_NAME          : H3C\n"
    )


def comware_version(h: str) -> str:
    d, hh, mm = uptime()
    return (
        "H3C Comware Software, Version 7.1.064, Release 0821P11\n"
        "Copyright (c) 2004-2020 New H3C Technologies Co., Ltd. All rights reserved.\n"
        f"H3C S5560X-30C-EI uptime is 0 weeks, {d} days, {hh} hours, {mm} minutes\n"
        "Last reboot reason : Cold reboot\n\nBoot image: flash:/S5560X_EI-CMW710-BOOT-R1121P08.bin\n"
    )


def comware_int_brief(h: str) -> str:
    return (
        "Brief information on interfaces in route mode:\n"
        "Link: ADM - administratively down; Stby - standby\n"
        "Protocol: (s) - spoofing\n"
        "Interface            Link Protocol Primary IP      Description\n"
        "InLoop0              UP   UP(s)    --\n"
        "MGE0/0/0             UP   UP       172.23.2.1\n"
        "Vlan1                UP   UP       --\n"
        "\n"
        "Brief information on interfaces in bridge mode:\n"
        "Link: ADM - administratively down; Stby - standby\n"
        "Speed: (a) - auto\n"
        "Duplex: (a)/A - auto; H - half; F - full\n"
        "Type: A - access; T - trunk; H - hybrid\n"
        "Interface            Link Speed   Duplex Type PVID Description\n"
        "GE1/0/1              UP   1G(a)   F(a)   A    1\n"
        "GE1/0/2              DOWN auto    A      A    1\n"
        "XGE1/0/49            UP   10G     F      T    1    uplink\n"
    )


def comware_cpu(h: str) -> str:
    return "Slot 1 CPU 0 CPU usage:\n       2% in last 5 seconds\n       3% in last 1 minute\n       3% in last 5 minutes\n"


def comware_mem(h: str) -> str:
    return (
        "Memory statistics are measured in KB:\nSlot 1:\n"
        "             Total      Used      Free    Shared   Buffers    Cached   FreeRatio\n"
        "Mem:       1011468    612040    399428         0      3212    187428       39.5%\n"
    )


def ios_version(h: str) -> str:
    d, hh, mm = uptime()
    return (
        "Cisco IOS Software, C3750E Software (C3750E-UNIVERSALK9-M), Version 15.0(2)SE11, RELEASE SOFTWARE (fc3)\n"
        "Technical Support: http://www.cisco.com/techsupport\n"
        "Copyright (c) 1986-2017 by Cisco Systems, Inc.\n"
        "Compiled Sat 19-Aug-17 09:34 by prod_rel_team\n\n"
        "ROM: Bootstrap program is C3750E boot loader\n"
        "BOOTLDR: C3750E Boot Loader (C3750X-HBOOT-M) Version 12.2(58r)SE, RELEASE SOFTWARE (fc1)\n\n"
        f"{h} uptime is {d} days, {hh} hours, {mm} minutes\n"
        "System returned to ROM by power-on\n"
        'System image file is "flash:/c3750e-universalk9-mz.150-2.SE11.bin"\n\n\n'
        "License Level: ipservices\nLicense Type: Permanent\nNext reload license Level: ipservices\n\n"
        "cisco WS-C3750X-48P (PowerPC405) processor (revision W0) with 262144K bytes of memory.\n"
        "Processor board ID FDO1633Q14S\n"
        "Last reset from power-on\n"
        "2 Virtual Ethernet interfaces\n"
        "52 Gigabit Ethernet interfaces\n"
        "The password-recovery mechanism is enabled.\n\n"
        "512K bytes of flash-simulated non-volatile configuration memory.\n"
        "Base ethernet MAC Address       : 00:22:BD:6E:11:80\n"
        "Motherboard assembly number     : 73-12554-08\n"
        "Model number                    : WS-C3750X-48P-L\n"
        "System serial number            : FDO1633Q14S\n\n"
        "Switch Ports Model              SW Version            SW Image\n"
        "------ ----- -----              ----------            ----------\n"
        "*    1 54    WS-C3750X-48P      15.0(2)SE11           C3750E-UNIVERSALK9-M\n\n\n"
        "Configuration register is 0xF\n\n"
    )


def ios_int_brief(h: str) -> str:
    return (
        "Interface              IP-Address      OK? Method Status                Protocol\n"
        "Vlan1                  172.23.3.1      YES NVRAM  up                    up\n"
        "GigabitEthernet1/0/1   unassigned      YES unset  up                    up\n"
        "GigabitEthernet1/0/2   unassigned      YES unset  administratively down down\n"
        "GigabitEthernet1/0/3   unassigned      YES unset  down                  down\n"
    )


def ios_cpu(h: str) -> str:
    return (
        "CPU utilization for five seconds: 5%/0%; one minute: 6%; five minutes: 7%\n"
        " PID Runtime(ms)     Invoked      uSecs   5Sec   1Min   5Min TTY Process\n"
        "   1          24        1067         22  0.00%  0.00%  0.00%   0 Chunk Manager\n"
        "   2        5012      120345         41  0.07%  0.05%  0.05%   0 Load Meter\n"
    )


def ios_inventory(h: str) -> str:
    return (
        'NAME: "1", DESCR: "WS-C3750X-48P"\nPID: WS-C3750X-48P-L   , VID: V05  , SN: FDO1633Q14S\n\n'
        'NAME: "Switch 1 - Power Supply 0", DESCR: "ABC Power Supply"\nPID: C3KX-PWR-715WAC  , VID: V02  , SN: DCB1636H0ZW\n\n'
        'NAME: "2", DESCR: "WS-C3750X-48P"\nPID: WS-C3750X-48P-L   , VID: V05  , SN: FDO1712R0AB\n\n'
    )


def ios_memory(h: str) -> str:
    return (
        "Processor Pool Total:  786957564 Used:  235424616 Free:  551532948\n"
        " lsmpi_io Pool Total:    6295128 Used:    6294296 Free:        832\n\n"
        " PID TTY  Allocated      Freed    Holding    Getbufs    Retbufs Process\n"
        "   0   0  278627464   71508624  195116260          0          0 *Init*\n"
        "   1   0   17123224   12398640    1211144          0          0 Chunk Manager\n"
    )


def ruijie_version(h: str) -> str:
    d, hh, mm = uptime()
    return (
        "System description      : Ruijie Full 10G Routing Switch(S6000C-48GT4XS-E) By Ruijie Networks\n"
        "System start time       : 2026-11-20 10:00:00\n"
        f"System uptime           : {d}:{hh}:{mm}:00\n"
        "System hardware version : 1.00\n"
        "System software version : S6000C_RGOS 11.4(1)B74P2\n"
        "System patch number     : NA\n"
        "System serial number    : G1QH10Q000000\n"
    )


def ruijie_cpu(h: str) -> str:
    return "CPU utilization in five seconds: 4.20%\nCPU utilization in one minute  : 4.50%\nCPU utilization in five minutes: 4.40%\n"


def ruijie_status(h: str) -> str:
    return (
        "Interface                        Status    Vlan   Duplex   Speed     Type\n"
        "-------------------------------- --------  ----   -------  --------- ------\n"
        "GigabitEthernet 0/1              up        1      Full     1000M     copper\n"
        "GigabitEthernet 0/2              down      1      Unknown  Unknown   copper\n"
        "GigabitEthernet 0/3              disabled  1      Unknown  Unknown   copper\n"
        "TenGigabitEthernet 0/49          up        routed Full     10G       fiber\n"
    )


def zte_version(h: str) -> str:
    d, hh, mm = uptime()
    return (
        "ZXCTN 6120H-S\nZTE ZXCTN Software, Version: 6120H-S V5.10.00.50, Release software\n"
        "Copyright (c) 2022 by ZTE Corporation\n"
        "System image file is <sysdisk0: verset/ZXCTN6120HS_V5.10.00.50B03.set>, file size is 629,753,128 Bytes\n"
        f"System image is loaded from local\nSystem uptime is {d} day(s), {hh} hour(s), {mm} minute(s)\n"
    )


def zte_board(name: str, desc: str, shelf: int, slot: int, serial: str) -> str:
    """One board stanza in the layout of a real ZXCTN `show version` (ntc-templates fixture), plus its serial."""
    return (
        f"[{name}, shelf {shelf}, slot {slot}]:\n"
        f"Board Name        : {name}\n"
        f"Description       : {desc}\n"
        f"Serial Number     : {serial}\n"
        "Board License     : N/A\n\n"
    )


def zte_board_info(h: str) -> str:
    """`show board-info` of a two-member stack: per member its main board, a fan and a power board (no serial)."""
    return (
        zte_board("SMGD", "6120H-S System Main Board D", 1, 1, "219000734530")
        + zte_board("FAN", "Fan Control Board", 1, 2, "N/A")
        + zte_board("PW1DC", "Integrated DC Power Board", 1, 3, "N/A")
        + zte_board("SMGD", "6120H-S System Main Board D", 2, 1, "219000734611")
        + zte_board("FAN", "Fan Control Board", 2, 2, "N/A")
    )


def zte_brief(h: str) -> str:
    return (
        "Interface               Attribute  Mode         BW    Admin Phy   Prot  Description\n"
        "xgei-1/1/0/1            optical    Duplex/full  10G   up    up    up    uplink\n"
        "xgei-1/1/0/2            optical    Duplex/full  10G   up    down  down\n"
        "xgei-1/1/0/3            optical    Duplex/full  10G   down  down  down\n"
    )


def zte_processor(h: str) -> str:
    return (
        " M: Master, S: Slave, Peak CPU: CPU peak utility measured in 2 minutes\n"
        " PhyMem: Physical memory (megabyte)\n"
        "-------------------------------------------------------------------------------\n"
        " Character      CPU(5s)  CPU(30s)  CPU(2m)  PeakCPU PhyMem  FreeMem  Mem\n"
        "-------------------------------------------------------------------------------\n"
        " MPU-1/1/0(M)   9%       8%        8%       17%     8192    5120     37.500%\n"
    )


def garbage(h: str) -> str:
    return "\x07%%%% ~~ ?? ######  \n@@@@ 0x7f 0x00 ----- ~~~~ \n"


INFO_VRP = "Info: The configuration takes effect on the current user terminal interface only.\n"
COMMANDS = {
    "huawei": {
        "screen-length 0 temporary": lambda h: INFO_VRP,
        "display version": vrp_version,
        "display interface brief": vrp_int_brief,
        "display cpu-usage": vrp_cpu,
        "display memory-usage": vrp_mem,
        "display esn": vrp_esn,
        "display patch-information": vrp_patch,
    },
    "comware": {
        "screen-length disable": lambda h: "",
        "display version": comware_version,
        "display interface brief": comware_int_brief,
        "display cpu-usage": comware_cpu,
        "display memory": comware_mem,
        "display device manuinfo": comware_manuinfo,
    },
    "cisco": {
        "terminal length 0": lambda h: "",
        "terminal width 511": lambda h: "",
        "show version": ios_version,
        "show ip interface brief": ios_int_brief,
        "show processes cpu": ios_cpu,
        "show inventory": ios_inventory,
        "show processes memory sorted": ios_memory,
    },
    "ruijie": {
        "terminal length 0": lambda h: "",
        "terminal width 256": lambda h: "",
        "show version": ruijie_version,
        "show ip interface brief": ios_int_brief,
        "show interfaces status": ruijie_status,
        "show cpu": ruijie_cpu,
        "show memory": lambda h: "System Memory: 1966080KB total, 721920KB used, 1244160KB free, 36.7% used rate\n",
    },
}
COMMANDS["zte"] = {
    "terminal length 0": lambda h: "",
    "show version": zte_version,
    "show board-info": zte_board_info,
    "show interface brief": zte_brief,
    "show processor": zte_processor,
}
COMMANDS["slow"] = COMMANDS["hang"] = COMMANDS["gbk"] = COMMANDS["huawei"]


def _chatty(render: Callable[[Any], str], h: Any) -> str:
    return INFO_VRP + render(h)


COMMANDS["chatty"] = {k: partial(_chatty, v) for k, v in COMMANDS["huawei"].items()}
COMMANDS["many"] = {**COMMANDS["huawei"], "display interface brief": vrp_many_brief}
COMMANDS["paging"] = {k: v for k, v in COMMANDS["huawei"].items() if not k.startswith("screen")}
COMMANDS["garbled"] = {k: (v if k.startswith("screen") else garbage) for k, v in COMMANDS["huawei"].items()}
ARGS: argparse.Namespace


def prompt_for(kind: str, host: str) -> str:
    return f"{host}#" if kind in ("cisco", "ruijie", "zte") else f"<{host}>"


def paged(text: str, lines: int = 8) -> str:
    """The first screen of `text` and a More prompt: what a device with paging left on sends."""
    return "\n".join(text.splitlines()[:lines]) + "\n  ---- More ----"


async def handle(process: asyncssh.SSHServerProcess) -> None:  # type: ignore[type-arg]
    ip = process.channel.get_connection().get_extra_info("sockname")[0]
    kind = persona(ip)
    host = hostname(ip, "huawei" if kind in ("slow", "garbled", "hang", "paging", "chatty", "many") else kind)
    prompt = prompt_for(kind, host)
    table = COMMANDS[kind]
    encoding = "gbk" if kind == "gbk" else "utf-8"

    async def w(text: str) -> None:
        data = text.encode(encoding)
        if kind != "chatty" or len(data) < 4:
            process.stdout.write(data)
            return
        # chatty: every write in two packets, cut inside the prompt (and inside a multi-byte character)
        cut = len(data) - 3
        process.stdout.write(data[:cut])
        await process.stdout.drain()
        await asyncio.sleep(0.05)
        process.stdout.write(data[cut:])

    if kind == "slow":
        await asyncio.sleep(ARGS.slow_seconds)
    if kind == "hang":  # logged in, then silence: the client must give up and close everything
        await asyncio.sleep(3600)
    if kind in ("huawei", "slow", "garbled", "paging", "gbk", "chatty", "many"):
        await w("\nInfo: The max number of VTY users is 20, and the number\n      of current VTY users on line is 1.\n")
    if kind == "gbk":
        await w("\n欢迎登录南宁电子政务外网核心交换机\n")
    await w("\n" + prompt)
    try:
        async for raw in process.stdin:
            line = raw.decode(encoding, "replace")
            # Echo here, in order with the outputs (asyncssh's line editor would echo a line typed ahead
            # before the previous answer, which real devices never do and which desyncs netmiko).
            await w(line.rstrip("\r\n") + "\n")
            cmd = " ".join(line.strip().split())
            if cmd in ("quit", "exit", "logout"):
                break
            if cmd == "":
                pass
            elif cmd in table:
                out = table[cmd](host)
                await w(paged(out) if kind == "paging" and len(out.splitlines()) > 8 else out)
            elif kind in ("cisco", "ruijie", "zte") and cmd.startswith(("terminal ", "enable")):
                pass
            else:
                await w("                  ^\nError: Unrecognized command found at '^' position.\n")
            await w("\n" + prompt)
    except (asyncssh.BreakReceived, asyncssh.TerminalSizeChanged, asyncssh.ConnectionLost, BrokenPipeError):
        pass
    process.exit(0)


class Server(asyncssh.SSHServer):
    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.local = conn.get_extra_info("sockname")[0]

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return persona(self.local) != "authfail" and username == ARGS.username and password == ARGS.password


async def main() -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    await asyncssh.create_server(
        Server,
        ARGS.bind or None,
        ARGS.port,
        server_host_keys=[key],
        process_factory=handle,
        backlog=4096,
        line_editor=False,
        encoding=None,  # bytes: each persona encodes its own output (UTF-8, or GBK)
        reuse_address=True,
    )
    print(f"devicesim listening on {ARGS.bind or '*'}:{ARGS.port}", flush=True)
    await asyncio.Future()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=22)
    p.add_argument("--bind", default="")
    p.add_argument("--username", default="netops")
    p.add_argument("--password", required=True)
    p.add_argument("--slow-seconds", type=float, default=60.0)
    ARGS = p.parse_args()
    asyncio.run(main())
