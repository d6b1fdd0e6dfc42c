"""One case that holds every knob the suite turns on a host, says so, then blocks until a
signal ends its pytest process. tests/test_interrupt_restore.py runs it in a pytest of its
own (with the plugin: `-p fixtures.plugin`) and checks that the host is as it was after.

Its name does not start with test_, so the harness's own run never collects it. The knobs
are held the way the matrix holds them: the suite's own fixtures (il_weights,
hugetlb_pool, cpusets and cpuset, imported from the conformance modules that define them)
and, for the sysctl, a module fixture around `Sysctl` like test_mappings' numa_balancing_off
(whose numa_balancing=0 is often the value a host already has, so nothing would change).

The environment says what to do:
- MEMPOLICY_HOLD: the knobs to change, comma-separated: sysctl, weights, hugetlb, cpuset;
- MEMPOLICY_HOLD_READY: the file written (JSON) once everything is held;
- MEMPOLICY_HOLD_IN: `test` (the case itself blocks) or `child` (its run_in_child child
  blocks, in the cgroup and with a huge page of the grown pool faulted, when held).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conformance.test_flags import cpuset, cpusets
from conformance.test_mappings import hugetlb_pool
from conformance.test_modes import il_weights
from fixtures.knobs.base import CpusetCgroup, CpusetCgroups, InterleaveWeights
from fixtures.knobs.hugetlb import HugetlbPool
from fixtures.knobs.sysctl import PROC_SYS, Sysctl
from fixtures.system.child import run_in_child
from fixtures.workloads.mappings import hugetlb_region

SYSCTL = "vm.stat_interval"  # seconds between vmstat updates: harmless to change for a while
NODE = 0

# The suite's fixtures this case asks for by name.
SUITE_FIXTURES = (il_weights, hugetlb_pool, cpusets, cpuset)


@pytest.fixture(scope="module")
def stat_interval() -> Iterator[Sysctl]:
    current = int((PROC_SYS / SYSCTL.replace(".", "/")).read_text())
    with Sysctl(SYSCTL, str(current + 1)) as knob:
        yield knob


def announce(held: dict[str, object]) -> None:
    """Write the ready file whole (a reader never sees half of it)."""
    ready = Path(os.environ["MEMPOLICY_HOLD_READY"])
    partial = ready.with_name(ready.name + ".partial")
    partial.write_text(json.dumps(held) + "\n")
    partial.replace(ready)


def block() -> None:
    while True:
        time.sleep(1)


def hold_in_child(
    group: CpusetCgroup | None, huge_pages: bool, held: dict[str, object]
) -> Callable[[], None]:
    def workload() -> None:
        if group is not None:
            group.join()
        with contextlib.ExitStack() as stack:
            if huge_pages:
                stack.enter_context(hugetlb_region(1)).write_fault()
            announce({**held, "child": os.getpid()})
            block()

    return workload


def test_hold(request: pytest.FixtureRequest) -> None:
    hold = set(os.environ["MEMPOLICY_HOLD"].split(","))
    held: dict[str, object] = {"pytest": os.getpid(), "child": None, "held": sorted(hold)}
    if "sysctl" in hold:
        sysctl: Sysctl = request.getfixturevalue("stat_interval")
        held["sysctl"] = sysctl.value
    if "weights" in hold:
        weights: InterleaveWeights = request.getfixturevalue("il_weights")
        weight = weights.read()[NODE] % 255 + 1
        weights.set({NODE: weight})
        held["weight"] = weight
    if "hugetlb" in hold:
        pool: HugetlbPool = request.getfixturevalue("hugetlb_pool")
        held["hugetlb_pages"] = pool.pools[NODE].got
    group = None
    if "cpuset" in hold:
        groups: CpusetCgroups = request.getfixturevalue("cpusets")
        group = groups.create({NODE})
        request.getfixturevalue("cpuset").append(group)
        held["cgroup"] = str(group.path)
    if os.environ["MEMPOLICY_HOLD_IN"] == "child":
        outcome = run_in_child(hold_in_child(group, "hugetlb" in hold, held), timeout_s=600)
        pytest.fail(f"the child was meant to block until the signal: {outcome.describe()}")
    announce(held)
    block()
