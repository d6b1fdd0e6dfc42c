"""get_mempolicy(MPOL_F_NODE|MPOL_F_ADDR) names, for every page, the node move_pages
names, on the shared mappings of numactl's tshared test (shared anonymous memory and a
memfd, whose shmem object keeps mbind's policy) and on a private PREFERRED region
(numactl's prefered); and both are where the oracle places the page.

Every page is asked, not a sample (the probe's third opinion asks 32): `page_node-*`.
"""

from __future__ import annotations

from functools import partial

from fixtures.matrix.page_node import PRIVATE_KIND, PageNodeCase, page_node_cases
from fixtures.oracle import Expectation, vma_placement
from fixtures.oracle.folios import FolioRotation
from fixtures.oracle.mappings import KINDS, mapping_placement
from fixtures.plugin.checks import check_page_node, observed_outcome
from fixtures.plugin.verdicts import CaseRecord
from fixtures.profiles import Profile
from fixtures.system.child import run_in_child
from fixtures.system.topology import Topology
from fixtures.workloads.page_node import PageNodeRun, ask_every_page

MATRIX = {"page_node_case": page_node_cases}


def _expected(
    c: PageNodeCase, run: PageNodeRun, topology: Topology, profile: Profile, release: str
) -> Expectation | FolioRotation:
    if c.kind == PRIVATE_KIND:
        return vma_placement(
            topology,
            c.policy,
            profile,
            release,
            npages=run.geometry.units,
            vm_pgoff=run.geometry.vm_pgoff,
            cpu_node=c.cpu_node,
        )
    return mapping_placement(
        topology,
        KINDS[c.kind],
        c.policy,
        profile,
        release,
        geometry=run.geometry,
        cpu_node=c.cpu_node,
    ).placement


def test_page_node(
    page_node_case: PageNodeCase,
    topology: Topology,
    profile: Profile,
    kernel_release: str,
    case: CaseRecord,
) -> None:
    c = page_node_case
    case.params = c.params()
    run = observed_outcome(case, run_in_child(partial(ask_every_page, c.kind, c.policy, c.cpu)))
    check_page_node(case, _expected(c, run, topology, profile, kernel_release), run)
