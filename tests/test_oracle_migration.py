"""The migration and lifecycle oracle rules, and their matrices, on recorded topologies."""

import errno
from pathlib import Path

import pytest

from fixtures.abi.uapi import Mode
from fixtures.matrix import (
    TopologyTooSmall,
    lifecycle_cases,
    mbind_move_cases,
    migrate_pages_cases,
    move_pages_cases,
    or_skip,
    policy_pair_cases,
)
from fixtures.oracle import ExactPages, Policy, Within, interleave_pages
from fixtures.oracle.lifecycle import (
    Part,
    inherited_task_placement,
    split_placement,
    untouched_local,
    vm_pgoff_after_mremap,
)
from fixtures.oracle.migration import (
    PageKind,
    after_mbind_move,
    after_migrate_pages,
    migrate_pages_destination,
    move_pages_outcome,
    move_pages_status,
    node_remap,
    status_counts,
)
from fixtures.profiles import load_profile
from fixtures.system.topology import Topology, discover

DATA = Path(__file__).parent / "data" / "sysfs"
# Nodes 0 and 1 have a CPU and memory, node 2 a CPU and no memory, node 3 memory only.
TOPOLOGY = discover(DATA / "qemu-3mem-1memoryless")
SPARSE = discover(DATA / "sparse-0-1-4")
MAINLINE = load_profile("mainline")
NEW, OLD = "6.12.57+deb13-amd64", "6.1.0-56-amd64"


def bind(*nodes: int) -> Policy:
    return Policy(Mode.MPOL_BIND, frozenset(nodes))


def interleave(*nodes: int) -> Policy:
    return Policy(Mode.MPOL_INTERLEAVE, frozenset(nodes))


# --- move_pages ---


def test_present_pages_report_their_target_or_stay() -> None:
    def status(kind: PageKind, target: int, move_all: bool = False) -> int:
        return move_pages_status(kind, 3, target=target, move_all=move_all)

    assert status(PageKind.PRESENT, 1) == 1
    assert status(PageKind.PRESENT, 3) == 3  # already there: not queued, node stored
    assert status(PageKind.SHARED, 1) == -errno.EACCES
    assert status(PageKind.SHARED, 3) == 3  # the node check comes before the sharing check
    assert status(PageKind.SHARED, 1, move_all=True) == 1


def test_move_pages_to_per_page_nodes() -> None:
    outcome = move_pages_outcome(TOPOLOGY, (0,) * 5, (0, 1, 3, 0, 1))
    assert outcome.errno is None
    assert outcome.statuses == (0, 1, 3, 0, 1)
    assert outcome.after.per_page == (0, 1, 3, 0, 1)


def test_a_node_without_memory_stops_the_call_after_flushing_what_was_queued() -> None:
    nodes = (1, 1, 1, 2, 1, 1)  # node 2 is the memoryless one
    outcome = move_pages_outcome(TOPOLOGY, (0,) * 6, nodes)
    assert outcome.errno == "ENODEV"
    assert outcome.statuses == (1, 1, 1, None, None, None)
    assert outcome.after.per_page == (1, 1, 1, 0, 0, 0)
    assert status_counts(outcome.statuses) == {"node1": 3, "unwritten": 3}
    first = move_pages_outcome(TOPOLOGY, (0,) * 2, (9, 1))
    assert (first.errno, first.statuses, first.after.per_page) == ("ENODEV", (None, None), (0, 0))


def test_shared_pages_stay_without_move_all() -> None:
    shared = move_pages_outcome(TOPOLOGY, (0,) * 3, (1,) * 3, kind=PageKind.SHARED)
    assert status_counts(shared.statuses) == {"EACCES": 3}
    assert shared.after.per_page == (0, 0, 0)
    moved = move_pages_outcome(
        TOPOLOGY,
        (0,) * 3,
        (1,) * 3,
        kind=PageKind.SHARED,
        move_all=True,
    )
    assert moved.after.per_page == (1, 1, 1)


