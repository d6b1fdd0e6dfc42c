"""vm/host_load.py: the CPU the host spent beside the guest, from /proc/stat and rusage."""

from __future__ import annotations

import os
from pathlib import Path

from vm.host_load import CpuSample, beside_guest, sample

HZ = os.sysconf("SC_CLK_TCK")


def test_what_the_host_did_beside_the_guest_and_this_process() -> None:
    before = CpuSample(busy_s=100.0, steal_s=1.0, children_s=5.0, self_s=2.0)
    # 30 s of busy cores: 20 in the guest (reaped children), 1 here, 9 elsewhere.
    after = CpuSample(busy_s=130.0, steal_s=1.5, children_s=25.0, self_s=3.0)
    assert beside_guest(before, after) == {"host_other_cpu_s": 9.0, "host_steal_s": 0.5}
    # Clock ticks against rusage's microseconds can leave the host a little below zero.
    idle = CpuSample(busy_s=100.2, steal_s=1.0, children_s=5.3, self_s=2.0)
    assert beside_guest(before, idle)["host_other_cpu_s"] == 0.0
    assert beside_guest(None, after) == {} and beside_guest(before, None) == {}


def test_the_sample_reads_busy_and_steal_from_the_cpu_line(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    #                user nice system idle  iowait irq softirq steal guest
    stat.write_text(f"cpu  {HZ * 10} {HZ} {HZ * 4} 99999 {HZ * 7} {HZ} {HZ} {HZ * 3} 0 0\n")
    taken = sample(stat)
    assert taken is not None
    assert taken.busy_s == 17.0  # user + nice + system + irq + softirq; not idle or iowait
    assert taken.steal_s == 3.0
    assert taken.children_s >= 0 and taken.self_s > 0


def test_no_proc_stat_no_sample(tmp_path: Path) -> None:
    assert sample(tmp_path / "missing") is None
    (tmp_path / "odd").write_text("intr 1 2 3\n")
    assert sample(tmp_path / "odd") is None
