"""The partial-failure and KSM oracle rules of the migration area, and their matrix."""

import errno
from pathlib import Path

import pytest

from fixtures.matrix.migration_peers import (
    PARTIAL_PAGES,
    held_pages,
    ksm_merge_cases,
    ksm_migrate_cases,
    partial_migrate_cases,
    partial_move_cases,
)
from fixtures.oracle.ksm import after_merging, after_migrating_merged, merge_problems
from fixtures.oracle.migration_counts import Held, partial_migrate_pages, partial_move_pages
from fixtures.oracle.migration_race import (
    HUGE_PAGES,
    WholeFolio,
    round_problems,
    thp_statuses,
    write_problems,
)
from fixtures.oracle.placement import ExactPages, Within
from fixtures.system.topology import Topology, discover

DATA = Path(__file__).parent / "data" / "sysfs"
F, P, S = Held.FREE, Held.PINNED, Held.SHARED
EACCES = -errno.EACCES


def test_pinned_pages_are_the_count_and_no_status_is_written() -> None:
    out = partial_move_pages([0] * 4, [1] * 4, [F, P, F, P])
    assert out.returned == 2
    assert out.statuses == (None,) * 4
    assert out.after.per_page == (1, 0, 1, 0)


def test_a_failed_first_batch_counts_every_entry_not_tried() -> None:
    # Huang Ying's example (6.1): page 0 pinned, page 1 to another node: returns 2.
    out = partial_move_pages([0, 0], [1, 2], [P, F])
    assert (out.returned, out.statuses, out.after.per_page) == (2, (None, None), (0, 0))
    out = partial_move_pages([0] * 6, [1, 1, 1, 2, 2, 2], [F, P, F, F, F, F])
    assert out.returned == 1 + 3
    assert out.after.per_page == (1, 0, 1, 0, 0, 0)


def test_shared_pages_are_eacces_and_not_counted() -> None:
    out = partial_move_pages([0] * 4, [1] * 4, [F, S, F, S])
    assert out.returned == 0
    assert out.statuses == (1, EACCES, 1, EACCES)
    assert out.after.per_page == (1, 0, 1, 0)
    moved = partial_move_pages([0] * 4, [1] * 4, [F, S, F, S], move_all=True)
    assert (moved.returned, moved.statuses) == (0, (1,) * 4)


def test_the_entry_that_flushed_a_failed_batch_is_counted_once() -> None:
    # Entry 2 (-EACCES) flushes [0, 2), where page 1 is pinned: 1 + (5 - 2) - 1.
    out = partial_move_pages([0] * 5, [1] * 5, [F, P, S, F, F])
    assert out.returned == 3
    assert out.statuses == (None, None, EACCES, None, None)
    assert out.after.per_page == (1, 0, 0, 0, 0)


def test_a_page_already_there_flushes_the_batch_and_reads_its_node() -> None:
    out = partial_move_pages([0, 1, 0], [1, 1, 1], [F, F, F])
    assert (out.returned, out.statuses, out.after.per_page) == (0, (1, 1, 1), (1, 1, 1))
    failed = partial_move_pages([0, 1, 0], [1, 1, 1], [P, F, F])
    assert (failed.returned, failed.statuses) == (1 + 2 - 1, (None, 1, None))


def test_migrate_pages_counts_pinned_not_shared() -> None:
    held = [F, P, S, F]
    out = partial_migrate_pages([2] * 4, held, frozenset({2}), frozenset({0}), move_all=False)
    assert out.returned == 1
    assert out.after.per_page == (0, 2, 2, 0)
    out = partial_migrate_pages([2] * 4, held, frozenset({2}), frozenset({0}), move_all=True)
    assert (out.returned, out.after.per_page) == (1, (0, 2, 0, 0))


