"""The hugetlb_migration oracle: statuses, pools and the matrix."""

import errno
from collections import Counter
from pathlib import Path

from fixtures.matrix.hugetlb_migration import huge_move_cases, huge_race_cases
from fixtures.oracle.hugetlb_migration import (
    PoolCounts,
    moved_placement,
    moved_statuses,
    pool_violations,
    race_status_violations,
)
from fixtures.system.topology import discover
from fixtures.workloads.hugetlb_migration import pool_counts

DATA = Path(__file__).parent / "data" / "sysfs"
TOPOLOGY = discover(DATA / "qemu-3mem-1memoryless")


def test_moved_pages_are_all_on_the_target() -> None:
    assert moved_statuses(1, 3) == (1, 1, 1)
    got = moved_placement(1, 3)
    assert got.violations((1, 1, 1)) == []
    assert got.violations((1, 0, 1))


def test_a_pool_page_lost_or_leaked_is_a_violation() -> None:
    before = {0: PoolCounts(5, 5, 0), 1: PoolCounts(5, 5, 0)}
    assert pool_violations(before, dict(before)) == []
    assert pool_violations(before, {0: PoolCounts(5, 4, 0), 1: PoolCounts(5, 5, 0)})
    assert pool_violations(before, {0: PoolCounts(5, 5, 0), 1: PoolCounts(6, 6, 1)})


def test_race_statuses() -> None:
    seen = Counter({0: 10, 1: 7, -errno.ENOENT: 3, -errno.EFAULT: 1, -errno.EBUSY: 1})
    assert race_status_violations(seen, frozenset({0, 1})) == []
    assert race_status_violations(Counter({3: 1}), frozenset({0, 1}))
    assert race_status_violations(Counter({-errno.ENOMEM: 1}), frozenset({0, 1}))
    assert race_status_violations(seen, frozenset({0, 1}), unwritten_on_success=2)


def test_matrix() -> None:
    moves = [c.id for c in huge_move_cases(TOPOLOGY)]
    assert "move_pages-node0-to-node3" in moves and "move_pages-node3-to-node0" in moves
    assert len(moves) == 6  # memory nodes 0, 1, 3: ordered pairs
    races = huge_race_cases(TOPOLOGY)
    assert [c.id for c in races] == [
        "race-free-nodes0,1",
        "race-free-nodes0,3",
        "race-free-nodes1,3",
    ]
    assert races[0].cpus[0] != races[0].cpus[1]


def test_pool_counts_read_sysfs(tmp_path: Path) -> None:
    for node, (nr, free, surplus) in {0: (5, 4, 0), 1: (2, 2, 1)}.items():
        folder = tmp_path / f"node{node}" / "hugepages" / "hugepages-2048kB"
        folder.mkdir(parents=True)
        (folder / "nr_hugepages").write_text(f"{nr}\n")
        (folder / "free_hugepages").write_text(f"{free}\n")
        (folder / "surplus_hugepages").write_text(f"{surplus}\n")
    assert pool_counts((0, 1), root=tmp_path) == {0: PoolCounts(5, 4, 0), 1: PoolCounts(2, 2, 1)}
