"""The filesystems oracle's rules and matrix, against hand-computed expectations."""

from pathlib import Path

import pytest

from fixtures.abi.uapi import Mode
from fixtures.matrix.filesystems import filesystem_cases
from fixtures.oracle import ExactPages, Policy, Within
from fixtures.oracle.filesystems import (
    FILESYSTEMS,
    FileGeometry,
    Operation,
    file_placement,
    huge_folios_expected,
    page_cache_balance,
    shmem_folio_indices,
)
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


@pytest.mark.parametrize(
    ("fs", "op", "release", "balance"),
    [
        ("ext4", Operation.READ, V612, 4),
        ("ext4", Operation.READ, V73, 32),  # ext4 large folios, 6.16
        ("xfs", Operation.READ, V61, 32),  # xfs large folios on readahead, 5.18
        ("xfs", Operation.WRITE, V61, 4),  # iomap large folio writes, 6.6
        ("xfs", Operation.WRITE, V612, 32),
        ("btrfs", Operation.WRITE, V612, 4),
        ("btrfs", Operation.READ, V73, 32),
    ],
)
def test_page_cache_interleave_is_a_balance_gated_by_large_folios(
    fs: str, op: Operation, release: str, balance: int
) -> None:
    assert page_cache_balance(FILESYSTEMS[fs], op, MAINLINE, release)[0] == balance
    got = _place(fs, op, Policy(Mode.MPOL_INTERLEAVE, frozenset({0, 1})), release)
    assert isinstance(got, Within) and got.balance == balance and got.nodes == {0, 1}


def test_page_cache_balance_can_fail() -> None:
    got = _place("ext4", Operation.WRITE, Policy(Mode.MPOL_INTERLEAVE, frozenset({0, 1})), V612)
    assert got.violations((0,) * 124 + (1,) * 131) == []
    assert got.violations((0,) * 120 + (1,) * 135)  # 7.5 off an even split, 4 allowed
    assert got.violations((0,) * 127 + (3,) * 128)  # a node outside the mask


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