def test_merge_across_nodes_one_page_or_one_per_node() -> None:
    placed = [0, 1, 0, 1]
    across = after_merging(placed, merge_across_nodes=True)
    assert across.groups == ((0, 1, 2, 3),)
    assert isinstance(across.placement, Within) and across.placement.single
    per_node = after_merging(placed, merge_across_nodes=False)
    assert per_node.groups == ((0, 2), (1, 3))
    assert per_node.placement == ExactPages((0, 1, 0, 1), per_node.rule)


def test_merge_problems_see_unmerged_and_merged_across() -> None:
    per_node = after_merging([0, 1, 0, 1], merge_across_nodes=False)
    assert merge_problems(per_node, [7, 8, 7, 8], [True] * 4) == []
    assert merge_problems(per_node, [7, 7, 7, 7], [True] * 4) == ["groups 0 and 1 share a frame"]
    assert merge_problems(per_node, [7, 8, 9, 8], [True] * 4) == [
        "group 0 of 2 pages is on 2 frames"
    ]
    assert merge_problems(per_node, [7, 8, 7, 8], [False, True, False, True]) == [
        "group 0: 2 pages on frames without KPF_KSM"
    ]


def test_merged_pages_move_only_with_move_all() -> None:
    old, new = frozenset({2}), frozenset({1})
    assert after_migrating_merged([2, 2], old, new, move_all=True).placement.per_page == (1, 1)  # type: ignore[union-attr]
    assert after_migrating_merged([2, 2], old, new, move_all=False).placement.per_page == (2, 2)  # type: ignore[union-attr]


@pytest.fixture
def default_like() -> Topology:
    return discover(DATA / "qemu-3mem-1memoryless")


def test_matrix_ids_and_sources(default_like: Topology) -> None:
    builders = (partial_move_cases, partial_migrate_cases, ksm_merge_cases, ksm_migrate_cases)
    cases = [c for build in builders for c in build(default_like)]
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids))
    assert all("ksm" in i for b in builders[2:] for i in (c.id for c in b(default_like)))
    for case in partial_move_cases(default_like):
        # Node 3 is the CPU-less one: nothing else of the process lives there.
        assert case.start == 3 != case.cpu_node
        assert len(case.held) == PARTIAL_PAGES == len(case.nodes)


def test_held_pages_marks_each_kind() -> None:
    assert held_pages(4, (1,), (3,)) == (F, P, F, S)


# --- under use, and THP ---


def test_a_round_must_count_the_pages_it_left() -> None:
    assert round_problems(1, 0, None, [1, 1, 1]) == []
    assert round_problems(1, 1, None, [1, 0, 1]) == []
    assert round_problems(1, 0, None, [1, 0, 1]) == [
        "move_pages to node 1 returned 0, but 1 pages stayed"
    ]
    assert round_problems(1, None, "ENOMEM", [0]) == ["move_pages to node 1 failed: ENOMEM"]


def test_writes_must_run_and_none_be_lost() -> None:
    assert write_problems(100, 0, 0) == []
    assert len(write_problems(0, 0, 0)) == 1
    assert len(write_problems(100, 1, 2)) == 2


def test_thp_statuses_second_address_finds_the_folio_isolated() -> None:
    every = thp_statuses(1, 0, every_page=True)
    assert len(every) == HUGE_PAGES
    assert every[:3] == (1, -errno.EBUSY, 1)
    assert thp_statuses(1, 0, every_page=False) == (1,)


def test_whole_folio_frames() -> None:
    folio = WholeFolio(1, "whole")
    base = 7 * HUGE_PAGES
    assert folio.frame_problems([base + i for i in range(HUGE_PAGES)], [True] * HUGE_PAGES) == []
    split = [base + i for i in range(HUGE_PAGES)]
    split[3] = 5
    assert folio.frame_problems(split, [True] * HUGE_PAGES) == [
        "the pages are not on contiguous frames: the THP was split"
    ]
    assert len(folio.frame_problems([base + 1 + i for i in range(HUGE_PAGES)], [False] * 512)) == 2
