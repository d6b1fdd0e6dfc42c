"""The mappings oracle's rules, the mappings matrix and the helpers that read the kernel's
view of a mapping, checked against hand-computed expectations and recorded text."""

import os
from dataclasses import replace
from pathlib import Path

import pytest

from fixtures.abi.uapi import Mode
from fixtures.matrix import (
    file_mapping_cases,
    hugetlb_mapping_cases,
    shmem_mapping_cases,
    thp_mapping_cases,
)
from fixtures.oracle import ExactPages, Policy, Readback, Within
from fixtures.oracle.folios import FolioRotation, FolioSpan
from fixtures.oracle.mappings import (
    KINDS,
    Geometry,
    MappingExpectation,
    interleave_first_index,
    mapping_placement,
)
from fixtures.profiles import load_profile
from fixtures.system.memory import PAGE_SIZE
from fixtures.system.topology import discover
from fixtures.workloads.mappings import (
    HUGE_SIZE,
    file_region,
    maps_entry,
    memfd,
    mpol_option,
    shared_anon,
    thp_disabled_reason,
    thp_folios,
    thp_missing_reason,
    thp_region,
)

# Nodes 0 and 1 have a CPU and memory, node 2 a CPU only, node 3 memory only.
TOPOLOGY = discover(Path(__file__).parent / "data" / "sysfs" / "qemu-3mem-1memoryless")
MAINLINE = load_profile("mainline")
NEW = "6.12.57+deb13-amd64"
OLD = "6.1.0-56-amd64"

BASE = Geometry(
    units=5, unit_kib=4, units_per_folio=1, order=0, vm_start=0x7F0000000000, vm_pgoff=1, inode=7
)
THP = Geometry(
    units=3 * 512,
    unit_kib=4,
    units_per_folio=512,
    order=9,
    vm_start=0x7F0000200000,
    vm_pgoff=0x7F0000200,
    inode=0,
)
HUGETLB = Geometry(
    units=3, unit_kib=2048, units_per_folio=1, order=9, vm_start=0x7F0000400000, vm_pgoff=0, inode=9
)
INTERLEAVE_0_3 = Policy(Mode.MPOL_INTERLEAVE, frozenset({0, 3}))


def expect(
    kind: str, policy: Policy, geometry: Geometry, *, cpu_node: int = 0, release: str = NEW
) -> MappingExpectation:
    return mapping_placement(
        TOPOLOGY, KINDS[kind], policy, MAINLINE, release, geometry=geometry, cpu_node=cpu_node
    )


@pytest.mark.parametrize(
    "kind", ["shared-anon", "shared-anon-task", "memfd", "tmpfs", "tmpfs-mount"]
)
def test_shmem_interleaves_by_inode_plus_object_offset(kind: str) -> None:
    # Index 7 + 1 = 8 for the first page: even, so the lowest node of the mask first.
    expected = expect(kind, INTERLEAVE_0_3, BASE)
    assert isinstance(expected.placement, ExactPages)
    assert expected.placement.per_page == (0, 3, 0, 3, 0)
    odd_inode = expect(kind, INTERLEAVE_0_3, replace(BASE, inode=8))
    assert isinstance(odd_inode.placement, ExactPages)
    assert odd_inode.placement.per_page == (3, 0, 3, 0, 3)


def test_a_private_file_copy_interleaves_by_file_offset_without_the_inode() -> None:
    assert interleave_first_index(KINDS["file-private"], BASE) == 1
    expected = expect("file-private", INTERLEAVE_0_3, BASE)
    assert isinstance(expected.placement, ExactPages)
    assert expected.placement.per_page == (3, 0, 3, 0, 3)


def test_page_cache_ignores_a_vma_policy_and_keeps_it_for_readback() -> None:
    policy = Policy(Mode.MPOL_BIND, frozenset({3}))
    expected = expect("file-vma", policy, BASE, cpu_node=1)
    assert isinstance(expected.placement, ExactPages)
    assert set(expected.placement.per_page) == {1}  # the faulting CPU's node, not 3
    assert expected.readback == Readback(mode=int(Mode.MPOL_BIND), nodes=frozenset({3}))


