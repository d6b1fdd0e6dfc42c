"""Anonymous write faults land where the policy says, and nowhere else.

Every case runs in a forked child pinned to one CPU: `mbind-*` cases give a private
anonymous VMA the policy, `set_mempolicy-*` cases give it to the task.
"""

from fixtures.matrix import PlacementCase, placement_cases
from fixtures.plugin.checks import check_anon_placement
from fixtures.plugin.verdicts import CaseRecord
from fixtures.profiles import Profile
from fixtures.system.topology import Topology
from fixtures.workloads.placement import DEFAULT_PAGES

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
    check_anon_placement(case, c, topology, profile, kernel_release, npages=DEFAULT_PAGES)
