"""get_mempolicy reads back the mode and nodemask that were set.

`mbind-*` cases read the VMA policy with MPOL_F_ADDR, `set_mempolicy-*` cases the task
policy with flags 0. `mems-allowed-*` cases check MPOL_F_MEMS_ALLOWED and Mems_allowed_list
of /proc/self/status against the cpuset: the task's cgroup's cpuset.mems.effective (where
that is not readable, the top cpuset's mems, N_MEMORY, for a task in it), in the child's own
cgroup and in a cpuset cgroup of one memory node. MPOL_F_NODE|MPOL_F_ADDR
is checked wherever pages are probed (the probe's third opinion, every placement case),
MPOL_F_NODE alone by the errors area (`get_mempolicy-ok-f-node-task-interleave`).
"""

from collections.abc import Iterator
from functools import partial

import pytest

from fixtures.knobs.base import CpusetCgroups, KnobUnavailable
from fixtures.matrix import PlacementCase, placement_cases
from fixtures.oracle.placement import mems_allowed
from fixtures.plugin.checks import (
    HarnessError,
    check_anon_readback,
    check_mems_allowed,
    observed_outcome,
)
from fixtures.plugin.verdicts import CaseRecord
from fixtures.profiles import Profile
from fixtures.system.child import run_in_child
from fixtures.system.topology import Topology
from fixtures.workloads.modes import MemsRun, mems_run

PAGES = 1  # readback needs a VMA, not a placement


MATRIX = {"placement_case": placement_cases}


def test_readback(
    placement_case: PlacementCase, profile: Profile, kernel_release: str, case: CaseRecord
) -> None:
    case.params = placement_case.params()
    check_anon_readback(case, placement_case, profile, kernel_release, npages=PAGES)


@pytest.fixture(scope="module")
def cpusets() -> Iterator[CpusetCgroups]:
    with CpusetCgroups() as groups:
        yield groups


@pytest.mark.parametrize(
    "where", ["own-cgroup", "cpuset-first-memory-node"], ids=lambda w: f"mems-allowed-{w}"
)
def test_mems_allowed(
    where: str, topology: Topology, cpusets: CpusetCgroups, case: CaseRecord
) -> None:
    """get_mempolicy(MPOL_F_MEMS_ALLOWED) names the cpuset's effective mems (the top
    cpuset's, N_MEMORY, where the cgroup's file is not readable)."""
    case.params = {"call": "get_mempolicy", "flags": "MPOL_F_MEMS_ALLOWED", "where": where}
    group = None
    if where != "own-cgroup":
        if len(topology.memory_nodes) < 2:
            pytest.skip("needs two memory nodes: a cpuset of one must exclude another")
        try:
            group = cpusets.create([min(topology.memory_nodes)])
        except KnobUnavailable as exc:
            pytest.skip(f"needs a cgroup v2 cpuset: {exc}")
    try:
        run: MemsRun = observed_outcome(case, run_in_child(partial(mems_run, group)))
    finally:
        if group is not None:
            cpusets.remove(group)
    expected = mems_allowed(run.cpuset_effective, run.cpuset_path, topology.has_memory)
    if group is not None and expected.nodes != frozenset({min(topology.memory_nodes)}):
        raise HarnessError(f"the cpuset's mems did not take: {expected.to_json()}")
    check_mems_allowed(case, expected, run)
