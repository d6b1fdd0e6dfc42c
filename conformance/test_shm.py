"""Policies on sub-ranges of a shared segment (numactl's shmtest and tshm): every page
lands where its sub-range's policy says, get_mempolicy(MPOL_F_ADDR) reads each sub-range's
policy back, and a second process that attaches the segment afresh sees the shared policy
of a SysV (shmem) segment and faults by it, while a hugetlbfs file or a SHM_HUGETLB
segment, which have no shared policy, give it the default (numa_memory_policy.rst).
Hugetlb pools are grown on every memory node by a fixture that puts them back.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from functools import partial

import pytest

from fixtures.knobs.hugetlb import HugetlbPool, hugetlb_unavailable_reason
from fixtures.matrix.common import TooFewNodes
from fixtures.matrix.shm import ShmCase, shm_cases
from fixtures.oracle.shm import shared_placement, sub_ranges
from fixtures.plugin.checks import observed_outcome
from fixtures.plugin.verdicts import CaseRecord, unsupported
from fixtures.profiles import Profile
from fixtures.system.child import run_in_child
from fixtures.system.topology import Topology
from fixtures.workloads.shm import HUGE_UNITS, run_shared, units_of

MATRIX = {"shm_case": shm_cases}

# Where pages were allocated, not where NUMA balancing moved them after.
pytestmark = pytest.mark.usefixtures("numa_balancing_off")


@pytest.fixture(scope="module")
def shm_pool(topology: Topology) -> Iterator[HugetlbPool | None]:
    """HUGE_UNITS more 2 MiB pages on every memory node, put back after; None (and the
    hugetlb cases say why) where the pools cannot grow."""
    if hugetlb_unavailable_reason(topology.memory_nodes) or os.geteuid() != 0:
        yield None
        return
    with HugetlbPool(topology.memory_nodes, HUGE_UNITS) as pool:
        yield pool


def test_subranges(
    shm_case: ShmCase | TooFewNodes,
    shm_pool: HugetlbPool | None,
    topology: Topology,
    profile: Profile,
    kernel_release: str,
    case: CaseRecord,
) -> None:
    if isinstance(shm_case, TooFewNodes):
        pytest.skip(shm_case.reason)
    c = shm_case
    case.params = c.params()
    if c.segment.huge:
        reason = hugetlb_unavailable_reason(topology.memory_nodes)
        if reason:
            unsupported(reason)
        if shm_pool is None:
            pytest.skip("growing hugetlb pools needs root")
        short = shm_pool.shortfall(HUGE_UNITS // 2)
        if short:
            pytest.skip(f"free 2 MiB pages per node {short}, each node needs {HUGE_UNITS // 2}")
    ranges = sub_ranges(topology, units_of(c.segment))
    case.params["sub_ranges"] = [r.to_json() for r in ranges]
    run = observed_outcome(
        case, run_in_child(partial(run_shared, c.segment, ranges, c.cpu, c.second_cpu))
    )
    expected = shared_placement(
        topology,
        c.segment,
        ranges,
        profile,
        kernel_release,
        inode=run.inode,
        first_node=c.cpu_node,
        second_node=c.second_node,
    )
    case.expected = expected.to_json()
    case.observed = run.to_json()
    problems = expected.violations(run.per_unit, run.first_readback, run.second_readback)
    assert not problems, "; ".join(problems)