def test_page_cache_under_task_interleave_is_a_balance_not_a_pattern() -> None:
    expected = expect("file-task", INTERLEAVE_0_3, BASE)
    assert isinstance(expected.placement, Within)
    assert expected.placement.nodes == {0, 3}
    assert expected.placement.balance == MAINLINE.tolerance("task_interleave_pages")
    assert expected.readback is None  # a task policy is read back elsewhere
    assert interleave_first_index(KINDS["file-task"], BASE) is None


def test_ext4_large_folios_turn_the_counter_once_per_folio_from_6_16() -> None:
    """7.3 split 255 pages {0: 133, 1: 122}: ext4's large folios (6.16) advance the
    per-task counter once per folio. The rule is the rotation over the folios the child
    read, exact; 6.12 keeps the per-page balance."""
    spans = (FolioSpan(0, 1, 0), FolioSpan(1, 4, 2))
    folios = replace(BASE, folios=spans)
    new = expect("file-task", INTERLEAVE_0_3, folios, release="7.3.4")
    old = expect("file-task", INTERLEAVE_0_3, folios, release="6.12.0")
    assert isinstance(new.placement, FolioRotation) and isinstance(old.placement, Within)
    assert new.placement.spans == spans and new.placement.nodes == {0, 3}
    assert old.placement.balance == MAINLINE.tolerance("task_interleave_pages")
    assert "once per folio" in new.placement.rule and "folio" not in old.placement.rule
    assert new.placement.other_allocations == MAINLINE.tolerance(
        "task_interleave_other_allocations"
    )
    assert new.violations((0, 3, 3, 3, 3)) == []
    assert new.placement.turns((3, 0, 0, 0, 0)) == [(0, 1)]  # one turn before the first
    with pytest.raises(ValueError, match="must read its folios"):
        expect("file-task", INTERLEAVE_0_3, BASE, release="7.3.4")


def test_counted_side_allocations_make_page_cache_exact_before_6_16() -> None:
    """With the task's side allocations counted, 6.12's page cache is the rotation page
    by page, not a balance: a split the balance lets pass fails."""
    singles = tuple(FolioSpan(p, 1, 0) for p in range(12))
    geometry = replace(BASE, units=12, folios=singles)
    counted = mapping_placement(
        TOPOLOGY,
        KINDS["file-task"],
        INTERLEAVE_0_3,
        MAINLINE,
        "6.12.0",
        geometry=geometry,
        cpu_node=0,
        side_allocations=1,
    )
    placement = counted.placement
    fault_path = MAINLINE.tolerance("task_interleave_fault_allocations")
    assert isinstance(placement, FolioRotation) and "once per page" in placement.rule
    assert placement.other_allocations == 1 + fault_path
    assert "1 side allocations" in placement.budget and "fault path" in placement.budget
    assert placement.violations((0, 3) * 6) == []
    assert placement.violations((0, 3, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0)) == []  # one turn
    pairs = (0, 0, 3, 3) * 3  # a turn before every second page: 6 unseen
    assert placement.violations(pairs)
    balance = expect("file-task", INTERLEAVE_0_3, geometry, release="6.12.0").placement
    assert isinstance(balance, Within)
    assert balance.violations(pairs) == []  # what the balance could not see


def test_page_cache_under_task_bind_is_exact() -> None:
    expected = expect("file-task", Policy(Mode.MPOL_BIND, frozenset({0, 3})), BASE, cpu_node=1)
    assert isinstance(expected.placement, ExactPages)
    assert set(expected.placement.per_page) == {0}  # node 0 is nearer to node 1 than node 3


@pytest.mark.parametrize("kind", ["thp", "thp-task"])
def test_thp_interleaves_whole_folios_by_pgoff_in_2mib_units(kind: str) -> None:
    expected = expect(kind, INTERLEAVE_0_3, THP)
    assert isinstance(expected.placement, ExactPages)
    # 0x7F0000200 >> 9 = 0x3F80001: odd, so the first folio goes to node 3.
    assert expected.placement.per_page == (3,) * 512 + (0,) * 512 + (3,) * 512
    assert expected.huge_folios == 3
    assert expected.unit_kib == 4


