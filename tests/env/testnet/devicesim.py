#!/usr/bin/env python3
"""Simulated extranet devices over SSH (asyncssh): Huawei VRP, H3C Comware, Cisco IOS and Ruijie CLIs.

One process serves every device: the persona is chosen by the LOCAL address a client connected to, so
with an AnyIP route (`ip route add local 172.23.0.0/16 dev lo table local`) it is thousands of devices.
Third octet of that address: 2 → H3C Comware, 3 → Cisco IOS, 4 → Ruijie, 9 → special devices
(.1 slow: waits before its prompt, .2 garbled output, .3 rejects every password), anything else → Huawei VRP.
Outputs are realistic enough for ntc-templates; a newline precedes every prompt (netmiko needs it under load).
usage: devicesim.py --port 22 --password PASSWORD [--bind ADDR] [--slow-seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import asyncssh

START = time.time()


def uptime() -> tuple[int, int, int]:
    up = int(time.time() - START)
    return up // 86400, up % 86400 // 3600, up % 3600 // 60


def persona(ip: str) -> str:
    a = ip.split(".")
    octet = int(a[2]) if len(a) == 4 else 0
    if octet == 9:
        return {"1": "slow", "2": "garbled", "3": "authfail"}.get(a[3], "huawei")
    return {2: "comware", 3: "cisco", 4: "ruijie"}.get(octet, "huawei")


def hostname(ip: str, kind: str) -> str:
    a = ip.split(".")
    return {"comware": "GX-H3C", "cisco": "GX-CS", "ruijie": "GX-RJ"}.get(kind, "GX-HW") + f"-{a[-2]}-{a[-1]}"


def vrp_version(h: str) -> str:
    d, hh, mm = uptime()
    return (
        "Huawei Versatile Routing Platform Software\n"
        "VRP (R) software, Version 5.170 (S5720 V200R019C10SPC500)\n"
        "Copyright (C) 2000-2020 HUAWEI TECH CO., LTD\n"
        f"HUAWEI S5720-28X-SI-AC Routing Switch uptime is 0 week, {d} day, {hh} hours, {mm} minutes\n\n"
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
    },
    "comware": {
        "screen-length disable": lambda h: "",
        "display version": comware_version,
        "display interface brief": comware_int_brief,
        "display cpu-usage": comware_cpu,
        "display memory": comware_mem,
    },
    "cisco": {
        "terminal length 0": lambda h: "",
        "terminal width 511": lambda h: "",
        "show version": ios_version,
        "show ip interface brief": ios_int_brief,
        "show processes cpu": ios_cpu,
    },
    "ruijie": {
        "terminal length 0": lambda h: "",
        "terminal width 256": lambda h: "",
        "show version": ruijie_version,
        "show ip interface brief": ios_int_brief,
        "show cpu": ruijie_cpu,
        "show memory": lambda h: "System Memory: 1966080KB total, 721920KB used, 1244160KB free, 36.7% used rate\n",
    },
}
COMMANDS["slow"] = COMMANDS["huawei"]
COMMANDS["garbled"] = {k: (v if k.startswith("screen") else garbage) for k, v in COMMANDS["huawei"].items()}
ARGS: argparse.Namespace


def prompt_for(kind: str, host: str) -> str:
    return f"{host}#" if kind in ("cisco", "ruijie") else f"<{host}>"


async def handle(process: asyncssh.SSHServerProcess) -> None:  # type: ignore[type-arg]
    ip = process.channel.get_connection().get_extra_info("sockname")[0]
    kind = persona(ip)
    host = hostname(ip, "huawei" if kind in ("slow", "garbled") else kind)
    prompt = prompt_for(kind, host)
    table = COMMANDS[kind]
    w = process.stdout.write
    if kind == "slow":
        await asyncio.sleep(ARGS.slow_seconds)
    if kind in ("huawei", "slow", "garbled"):
        w("\nInfo: The max number of VTY users is 20, and the number\n      of current VTY users on line is 1.\n")
    w("\n" + prompt)
    try:
        async for line in process.stdin:
            # Echo here, in order with the outputs (asyncssh's line editor would echo a line typed ahead
            # before the previous answer, which real devices never do and which desyncs netmiko).
            w(line.rstrip("\r\n") + "\n")
            cmd = " ".join(line.strip().split())
            if cmd in ("quit", "exit", "logout"):
                break
            if cmd == "":
                pass
            elif cmd in table:
                w(table[cmd](host))
            elif kind in ("cisco", "ruijie") and cmd.startswith(("terminal ", "enable")):
                pass
            else:
                w("                  ^\nError: Unrecognized command found at '^' position.\n")
            w("\n" + prompt)
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
