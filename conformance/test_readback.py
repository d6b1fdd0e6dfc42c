"""get_mempolicy reads back the mode and nodemask that were set.

`mbind-*` cases read the VMA policy with MPOL_F_ADDR, `set_mempolicy-*` cases the task
policy with flags 0.
"""

from fixtures import oracle
from fixtures.checks import check_readback, observed_outcome
from fixtures.child import run_in_child
from fixtures.matrix import PlacementCase, placement_cases
from fixtures.plugin import CaseRecord
from fixtures.profile import Profile
from fixtures.workloads import anon_under_task_policy, anon_under_vma_policy

PAGES = 1  # readback needs a VMA, not a placement


MATRIX = {"placement_case": placement_cases}


def test_readback(
    placement_case: PlacementCase, profile: Profile, kernel_release: str, case: CaseRecord
) -> None:
    c = placement_case
    case.params = c.params()
    workload = anon_under_vma_policy if c.api == "mbind" else anon_under_task_policy
    run = observed_outcome(case, run_in_child(lambda: workload(c.policy, PAGES, c.cpu)))
    check_readback(case, oracle.readback(c.policy, profile, kernel_release), run)