def test_hugetlb_counts_and_interleaves_in_huge_pages() -> None:
    expected = expect("hugetlb", INTERLEAVE_0_3, HUGETLB)
    assert isinstance(expected.placement, ExactPages)
    assert expected.placement.per_page == (0, 3, 0)  # vm_pgoff 0, no inode bias
    assert expected.unit_kib == 2048
    assert expected.huge_folios is None
    bind = expect("hugetlb-task", Policy(Mode.MPOL_PREFERRED, frozenset({3})), HUGETLB)
    assert isinstance(bind.placement, ExactPages)
    assert bind.placement.per_page == (3, 3, 3)


def test_kernels_before_6_7_cut_the_interleave_index_to_32_bits() -> None:
    three = Policy(Mode.MPOL_INTERLEAVE, frozenset({0, 1, 3}))
    big_inode = replace(BASE, inode=2**32 + 1, vm_pgoff=0)
    full = expect("memfd", three, big_inode)
    cut = expect("memfd", three, big_inode, release=OLD)
    assert isinstance(full.placement, ExactPages) and isinstance(cut.placement, ExactPages)
    assert full.placement.per_page[0] == 3  # (2**32 + 1) % 3 = 2: the third node
    assert cut.placement.per_page[0] == 1  # (2**32 + 1) & 0xffffffff = 1: the second


def test_local_from_a_memoryless_node_is_any_nearest_memory_node() -> None:
    expected = expect("hugetlb", Policy(Mode.MPOL_LOCAL), HUGETLB, cpu_node=2)
    assert isinstance(expected.placement, Within)
    assert expected.placement.nodes == {0, 1}


def test_violations_name_the_thp_count_and_the_readback() -> None:
    expected = expect("thp", Policy(Mode.MPOL_BIND, frozenset({1})), THP)
    assert isinstance(expected.placement, ExactPages)
    good = expected.placement.per_page
    bind_1 = (int(Mode.MPOL_BIND), frozenset({1}))
    assert expected.violations(good, huge_folios=3, readback_seen=bind_1) == []
    problems = expected.violations(good, huge_folios=2, readback_seen=(0, frozenset()))
    assert len(problems) == 2
    assert "2 of the region's 2 MiB ranges" in problems[0]
    assert "read back mode 0" in problems[1]


def test_local_readback_before_5_14_is_preferred_with_no_nodes() -> None:
    expected = expect("memfd", Policy(Mode.MPOL_LOCAL), BASE, release="5.10.0")
    assert expected.readback == Readback(mode=int(Mode.MPOL_PREFERRED), nodes=frozenset())


def test_the_mappings_matrix_ids_are_readable_and_unique() -> None:
    builders = (shmem_mapping_cases, file_mapping_cases, thp_mapping_cases, hugetlb_mapping_cases)
    cases = [c for build in builders for c in build(TOPOLOGY)]
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids))
    for wanted in (
        "memfd-interleave-nodes0,3",
        "hugetlb-bind-node1",
        "file-task-bind-node3",
        "file-vma-local-from-node2",
        "thp-task-interleave-nodes0,1,3",
        "shared-anon-preferred-node0",
    ):
        assert wanted in ids
    # 13 policies from the first CPU and DEFAULT/LOCAL from three CPU nodes, per kind.
    assert len(cases) == len(KINDS) * (13 + 2 * 3)
    assert {c.kind for c in cases} == set(KINDS)


MAPS = """\
55d0c0a00000-55d0c0a01000 r--p 00000000 00:20 1234    /usr/bin/python3
7f3a00001000-7f3a00100000 rw-s 00001000 00:01 11598   /memfd:mempolicy-mappings (deleted)
7f3a00200000-7f3a00c00000 rw-p 00000000 00:00 0
"""

