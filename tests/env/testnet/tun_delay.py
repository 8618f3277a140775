#!/usr/bin/env python3
"""Userspace netem substitute (this kernel has no sch_netem): a TUN device that delays every packet routed into it.

After the shared testbed recipe (tun_delay.py). Run inside a router namespace: `tun_delay.py IFNAME DELAY_MS`.
Every packet routed into IFNAME is held DELAY_MS, then written back; policy routing (`ip rule iif IFNAME lookup
100`) sends it on to its real next hop. Routed both ways, RTT ≈ 2 × DELAY_MS. Used by test_testnet_icmp_accuracy.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import struct
import sys

TUNSETIFF, IFF_TUN, IFF_NO_PI = 0x400454CA, 0x0001, 0x1000


def main() -> None:
    name, delay = sys.argv[1], float(sys.argv[2]) / 1000
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    loop = asyncio.new_event_loop()

    def send(packet: bytes) -> None:
        with contextlib.suppress(OSError):
            os.write(fd, packet)

    def on_read() -> None:
        while True:
            try:
                packet = os.read(fd, 65535)
            except BlockingIOError:
                return
            loop.call_later(delay, send, packet)

    loop.add_reader(fd, on_read)
    print(f"tun_delay {name}: delay={delay * 1000}ms", flush=True)
    loop.run_forever()


if __name__ == "__main__":
    main()
