"""The oracle's rules, checked against hand-computed expectations."""

from pathlib import Path

import pytest

from fixtures import oracle
from fixtures.abi.uapi import Mode, ModeFlag
from fixtures.oracle import ExactPages, Policy, Within
from fixtures.profiles import load_profile
from fixtures.system.topology import discover

TOPOLOGY = discover(Path(__file__).parent / "data" / "sysfs" / "qemu-3mem-1memoryless")
MAINLINE = load_profile("mainline")
RELEASE = "6.12.57+deb13-amd64"


def test_interleave_counts_from_vm_pgoff_and_the_lowest_node() -> None:
    assert oracle.interleave_pages(frozenset({3, 0}), 5, first_index=0) == (0, 3, 0, 3, 0)
    # An odd page offset starts the rotation on the second node of the mask.
    assert oracle.interleave_pages(frozenset({3, 0}), 5, first_index=0x7F0000001) == (3, 0, 3, 0, 3)
    assert oracle.interleave_pages(frozenset({0, 1, 3}), 4, first_index=5) == (3, 0, 1, 3)


def test_kernels_before_6_7_truncate_the_interleave_index_to_32_bits() -> None:
    # Recorded on 6.1.0-56-amd64: vm_pgoff 0x7f1fa4c58, nodes 0-2, the first page on node 1.
    policy = Policy(Mode.MPOL_INTERLEAVE, frozenset({0, 1, 2}))
    old = oracle.vma_placement(
        TOPOLOGY, policy, MAINLINE, "6.1.0-56-amd64", npages=3, vm_pgoff=0x7F1FA4C58, cpu_node=0
    )
    new = oracle.vma_placement(
        TOPOLOGY, policy, MAINLINE, RELEASE, npages=3, vm_pgoff=0x7F1FA4C58, cpu_node=0
    )
    assert isinstance(old, ExactPages) and isinstance(new, ExactPages)
    assert old.per_page == (1, 2, 0)
    assert new.per_page == (2, 0, 1)


def test_vma_interleave_is_exact_per_page() -> None:
    policy = Policy(Mode.MPOL_INTERLEAVE, frozenset({0, 1}))
    expected = oracle.vma_placement(
        TOPOLOGY, policy, MAINLINE, RELEASE, npages=255, vm_pgoff=0x7F12345, cpu_node=0
    )
    assert isinstance(expected, ExactPages)
    assert expected.counts == {0: 127, 1: 128}
    assert expected.violations(expected.per_page) == []
    shifted = expected.per_page[1:] + expected.per_page[:1]
    assert any("wrong node" in p for p in expected.violations(shifted))


@pytest.mark.parametrize(
    ("policy", "cpu_node", "node"),
    [
        (Policy(Mode.MPOL_BIND, frozenset({3})), 0, 3),
        (Policy(Mode.MPOL_PREFERRED, frozenset({1})), 0, 1),
        (Policy(Mode.MPOL_DEFAULT), 1, 1),
        (Policy(Mode.MPOL_LOCAL), 0, 0),
        # BIND to several nodes takes the nearest one of them to the faulting CPU.
        (Policy(Mode.MPOL_BIND, frozenset({1, 3})), 1, 1),
        (Policy(Mode.MPOL_BIND, frozenset({0, 3})), 1, 0),
    ],
)
def test_single_node_placements(policy: Policy, cpu_node: int, node: int) -> None:
    expected = oracle.vma_placement(
        TOPOLOGY, policy, MAINLINE, RELEASE, npages=10, vm_pgoff=0, cpu_node=cpu_node
    )
    assert isinstance(expected, ExactPages)
    assert expected.counts == {node: 10}


def test_local_allocation_from_a_memoryless_node_may_use_either_nearest_node() -> None:
    expected = oracle.vma_placement(
        TOPOLOGY, Policy(Mode.MPOL_LOCAL), MAINLINE, RELEASE, npages=8, vm_pgoff=0, cpu_node=2
    )
    assert isinstance(expected, Within)
    assert expected.nodes == {0, 1}
    assert expected.violations((0,) * 8) == []
    assert expected.violations((3,) * 8) != []


def test_task_interleave_of_a_known_vma_is_exact() -> None:
    # A fault interleaves by the VMA's offset under a task policy too (get_vma_policy()).
    policy = Policy(Mode.MPOL_INTERLEAVE, frozenset({0, 3}))
    pgoff = 0x7F0000001  # odd: the first page goes to the second node of the mask
    expected = oracle.task_placement(
        TOPOLOGY, policy, MAINLINE, RELEASE, npages=6, cpu_node=0, vm_pgoff=pgoff
    )
    assert isinstance(expected, oracle.ExactPages)
    assert expected.per_page == (3, 0, 3, 0, 3, 0)
    assert expected.rule.startswith("the task policy, by the VMA's offset: interleave")
    vma = oracle.vma_placement(
        TOPOLOGY, policy, MAINLINE, RELEASE, npages=6, vm_pgoff=pgoff, cpu_node=0
    )
    assert isinstance(vma, oracle.ExactPages) and vma.per_page == expected.per_page


def test_task_interleave_without_the_vma_is_a_balance_constraint() -> None:
    policy = Policy(Mode.MPOL_INTERLEAVE, frozenset({0, 3}))
    expected = oracle.task_placement(TOPOLOGY, policy, MAINLINE, RELEASE, npages=100, cpu_node=0)
    assert isinstance(expected, Within)
    assert expected.violations((0, 3) * 50) == []
    assert expected.violations((0,) * 52 + (3,) * 48) == []  # drift within the tolerance
    assert expected.violations((0,) * 60 + (3,) * 40) != []
    assert expected.violations((0, 1) * 50) != []  # node 1 was never named
    assert expected.violations((0, 3) * 49 + (-2, -2)) != []  # two pages missing


def test_readback() -> None:
    bind = Policy(Mode.MPOL_BIND, frozenset({0, 3}), ModeFlag.MPOL_F_STATIC_NODES)
    assert oracle.readback(bind, MAINLINE, "6.1.0-56-amd64").mode == 2 | (1 << 15)
    assert oracle.readback(bind, MAINLINE, "6.1.0").nodes == {0, 3}
    local = Policy(Mode.MPOL_LOCAL)
    assert oracle.readback(local, MAINLINE, "6.1.0-56-amd64").mode == Mode.MPOL_LOCAL
    # Before 5.14 the kernel reported MPOL_LOCAL as MPOL_PREFERRED with an empty mask.
    assert oracle.readback(local, MAINLINE, "5.10.0-30-amd64").mode == Mode.MPOL_PREFERRED
    assert oracle.readback(Policy(Mode.MPOL_DEFAULT), MAINLINE, "6.12.0").nodes == frozenset()


def test_policy_labels_are_the_case_ids() -> None:
    assert Policy(Mode.MPOL_BIND, frozenset({1})).label == "bind-node1"
    assert Policy(Mode.MPOL_INTERLEAVE, frozenset({3, 0})).label == "interleave-nodes0,3"
    assert Policy(Mode.MPOL_PREFERRED_MANY, frozenset({0, 1})).label == "preferred-many-nodes0,1"
    assert Policy(Mode.MPOL_LOCAL).label == "local"