SMAPS = """\
7f3a00001000-7f3a00100000 rw-s 00001000 00:01 11598   /memfd:mempolicy-mappings (deleted)
Size:               1020 kB
AnonHugePages:         0 kB
7f3a00200000-7f3a00c00000 rw-p 00000000 00:00 0
Size:              10240 kB
AnonHugePages:      8192 kB
"""


def test_maps_and_smaps_are_read_per_vma(tmp_path: Path) -> None:
    (tmp_path / "maps").write_text(MAPS)
    (tmp_path / "smaps").write_text(SMAPS)
    entry = maps_entry(0x7F3A00001000, tmp_path / "maps")
    assert (entry.pgoff, entry.inode, entry.end) == (1, 11598, 0x7F3A00100000)
    assert thp_folios(0x7F3A00200000, tmp_path / "smaps") == 4
    assert thp_folios(0x7F3A00001000, tmp_path / "smaps") == 0
    with pytest.raises(LookupError):
        maps_entry(0x1000, tmp_path / "maps")


def test_thp_availability_reads_the_sysfs_switches(tmp_path: Path) -> None:
    assert thp_missing_reason(tmp_path) is not None
    (tmp_path / "enabled").write_text("always madvise [never]\n")
    assert thp_missing_reason(tmp_path) is None
    assert "never" in (thp_disabled_reason(tmp_path) or "")
    (tmp_path / "enabled").write_text("always [madvise] never\n")
    assert thp_disabled_reason(tmp_path) is None
    (tmp_path / "hugepages-2048kB").mkdir()
    (tmp_path / "hugepages-2048kB" / "enabled").write_text("always inherit madvise [never]\n")
    assert "PMD-sized" in (thp_disabled_reason(tmp_path) or "")


def test_a_tmpfs_mount_policy_is_the_files_shared_policy_and_reads_back() -> None:
    expected = expect("tmpfs-mount", INTERLEAVE_0_3, BASE)
    assert isinstance(expected.placement, ExactPages)
    assert expected.placement.per_page == (0, 3, 0, 3, 0)  # inode 7 + offset 1: even
    assert expected.readback == Readback(mode=int(Mode.MPOL_INTERLEAVE), nodes=frozenset({0, 3}))
    default = expect("tmpfs-mount", Policy(Mode.MPOL_DEFAULT), BASE, cpu_node=1)
    assert isinstance(default.placement, ExactPages)
    assert set(default.placement.per_page) == {1}
    assert default.readback == Readback(mode=int(Mode.MPOL_DEFAULT), nodes=frozenset())


@pytest.mark.parametrize(
    ("policy", "option"),
    [
        (Policy(Mode.MPOL_DEFAULT), "default"),
        (Policy(Mode.MPOL_LOCAL), "local"),
        (Policy(Mode.MPOL_PREFERRED, frozenset({3})), "prefer:3"),
        (Policy(Mode.MPOL_BIND, frozenset({3, 0})), "bind:0,3"),
        (Policy(Mode.MPOL_INTERLEAVE, frozenset({0, 1, 3})), "interleave:0,1,3"),
    ],
)
def test_tmpfs_mpol_option(policy: Policy, option: str) -> None:
    assert mpol_option(policy) == option


def test_regions_are_one_vma_with_the_page_offset_asked_for() -> None:
    with thp_region(2) as thp:
        assert thp.addr % HUGE_SIZE == 0 and (thp.addr // HUGE_SIZE) % 2 == 1
        assert maps_entry(thp.addr).end == thp.addr + 2 * HUGE_SIZE
    with shared_anon(3) as shared:
        entry = maps_entry(shared.addr)
        assert (entry.end, entry.pgoff) == (shared.addr + 3 * PAGE_SIZE, 0)
        assert entry.inode != 0  # the shmem object's inode, the interleave bias
    with memfd(4) as fd, file_region(fd, 3, offset_pages=1) as second:
        entry = maps_entry(second.addr)
        assert (entry.pgoff, entry.inode) == (1, os.fstat(fd).st_ino)
