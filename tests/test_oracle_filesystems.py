"""The filesystems oracle's rules and matrix, against hand-computed expectations."""

from pathlib import Path

import pytest

from fixtures.abi.uapi import Mode
from fixtures.matrix.filesystems import filesystem_cases
from fixtures.oracle import ExactPages, Policy
from fixtures.oracle.filesystems import (
    FILESYSTEMS,
    FileGeometry,
    Operation,
    file_placement,
    huge_folios_expected,
    shmem_folio_indices,
)
from fixtures.oracle.folios import FolioRotation, FolioSpan
from fixtures.profiles import load_profile
from fixtures.system.topology import discover

# Nodes 0 and 1 have a CPU and memory, node 2 a CPU only, node 3 memory only.
TOPOLOGY = discover(Path(__file__).parent / "data" / "sysfs" / "qemu-3mem-1memoryless")
MAINLINE = load_profile("mainline")
V61, V612, V73 = "6.1.0-57-amd64", "6.12.117+deb12-amd64", "7.3.4+deb13-amd64"
PAGES = FileGeometry(pages=255, inode=12)


def _place(fs: str, op: Operation, policy: Policy, release: str, geometry: FileGeometry = PAGES):
    return file_placement(
        TOPOLOGY,
        FILESYSTEMS[fs],
        op,
        policy,
        MAINLINE,
        release,
        geometry=geometry,
        cpu_node=0,
    )


def test_bind_and_preferred_are_exact_on_every_file_system() -> None:
    for fs, rule in FILESYSTEMS.items():
        for op in rule.operations:
            bind = _place(fs, op, Policy(Mode.MPOL_BIND, frozenset({3})), V612)
            assert isinstance(bind, ExactPages) and set(bind.per_page) == {3}
            pref = _place(fs, op, Policy(Mode.MPOL_PREFERRED, frozenset({1})), V612)
            assert isinstance(pref, ExactPages) and set(pref.per_page) == {1}


def test_bind_takes_the_node_nearest_the_writer() -> None:
    # From node 0, of {1, 3} node 1 is nearer (the recorded distances: 0-1 20, 0-3 30).
    got = _place("xfs", Operation.WRITE, Policy(Mode.MPOL_BIND, frozenset({1, 3})), V612)
    assert isinstance(got, ExactPages) and set(got.per_page) == {1}


def _spans(*sizes: int) -> tuple[FolioSpan, ...]:
    """Folios of the given page counts, back to back from page 0 (order from the size)."""
    spans, first = [], 0
    for n in sizes:
        spans.append(FolioSpan(first, n, n.bit_length() - 1))
        first += n
    return tuple(spans)


def _rotated(
    spans: tuple[FolioSpan, ...], nodes: list[int], skip: dict[int, int]
) -> tuple[int, ...]:
    """Pages placed by the rotation over `nodes`, with skip[k] extra turns before folio k."""
    per_page, turn = [], 0
    for k, span in enumerate(spans):
        turn += skip.get(k, 0)
        per_page += [nodes[turn % len(nodes)]] * span.npages
        turn += 1
    return tuple(per_page)


PAIR = Policy(Mode.MPOL_INTERLEAVE, frozenset({0, 1}))
SINGLE_PAGES = _spans(*[1] * 255)
LARGE = _spans(*[32] * 7, 16, 4, 2, 1)  # 255 pages: 128 KiB folios, a tail of smaller ones


@pytest.mark.parametrize(
    ("fs", "op", "release"),
    [
        ("ext4", Operation.READ, V612),  # single pages
        ("ext4", Operation.WRITE, V73),  # ext4 large folios, 6.16
        ("xfs", Operation.READ, V61),  # xfs large folios on readahead, 5.18
        ("xfs", Operation.WRITE, V61),  # single pages before iomap large folio writes, 6.6
        ("xfs", Operation.WRITE, V612),
        ("btrfs", Operation.WRITE, V612),
        ("btrfs", Operation.READ, V73),
    ],
)
def test_page_cache_interleave_is_the_folio_rotation_on_every_kernel(
    fs: str, op: Operation, release: str
) -> None:
    geometry = FileGeometry(pages=255, inode=12, folios=LARGE)
    got = _place(fs, op, PAIR, release, geometry)
    assert isinstance(got, FolioRotation)
    assert got.spans == LARGE and got.nodes == {0, 1}
    assert got.other_allocations == MAINLINE.tolerance("task_interleave_other_allocations")
    assert got.violations(_rotated(LARGE, [0, 1], {})) == []


def test_page_cache_rotation_needs_the_folios() -> None:
    with pytest.raises(ValueError, match="judged by folio"):
        _place("xfs", Operation.WRITE, PAIR, V612)


def test_page_cache_rotation_page_by_page_is_exact() -> None:
    geometry = FileGeometry(pages=255, inode=12, folios=SINGLE_PAGES)
    got = _place("ext4", Operation.WRITE, PAIR, V612, geometry)
    assert isinstance(got, FolioRotation)
    assert got.violations(_rotated(SINGLE_PAGES, [0, 1], {})) == []
    # What the old balance let pass (124 pages on node 0, 131 on node 1: 3.5 off an even
    # split, 4 allowed) but no rotation makes: node 1 seven times at the end, 6 turns unseen.
    drift = (0, 1) * 124 + (1,) * 7
    assert len(drift) == 255
    assert got.violations(drift)
    # Starting on the mask's second node is one turn, within the budget, and named.
    late = _rotated(SINGLE_PAGES, [0, 1], {0: 1})
    assert got.violations(late) == []
    assert got.turns(late) == [(0, 1)]


