"""Anonymous multi-size THP under interleave (Linux 6.8+): the unit of interleave is the folio.

With one mTHP size enabled at a time (the others off, the PMD size included, every switch
put back after the case), a fresh private anonymous VMA is interleaved over the memory
nodes by mbind or set_mempolicy and written in address order. Every folio of that size
inside the VMA must be whole on one node, the order-0 pages at its ends on theirs, and
folio after folio must follow the interleave index the kernel computes for a folio
(fixtures/oracle/folios.py): (vm_pgoff >> order) + (offset >> order), which on a VMA one
page past a folio boundary is not the folio's virtual number. The folios are read from
/proc/self/pagemap and /proc/kpageflags (root), the nodes from move_pages and numa_maps.
Kernels before 6.8 have no mTHP: `unsupported`.
"""

from __future__ import annotations

import os
from functools import partial

import pytest

from fixtures.knobs.base import KnobUnavailable
from fixtures.knobs.thp import OnlyThpSize, thp_sizes
from fixtures.matrix.common import TooFewNodes
from fixtures.matrix.mthp import MthpCase, mthp_cases
from fixtures.oracle.folios import mthp_interleave
from fixtures.plugin.checks import observed_outcome, require
from fixtures.plugin.verdicts import CaseRecord, unsupported
from fixtures.profiles import Profile
from fixtures.system.child import run_in_child
from fixtures.system.memory import PAGE_SIZE
from fixtures.workloads.mthp import REGION_PAGES, run_mthp

MATRIX = {"mthp_case": mthp_cases}

# Where pages were allocated, not where NUMA balancing moved them after.
pytestmark = pytest.mark.usefixtures("numa_balancing_off")


def test_mthp(
    mthp_case: MthpCase | TooFewNodes,
    profile: Profile,
    kernel_release: str,
    case: CaseRecord,
) -> None:
    c = mthp_case
    if isinstance(c, TooFewNodes):
        pytest.skip(c.reason)
    case.params = {**c.params(), "thp_sizes_kib": thp_sizes()}
    require(profile, kernel_release, "anon_mthp")
    if os.geteuid() != 0:
        pytest.skip("switching THP sizes and reading /proc/kpageflags need root")
    try:
        with OnlyThpSize(c.size_kib):
            run = observed_outcome(
                case, run_in_child(partial(run_mthp, c.policy, c.api, c.cpu, c.shift_pages))
            )
    except KnobUnavailable as exc:
        unsupported(str(exc))
    order = (c.size_kib * 1024 // PAGE_SIZE).bit_length() - 1
    expected = mthp_interleave(
        c.policy.nodes,
        vm_start_page=run.vm_start_page,
        vm_pgoff=run.vm_pgoff,
        npages=REGION_PAGES,
        order=order,
    )
    case.expected = expected.to_json()
    case.observed = run.to_json()
    problems = expected.violations(run.folios, run.placement.per_page)
    assert not problems, "; ".join(problems)
