"""The project's TextFSM templates on the other layouts vendor documentation shows (VRP 8, Comware 5,
stacked Comware). These texts follow the documented layouts; captured outputs live in corpus/."""

from __future__ import annotations

import pytest

from collectors import device_facts as F

VRP8_CPU = """CPU utilization statistics at 2019-01-20 10:20:30 657 ms
System cpu use rate is : 10%
Cpu utilization for five seconds: 10% ;  one minute: 11% ;  five minutes: 12% .
Max CPU Usage :                 29%
Max CPU Usage Stat. Time : 2019-01-18 11:20:41 526 ms
-------------------------------
ServiceName  UseRate
-------------------------------
SYSTEM           9%
"""
VRP8_MEM = """Memory utilization statistics at 2019-01-20 10:26:06 853 ms
System Total Memory: 3818208 Kbytes
Total Memory Used: 1520384 Kbytes
Memory Using Percentage: 39%
"""
CW5_MEM = """System Total Memory(bytes): 431869088
Total Used Memory(bytes): 71963156
Used Rate: 16%
"""
CW5_CPU = """===== Current CPU usage info =====
Unit 1
Board 0 CPU usage:
       6% in last 5 seconds
       7% in last 1 minute
       8% in last 5 minutes
"""
CW7_STACK_CPU = """Slot 1 CPU 0 CPU usage:
       2% in last 5 seconds
       3% in last 1 minute
       3% in last 5 minutes

Slot 2 CPU 0 CPU usage:
      21% in last 5 seconds
      19% in last 1 minute
      17% in last 5 minutes
"""
CW7_STACK_MEM = """Memory statistics are measured in KB:
Slot 1:
             Total      Used      Free    Shared   Buffers    Cached   FreeRatio
Mem:       1011468    612040    399428         0      3212    187428       39.5%
-/+ Buffers/Cache:    421400    590068
Swap:            0         0         0
Slot 2:
             Total      Used      Free    Shared   Buffers    Cached   FreeRatio
Mem:       1011468    812040    199428         0      3212    187428       19.7%
-/+ Buffers/Cache:    621400    390068
Swap:            0         0         0
"""


def test_vrp8_cpu_is_the_five_minute_average_and_memory_in_kbytes() -> None:
    p = F.PLATFORMS["huawei"]
    assert F.READERS["cpu"](p, F.clean(VRP8_CPU)) == {"percent": 12.0, "period_seconds": 300}
    assert F.READERS["memory"](p, F.clean(VRP8_MEM)) == {
        "percent": 39.0,
        "period_seconds": 0,
        "total_bytes": 3818208 * 1024,
        "used_bytes": 1520384 * 1024,
    }


def test_vrp5_cpu_without_the_five_minute_line_uses_its_stat_cycle() -> None:
    text = "CPU Usage Stat. Cycle: 60 (Second)\nCPU Usage            : 17% Max: 97%\nCPU Usage Stat. Time : 2012-10-18  15:38:36\n"
    assert F.READERS["cpu"](F.PLATFORMS["huawei"], F.clean(text)) == {"percent": 17.0, "period_seconds": 60}


def test_comware5_memory_and_cpu() -> None:
    p = F.PLATFORMS["hp_comware"]
    assert F.READERS["memory"](p, F.clean(CW5_MEM)) == {
        "percent": 16.0,
        "period_seconds": 0,
        "total_bytes": 431869088,
        "used_bytes": 71963156,
    }
    assert F.READERS["cpu"](p, F.clean(CW5_CPU)) == {"percent": 8.0, "period_seconds": 300}


def test_a_comware7_stack_reports_its_busiest_and_fullest_member() -> None:
    p = F.PLATFORMS["hp_comware"]
    assert F.READERS["cpu"](p, F.clean(CW7_STACK_CPU)) == {
        "percent": 17.0,
        "period_seconds": 300,
        "per_slot": {"1/0": 3.0, "2/0": 17.0},
    }
    assert F.READERS["memory"](p, F.clean(CW7_STACK_MEM))["percent"] == 80.3  # slot 2: 100 - 19.7


@pytest.mark.parametrize("fact", ["cpu", "memory"])
def test_an_unknown_layout_is_a_parse_failure(fact: str) -> None:
    with pytest.raises(F.ParseFailure):
        F.READERS[fact](F.PLATFORMS["huawei"], "Something else entirely: 42%\n")