# --- migrate_pages ---


def test_node_remap_maps_by_rank_modulo_the_new_weight() -> None:
    old, new = frozenset({0, 1}), frozenset({1, 3})
    assert [node_remap(n, old, new) for n in (0, 1, 3)] == [1, 3, 3]
    assert node_remap(1, frozenset({0, 1, 3}), frozenset({4})) == 4


def test_migrate_pages_follows_the_kernel_comment_example() -> None:
    # do_migrate_pages(): "[0-7] -> [3,4,5] moves only 0,1,2,6,7".
    old, new = frozenset(range(8)), frozenset({3, 4, 5})
    moved = {n: migrate_pages_destination(n, old, new) for n in range(8)}
    assert moved == {0: 3, 1: 4, 2: 5, 3: 3, 4: 4, 5: 5, 6: 3, 7: 4}
    # "[2,3,4] -> [3,4,5] moves everything", each by one.
    old, new = frozenset({2, 3, 4}), frozenset({3, 4, 5})
    assert [migrate_pages_destination(n, old, new) for n in (2, 3, 4)] == [3, 4, 5]


def test_migrate_pages_leaves_other_nodes_alone() -> None:
    expected = after_migrate_pages((0, 1, 3, 0), frozenset({0}), frozenset({3}))
    assert expected.per_page == (3, 1, 3, 3)
    spread = after_migrate_pages((0, 0), frozenset({0}), frozenset({1, 3}))
    assert spread.per_page == (1, 1)  # one source, several targets: the first of them


# --- mbind(MPOL_MF_MOVE) ---


def test_mbind_move_places_moved_pages_like_a_fault() -> None:
    expected = after_mbind_move(
        TOPOLOGY, (0,) * 7, interleave(1, 3), MAINLINE, NEW, vm_pgoff=0x7F0000001, cpu_node=0
    )
    assert isinstance(expected, ExactPages)
    assert expected.per_page == interleave_pages(frozenset({1, 3}), 7, 0x7F0000001)
    old = after_mbind_move(
        TOPOLOGY, (0,) * 3, interleave(1, 3), MAINLINE, OLD, vm_pgoff=0x7F1FA4C59, cpu_node=0
    )
    assert isinstance(old, ExactPages)
    # 6.1 truncates the index to 32 bits: 0xFA4C59 is odd, so the first page goes to node 3.
    assert old.per_page == (3, 1, 3)


def test_mbind_move_keeps_pages_already_inside_the_new_mask() -> None:
    kept = after_mbind_move(
        TOPOLOGY, (3,) * 4, interleave(1, 3), MAINLINE, NEW, vm_pgoff=0, cpu_node=0
    )
    assert isinstance(kept, ExactPages) and kept.per_page == (3,) * 4
    # A fresh fault under BIND {0,3} from node 0 would take node 0; pages on 3 stay on 3.
    far = after_mbind_move(TOPOLOGY, (3,) * 4, bind(0, 3), MAINLINE, NEW, vm_pgoff=0, cpu_node=0)
    assert isinstance(far, ExactPages) and far.per_page == (3,) * 4
    near = after_mbind_move(TOPOLOGY, (1,) * 4, bind(0, 3), MAINLINE, NEW, vm_pgoff=0, cpu_node=0)
    assert isinstance(near, ExactPages) and near.per_page == (0,) * 4


@pytest.mark.parametrize("mode", [Mode.MPOL_DEFAULT, Mode.MPOL_LOCAL])
def test_mbind_move_to_default_or_local_brings_every_page_home(mode: Mode) -> None:
    expected = after_mbind_move(
        TOPOLOGY, (3,) * 4, Policy(mode), MAINLINE, NEW, vm_pgoff=0, cpu_node=1
    )
    assert isinstance(expected, ExactPages) and expected.per_page == (1,) * 4