def test_page_cache_rotation_can_fail() -> None:
    geometry = FileGeometry(pages=255, inode=12, folios=LARGE)
    three = Policy(Mode.MPOL_INTERLEAVE, frozenset({0, 1, 3}))
    got = _place("xfs", Operation.READ, three, V612, geometry)
    assert isinstance(got, FolioRotation)
    assert got.violations(_rotated(LARGE, [0, 1, 3], {3: 2, 7: 2})) == []  # 4 turns: the budget
    over = got.violations(_rotated(LARGE, [0, 1, 3], {3: 2, 7: 2, 9: 1}))
    assert over and "5 turns" in over[0] and "before folio 3" in over[0]
    # A folio split over two nodes.
    split = list(_rotated(LARGE, [0, 1, 3], {}))
    split[40] = 3
    assert any("split over nodes" in p for p in got.violations(tuple(split)))
    # A page outside the mask; a folio count that is not the file's.
    assert got.violations((2,) * 255)
    assert got.violations(_rotated(LARGE, [0, 1, 3], {})[:-1])


def test_page_cache_geometry_reports_its_folios() -> None:
    doc = FileGeometry(pages=255, inode=12, folios=LARGE).to_json()
    assert doc["folios"] == {"order0": 1, "order1": 1, "order2": 1, "order4": 1, "order5": 7}
    assert "folios" not in PAGES.to_json()


def test_tmpfs_interleave_is_exact_by_inode_and_index() -> None:
    got = _place("tmpfs", Operation.WRITE, Policy(Mode.MPOL_INTERLEAVE, frozenset({0, 1, 3})), V61)
    assert isinstance(got, ExactPages)
    # inode 12: index 0 -> (12 + 0) % 3 = 0 -> node 0; index 1 -> node 1; index 2 -> node 3.
    assert got.per_page[:4] == (0, 1, 3, 0)
    assert len(got.per_page) == 255


def test_shmem_huge_folio_index_changed_in_6_7() -> None:
    # inode 2, three PMD folios: 6.7+ i_ino + k; before, (i_ino + 512 k) >> 9 = k.
    assert shmem_folio_indices(2, 3, 9, by_folio=True) == (2, 3, 4)
    assert shmem_folio_indices(2, 3, 9, by_folio=False) == (0, 1, 2)
    geometry = FileGeometry(pages=3 * 512, inode=2)
    policy = Policy(Mode.MPOL_INTERLEAVE, frozenset({0, 1, 3}))
    new = _place("tmpfs-huge", Operation.WRITE, policy, V612, geometry)
    old = _place("tmpfs-huge", Operation.WRITE, policy, V61, geometry)
    assert isinstance(new, ExactPages) and isinstance(old, ExactPages)
    assert new.per_page[::512] == (3, 0, 1)
    assert old.per_page[::512] == (0, 1, 3)
    assert new.per_page[:512] == (3,) * 512
    assert huge_folios_expected(FILESYSTEMS["tmpfs-huge"], geometry) == 3
    assert huge_folios_expected(FILESYSTEMS["tmpfs"], PAGES) is None


def test_matrix_ids_and_operations() -> None:
    ids = [c.id for c in filesystem_cases(TOPOLOGY)]
    assert len(ids) == len(set(ids))
    assert "xfs-read-interleave-nodes0,1" in ids
    assert "btrfs-write-bind-node3" in ids
    assert "tmpfs-huge-write-interleave-nodes0,1,3" in ids
    assert not [i for i in ids if i.startswith("tmpfs") and "-read-" in i]


def test_counted_slabs_are_the_budget_of_unseen_turns() -> None:
    # 6.12's ext4 write over three nodes with SLUB's remote search off: a new buffer_head
    # slab every ~10 single-page folios, one turn each, 17 in all.
    geometry = FileGeometry(pages=255, inode=12, folios=SINGLE_PAGES)
    three = Policy(Mode.MPOL_INTERLEAVE, frozenset({0, 1, 2}))
    every_tenth = {k: 1 for k in range(92, 255, 10)}
    assert len(every_tenth) == 17
    observed = _rotated(SINGLE_PAGES, [0, 1, 2], every_tenth)
    counted = file_placement(
        TOPOLOGY,
        FILESYSTEMS["ext4"],
        Operation.WRITE,
        three,
        MAINLINE,
        V612,
        geometry=geometry,
        cpu_node=0,
        side_allocations=17,
    )
    assert isinstance(counted, FolioRotation) and counted.other_allocations == 17
    assert "17 side allocations" in counted.budget
    assert counted.violations(observed) == []
    # One turn more than the slabs counted is a kernel turning the counter for nothing.
    assert counted.violations(_rotated(SINGLE_PAGES, [0, 1, 2], {**every_tenth, 3: 1}))
    # At the default ratio the search took a second turn per slab (34): over any budget.
    doubled = _rotated(SINGLE_PAGES, [0, 1, 2], {k: 2 for k in every_tenth})
    assert counted.violations(doubled)
    uncounted = _place("ext4", Operation.WRITE, three, V612, geometry)
    assert isinstance(uncounted, FolioRotation)
    assert uncounted.other_allocations == MAINLINE.tolerance("task_interleave_other_allocations")
    assert uncounted.violations(observed)
