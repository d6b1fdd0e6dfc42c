"""A yardstick of the host's speed, measured in the guest: what one page fault costs.

Under TCG the guest runs at the host's speed, and this project's hosts (VMs themselves)
swing from below: one afternoon the same code gave 36 and 87 errno cases a second, and
every phase of a boot, the kernel's own start included, slowed with the cases. The
host's steal and its other load (vm/host_load.py) caught one such sitting of several. A
first write to an anonymous page is the work a case's child spends most of its kernel time
on, the same in every run of one kernel, so its cost says whether two runs' speed figures
compare.
"""

from __future__ import annotations

import contextlib
import mmap
import time

PAGES = 1024  # a round: 4 MiB
ROUNDS = 5  # ~30 ms of a 6.12 guest under TCG in all; the median, as one round can meet a hiccup


def fault_cost_us(pages: int = PAGES, rounds: int = ROUNDS) -> float | None:
    """Microseconds a first write to an anonymous page costs here, the median of `rounds`
    fresh mappings; None where a mapping cannot be made."""
    costs = [_round_us(pages) for _ in range(rounds)]
    measured = sorted(cost for cost in costs if cost is not None)
    return measured[len(measured) // 2] if len(measured) == rounds else None


def _round_us(pages: int) -> float | None:
    """One pass that faults every page of a fresh mapping, less a second pass over the
    same pages (the loop's own cost), per page."""
    size = pages * mmap.PAGESIZE
    try:
        region = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    except OSError:
        return None
    try:
        # One huge page would take 512 pages' faults at once (THP is "always" on Debian's
        # 6.12).
        with contextlib.suppress(OSError, AttributeError):
            region.madvise(mmap.MADV_NOHUGEPAGE)
        offsets = range(0, size, mmap.PAGESIZE)
        start = time.perf_counter()
        for offset in offsets:
            region[offset] = 1
        faulting = time.perf_counter() - start
        start = time.perf_counter()
        for offset in offsets:
            region[offset] = 2
        writing = time.perf_counter() - start
    finally:
        region.close()
    return max(faulting - writing, 0.0) / pages * 1e6