def test_mbind_move_leaves_shared_pages_unless_move_all() -> None:
    def after(move_all: bool) -> tuple[int, ...]:
        expected = after_mbind_move(
            TOPOLOGY,
            (0,) * 3,
            bind(3),
            MAINLINE,
            NEW,
            vm_pgoff=0,
            cpu_node=0,
            shared=True,
            move_all=move_all,
        )
        assert isinstance(expected, ExactPages)
        return expected.per_page

    assert after(False) == (0, 0, 0)
    assert after(True) == (3, 3, 3)


# --- lifecycle ---


def test_mremap_keeps_vm_pgoff_only_once_the_vma_was_faulted() -> None:
    assert vm_pgoff_after_mremap(0x7F0000, 0x7E0001000, faulted=True) == 0x7F0000
    assert vm_pgoff_after_mremap(0x7F0000, 0x7E0001000, faulted=False) == 0x7E0001


def test_split_pieces_keep_the_page_offsets_of_the_whole() -> None:
    parts = [Part(0, 3, interleave(0, 1)), Part(3, 2, bind(3)), Part(5, 3, interleave(0, 1))]
    expected = split_placement(TOPOLOGY, parts, MAINLINE, NEW, vm_pgoff=1, cpu_node=0)
    assert isinstance(expected, ExactPages)
    # Interleave index 1 + i: odd indices on node 1; pages 3 and 4 bound to node 3.
    assert expected.per_page == (1, 0, 1, 3, 3, 0, 1, 0)
    with pytest.raises(ValueError, match="gap"):
        split_placement(TOPOLOGY, parts[:1] + parts[2:], MAINLINE, NEW, vm_pgoff=1, cpu_node=0)


def test_inherited_task_interleave_is_a_balance_and_says_why() -> None:
    expected = inherited_task_placement(
        TOPOLOGY, interleave(0, 1), MAINLINE, NEW, npages=10, cpu_node=0, event="fork"
    )
    assert isinstance(expected, Within)
    assert expected.rule.startswith("task policy kept across fork")
    assert untouched_local(TOPOLOGY, 4, 1) == ExactPages((1,) * 4, "faulted locally, never moved")


# --- the matrix ---


@pytest.mark.parametrize("topology", [TOPOLOGY, SPARSE], ids=["3mem-1memoryless", "sparse"])
def test_migration_and_lifecycle_ids_are_unique_and_readable(topology: Topology) -> None:
    builders = (
        lifecycle_cases,
        policy_pair_cases,
        move_pages_cases,
        migrate_pages_cases,
        mbind_move_cases,
    )
    ids = [c.id for build in builders for c in build(topology)]
    assert len(ids) == len(set(ids))
    assert 100 <= len(ids) <= 250


def test_matrix_names_the_cases_the_issue_asks_for() -> None:
    ids = {
        c.id
        for build in (lifecycle_cases, move_pages_cases, mbind_move_cases, migrate_pages_cases)
        for c in build(TOPOLOGY)  # type: ignore[operator]
    }
    for expected in (
        "fork-task-interleave-nodes0,1",
        "mremap-unfaulted-interleave-nodes0,1,3",
        "move_pages-node0-to-node3",
        "move_pages-flushes-before-not-online-node4",
        "move_pages-move_all-shared-node1-to-node3",
        "mbind-move-bind-node1",
        "mbind-move-interleave-nodes1,3",
        "mbind-move-local-from-node0",
        "mbind-move_all-shared-bind-node3",
        "migrate_pages-nodes0,1-to-nodes1,3",
        "migrate_pages-move_all-shared-node3-to-node0",
    ):
        assert expected in ids


def test_a_topology_too_small_skips_with_the_reason() -> None:
    build = or_skip(lambda topology: [], "mremap", "needs two memory nodes")
    (only,) = build(TOPOLOGY)
    assert isinstance(only, TopologyTooSmall)
    assert (only.id, only.params()) == ("mremap-skipped", {"skipped": "needs two memory nodes"})
