"""What else the host ran while the guest did: the CPU time its cores spent outside the
guest (vng and QEMU) and outside this process, and the time stolen from a host that is
itself a VM.

Under TCG the guest's speed is the host's: the same code, kernel and topology gave 27
and 44 errno cases a second minutes apart, the slow runs while a unit-test run shared the
machine. A run's time figures compare with another's only when both had the machine to
themselves; these figures say whether they did. A loop timed in the guest did not: it
read 36-40 ms in the fast runs and the slow ones alike.
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from pathlib import Path

PROC_STAT = Path("/proc/stat")
# /proc/stat's "cpu" line: user nice system idle iowait irq softirq steal (guest time is
# already inside user and nice).
_BUSY = (0, 1, 2, 5, 6)
_STEAL = 7


@dataclass(frozen=True)
class CpuSample:
    busy_s: float  # every core's busy time since boot
    steal_s: float  # taken by the hypervisor under this host
    children_s: float  # this process's reaped descendants (vng, and QEMU under it)
    self_s: float  # this process


def sample(stat: Path = PROC_STAT) -> CpuSample | None:
    """The host's counters now; None where /proc/stat cannot be read."""
    try:
        fields = stat.read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    if fields[:1] != ["cpu"]:
        return None
    ticks = [int(v) for v in fields[1:]] + [0] * 8
    hz = os.sysconf("SC_CLK_TCK")
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    me = resource.getrusage(resource.RUSAGE_SELF)
    return CpuSample(
        busy_s=sum(ticks[i] for i in _BUSY) / hz,
        steal_s=ticks[_STEAL] / hz,
        children_s=children.ru_utime + children.ru_stime,
        self_s=me.ru_utime + me.ru_stime,
    )


def beside_guest(before: CpuSample | None, after: CpuSample | None) -> dict[str, float]:
    """CPU seconds the host spent on neither the guest nor this process between the two
    samples (the guest's descendants reaped by `after`), and the steal; {} without both."""
    if before is None or after is None:
        return {}
    ours = (after.children_s - before.children_s) + (after.self_s - before.self_s)
    other = (after.busy_s - before.busy_s) - ours
    return {
        "host_other_cpu_s": round(max(other, 0.0), 1),
        "host_steal_s": round(after.steal_s - before.steal_s, 1),
    }
