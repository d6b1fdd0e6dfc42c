"""get_mempolicy reads back the mode and nodemask that were set.

`mbind-*` cases read the VMA policy with MPOL_F_ADDR, `set_mempolicy-*` cases the task
policy with flags 0.
"""

from fixtures.matrix import PlacementCase, placement_cases
from fixtures.plugin.checks import check_anon_readback
from fixtures.plugin.verdicts import CaseRecord
from fixtures.profiles import Profile

PAGES = 1  # readback needs a VMA, not a placement


MATRIX = {"placement_case": placement_cases}


def test_readback(
    placement_case: PlacementCase, profile: Profile, kernel_release: str, case: CaseRecord
) -> None:
    case.params = placement_case.params()
    check_anon_readback(case, placement_case, profile, kernel_release, npages=PAGES)
