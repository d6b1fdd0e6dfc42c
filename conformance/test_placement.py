"""Anonymous write faults land where the policy says, and nowhere else.

Every case runs in a forked child pinned to one CPU: `mbind-*` cases give a private
anonymous VMA the policy, `set_mempolicy-*` cases give it to the task.
"""

from fixtures import oracle
from fixtures.checks import check_placement, observed_outcome
from fixtures.child import run_in_child
from fixtures.matrix import PlacementCase, placement_cases
from fixtures.plugin import CaseRecord
from fixtures.profile import Profile
from fixtures.topology import Topology
from fixtures.workloads import DEFAULT_PAGES, anon_under_task_policy, anon_under_vma_policy

MATRIX = {"placement_case": placement_cases}


def test_anon_placement(
    placement_case: PlacementCase,
    topology: Topology,
    profile: Profile,
    kernel_release: str,
    case: CaseRecord,
) -> None:
    c = placement_case
    case.params = {**c.params(), "mapping": "anon_private", "pages": DEFAULT_PAGES}
    if c.api == "mbind":
        run = observed_outcome(
            case, run_in_child(lambda: anon_under_vma_policy(c.policy, DEFAULT_PAGES, c.cpu))
        )
        expected = oracle.vma_placement(
            topology,
            c.policy,
            profile,
            kernel_release,
            npages=DEFAULT_PAGES,
            vm_pgoff=run.vm_pgoff,
            cpu_node=c.cpu_node,
        )
    else:
        run = observed_outcome(
            case, run_in_child(lambda: anon_under_task_policy(c.policy, DEFAULT_PAGES, c.cpu))
        )
        expected = oracle.task_placement(
            topology, c.policy, profile, kernel_release, npages=DEFAULT_PAGES, cpu_node=c.cpu_node
        )
    check_placement(case, expected, run)
