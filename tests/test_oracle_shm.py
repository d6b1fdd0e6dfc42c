"""The shm oracle: sub-range placement and readback, SysV shared policy against
hugetlbfs's none, against hand-computed expectations."""

from pathlib import Path

from fixtures.abi.uapi import Mode
from fixtures.matrix.shm import ShmCase, shm_cases
from fixtures.oracle.shm import Segment, shared_placement, sub_ranges
from fixtures.profiles import load_profile
from fixtures.system.topology import discover

TOPOLOGY = discover(Path(__file__).parent / "data" / "sysfs" / "qemu-3mem-1memoryless")
MAINLINE = load_profile("mainline")
RELEASE = "6.12.117+deb12-amd64"


def test_sub_ranges_cover_the_segment_once() -> None:
    for units in (8, 255):
        ranges = sub_ranges(TOPOLOGY, units)
        assert ranges[0].start == 0
        assert sum(r.length for r in ranges) == units
        for a, b in zip(ranges, ranges[1:], strict=False):
            assert a.start + a.length == b.start
        assert [r.policy.mode for r in ranges] == [
            Mode.MPOL_BIND,
            Mode.MPOL_INTERLEAVE,
            Mode.MPOL_PREFERRED,
            Mode.MPOL_DEFAULT,
        ]


def _expect(segment: Segment, units: int, inode: int = 5):
    ranges = sub_ranges(TOPOLOGY, units)
    return ranges, shared_placement(
        TOPOLOGY, segment, ranges, MAINLINE, RELEASE, inode=inode, first_node=0, second_node=1
    )


def test_sysv_shared_policy_places_both_processes_pages() -> None:
    ranges, got = _expect(Segment.SYSV, 255)
    nodes = got.placement.per_page
    bind, inter, pref, default = ranges
    assert set(nodes[: bind.length]) == {3}  # the last memory node, both halves
    first = inter.start
    assert nodes[first : first + 3] == tuple([0, 1, 3][(5 + first + k) % 3] for k in range(3))
    assert set(nodes[pref.start : pref.start + pref.length]) == {0}
    tail = nodes[default.start :]
    assert tail[: default.first_half] == (0,) * default.first_half  # the first process's CPU
    assert set(tail[default.first_half :]) == {1}  # the second's
    assert got.second_readback == got.first_readback
    assert got.first_readback[0].mode == Mode.MPOL_BIND


def test_hugetlbfs_has_no_shared_policy() -> None:
    ranges, got = _expect(Segment.HUGETLBFS, 8)
    nodes = got.placement.per_page
    # The bind range: the first process's half on node 3, the second's on its local node.
    bind = ranges[0]
    assert nodes[: bind.first_half] == (3,) * bind.first_half
    assert set(nodes[bind.first_half : bind.length]) == {1}
    assert all(r.mode == Mode.MPOL_DEFAULT and not r.nodes for r in got.second_readback)
    # The interleave is by the huge page's index in the file, no inode bias.
    inter = ranges[1]
    assert nodes[inter.start] == [0, 1, 3][inter.start % 3]


def test_readback_mismatch_is_a_violation() -> None:
    _, got = _expect(Segment.SYSV, 255)
    seen = [(r.mode, r.nodes) for r in got.first_readback]
    assert got.violations(got.placement.per_page, seen, seen) == []
    wrong = [(int(Mode.MPOL_DEFAULT), frozenset())] * 4
    assert got.violations(got.placement.per_page, seen, wrong)


def test_matrix_has_one_case_per_segment() -> None:
    cases = shm_cases(TOPOLOGY)
    assert all(isinstance(c, ShmCase) for c in cases)
    assert [c.id for c in cases if isinstance(c, ShmCase)] == [
        "sysv-subranges-from-node0,1",
        "sysv-hugetlb-subranges-from-node0,1",
        "hugetlbfs-subranges-from-node0,1",
    ]
