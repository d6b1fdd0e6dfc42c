"""Pages of every kind of mapping land where the policy that governs them says.

Which policy governs is the point of this row (fixtures/oracle/mappings.py has the kernel
facts): shmem objects (shared anonymous memory, memfd, tmpfs) keep mbind's policy as the
object's shared policy, seen from any later mapping, and a tmpfs mounted with mpol= gives
each new file its policy; the page cache of a regular file
ignores a VMA policy and follows the task's; a private file mapping's copies follow the
VMA policy; THP and hugetlb pages are placed whole, interleaved in huge-page units.
Every case runs in a forked child pinned to one CPU; mounts live in its own namespace;
hugetlb pools are grown by a fixture that puts them back.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from fixtures.abi.uapi import Mode
from fixtures.knobs.hugetlb import HugetlbPool, hugetlb_unavailable_reason
from fixtures.knobs.slab import remote_search_off
from fixtures.matrix import (
    MappingCase,
    file_mapping_cases,
    hugetlb_mapping_cases,
    shmem_mapping_cases,
    thp_mapping_cases,
)
from fixtures.oracle.folios import FolioRotation
from fixtures.oracle.mappings import KINDS, Backing, MappingExpectation, mapping_placement
from fixtures.plugin.checks import observed_outcome, require_judged, require_thp
from fixtures.plugin.verdicts import CaseRecord, unsupported
from fixtures.profiles import Profile
from fixtures.system.child import run_in_child
from fixtures.system.topology import Topology
from fixtures.workloads.mappings import (
    HUGETLB_PAGES,
    MappingRun,
    MappingUnavailable,
    ext4_image,
    run_mapping,
)

MATRIX = {
    "shmem_case": shmem_mapping_cases,
    "file_case": file_mapping_cases,
    "thp_case": thp_mapping_cases,
    "hugetlb_case": hugetlb_mapping_cases,
}

# Where pages were allocated, not where NUMA balancing moved them after.
pytestmark = pytest.mark.usefixtures("numa_balancing_off")


@pytest.fixture(scope="module")
def ext4() -> Iterator[Path]:
    """An empty ext4 image the children loop-mount in their own mount namespaces."""
    try:
        image = ext4_image()
        path = image.__enter__()
    except MappingUnavailable as exc:
        pytest.skip(str(exc))
    try:
        yield path
    finally:
        image.__exit__(None, None, None)


@pytest.fixture(scope="module")
def hugetlb_pool(topology: Topology) -> Iterator[HugetlbPool]:
    """HUGETLB_PAGES more 2 MiB pages (and one spare) on every memory node, then back."""
    reason = hugetlb_unavailable_reason(topology.memory_nodes)
    if reason:
        unsupported(reason)
    if os.geteuid() != 0:
        pytest.skip("growing hugetlb pools needs root")
    with HugetlbPool(topology.memory_nodes, HUGETLB_PAGES + 1) as pool:
        yield pool


def check_mapping(case: CaseRecord, expected: MappingExpectation, run: MappingRun) -> None:
    case.expected = expected.to_json()
    case.observed = run.to_json()
    if isinstance(expected.placement, FolioRotation):
        case.observed["other_turns"] = expected.placement.turns_json(run.placement.per_page)
    problems = expected.violations(
        run.placement.per_page, huge_folios=run.huge_folios, readback_seen=run.readback
    )
    assert not problems, "; ".join(problems)
    require_judged(expected.placement)


def _judge(
    c: MappingCase,
    topology: Topology,
    profile: Profile,
    release: str,
    case: CaseRecord,
    *,
    ext4: Path | None = None,
) -> None:
    kind = KINDS[c.kind]
    case.params = {**c.params(), "what": kind.what}
    task_interleaved_cache = (
        kind.backing is Backing.PAGE_CACHE
        and kind.api == "set_mempolicy"
        and c.policy.mode == Mode.MPOL_INTERLEAVE
    )
    with remote_search_off(task_interleaved_cache) as counted:
        run = observed_outcome(
            case, run_in_child(partial(run_mapping, kind, c.policy, c.cpu, ext4=ext4))
        )
    expected = mapping_placement(
        topology,
        kind,
        c.policy,
        profile,
        release,
        geometry=run.geometry,
        cpu_node=c.cpu_node,
        side_allocations=run.side.total if counted and run.side is not None else None,
    )
    check_mapping(case, expected, run)


def test_shmem(
    shmem_case: MappingCase,
    topology: Topology,
    profile: Profile,
    kernel_release: str,
    case: CaseRecord,
) -> None:
    if shmem_case.kind.startswith("tmpfs") and os.geteuid() != 0:
        pytest.skip("mounting a tmpfs in a private mount namespace needs root")
    _judge(shmem_case, topology, profile, kernel_release, case)


def test_file(
    file_case: MappingCase,
    ext4: Path,
    topology: Topology,
    profile: Profile,
    kernel_release: str,
    case: CaseRecord,
) -> None:
    _judge(file_case, topology, profile, kernel_release, case, ext4=ext4)


def test_thp(
    thp_case: MappingCase,
    topology: Topology,
    profile: Profile,
    kernel_release: str,
    case: CaseRecord,
) -> None:
    require_thp()
    _judge(thp_case, topology, profile, kernel_release, case)


def test_hugetlb(
    hugetlb_case: MappingCase,
    hugetlb_pool: HugetlbPool,
    topology: Topology,
    profile: Profile,
    kernel_release: str,
    case: CaseRecord,
) -> None:
    short = hugetlb_pool.shortfall(HUGETLB_PAGES)
    if short:
        pytest.skip(f"free 2 MiB pages per node {short}, each node needs {HUGETLB_PAGES}")
    _judge(hugetlb_case, topology, profile, kernel_release, case)
