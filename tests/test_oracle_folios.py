"""The folio oracle (fixtures/oracle/folios.py): mTHP layout and interleave index, the
page-cache rotation per folio, and the per-size THP switches (fixtures/knobs/thp.py) on a
fake sysfs tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.knobs.base import KnobUnavailable
from fixtures.knobs.thp import OnlyThpSize, below_pmd_sizes, chosen, thp_sizes
from fixtures.oracle.folios import (
    FolioRotation,
    FolioSpan,
    folio_interleave_index,
    mthp_interleave,
    mthp_layout,
)

NODES = frozenset({0, 1, 2})
A = 0x7F3A_0000_0 >> 12  # a virtual page number on a 2 MiB boundary (multiple of 512)


def test_an_aligned_vma_is_all_folios_of_the_size() -> None:
    spans = mthp_layout(A, 2048, 4)
    assert len(spans) == 128 and {(s.npages, s.order) for s in spans} == {(16, 4)}


def test_a_vma_one_page_past_a_boundary_has_order_0_pages_at_both_ends() -> None:
    """The first 15 pages share a 64 KiB range with the page before the VMA, the last one
    with the pages after it: thp_vma_suitable_order() refuses both ranges."""
    spans = mthp_layout(A + 1, 2048, 4)
    assert [s.order for s in spans[:15]] == [0] * 15 and spans[15] == FolioSpan(15, 16, 4)
    assert spans[-1] == FolioSpan(2047, 1, 0)
    assert len(spans) == 15 + 127 + 1
    assert sum(s.npages for s in spans) == 2048


def test_the_folio_index_shifts_both_terms_so_a_misaligned_vma_counts_one_less() -> None:
    """vm_pgoff = A + 1: the folio at offset 15 is at virtual page A + 16, whose number in
    64 KiB units is A/16 + 1; the kernel's index is (A+1 >> 4) + (15 >> 4) = A/16."""
    assert folio_interleave_index(A + 1, 15, 4) == A // 16
    assert folio_interleave_index(A, 16, 4) == A // 16 + 1  # aligned: the virtual number


def test_mthp_nodes_follow_the_folio_index_from_the_lowest_node() -> None:
    shifted = mthp_interleave(NODES, vm_start_page=A + 1, vm_pgoff=A + 1, npages=2048, order=4)
    ordered = sorted(NODES)
    # order-0 pages at the start: vm_pgoff + offset
    assert shifted.nodes[:15] == tuple(ordered[(A + 1 + i) % 3] for i in range(15))
    # then folio k (k = 0, 1, ...) at index A/16 + k
    assert shifted.nodes[15:18] == tuple(ordered[(A // 16 + k) % 3] for k in range(3))
    per_page = shifted.per_page
    assert per_page[15:31] == (per_page[15],) * 16


def _observed(placement_nodes: tuple[int, ...], spans: tuple[FolioSpan, ...]) -> list[int]:
    return [node for span, node in zip(spans, placement_nodes, strict=True) for _ in span.pages]


def test_the_expectation_passes_its_own_placement_and_catches_a_split_folio() -> None:
    expected = mthp_interleave(NODES, vm_start_page=A, vm_pgoff=A, npages=2048, order=4)
    per_page = _observed(expected.nodes, expected.spans)
    assert expected.violations(expected.spans, per_page) == []
    per_page[17] = (per_page[17] + 1) % 3  # one page of the second folio elsewhere
    problems = expected.violations(expected.spans, per_page)
    assert any("split over nodes" in p for p in problems)


def test_a_rotation_by_the_folio_virtual_number_fails_on_a_shifted_vma() -> None:
    """The mutation a naive oracle makes: index = address >> order."""
    expected = mthp_interleave(NODES, vm_start_page=A + 1, vm_pgoff=A + 1, npages=2048, order=4)
    ordered = sorted(NODES)
    naive = tuple(
        ordered[((A + 1 + s.first) >> s.order) % 3] if s.order else expected.nodes[i]
        for i, s in enumerate(expected.spans)
    )
    problems = expected.violations(expected.spans, _observed(naive, expected.spans))
    assert any("pages on the wrong node" in p for p in problems)


def test_order_0_fallback_is_a_layout_violation() -> None:
    expected = mthp_interleave(NODES, vm_start_page=A, vm_pgoff=A, npages=32, order=4)
    base = tuple(FolioSpan(i, 1, 0) for i in range(16)) + expected.spans[1:]
    per_page = _observed(expected.nodes, expected.spans)
    problems = expected.violations(base, per_page)
    assert (
        problems
        and "folio 0 is [first, pages, order] [0, 1, 0], expected [0, 16, 4]" in (problems[0])
    )


SPANS = (FolioSpan(0, 1, 0), FolioSpan(1, 1, 0), FolioSpan(2, 4, 2), FolioSpan(6, 4, 2))
SPANS += (FolioSpan(10, 16, 4), FolioSpan(26, 16, 4), FolioSpan(42, 1, 0))


def _rotation(first: int, nodes: frozenset[int]) -> tuple[int, ...]:
    ordered = sorted(nodes)
    start = ordered.index(first)
    return tuple(
        ordered[(start + k) % len(ordered)] for k, span in enumerate(SPANS) for _ in span.pages
    )


def _pages(folio_nodes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(node for span, node in zip(SPANS, folio_nodes, strict=True) for _ in span.pages)


def _rule(nodes: frozenset[int], budget: int = 0) -> FolioRotation:
    return FolioRotation(SPANS, nodes, "rotation", other_allocations=budget)


def test_page_cache_folios_rotate_one_node_per_folio_from_the_first_node() -> None:
    assert _rule(frozenset({0, 1})).violations(_pages((0, 1, 0, 1, 0, 1, 0))) == []
    assert _rule(NODES).violations(_pages((0, 1, 2, 0, 1, 2, 0))) == []


def test_each_turn_of_the_counter_by_another_allocation_is_counted() -> None:
    """The first folio on node 1: one turn before it (a page table); folio 3 on node 2
    like folio 2: two more turns over three nodes."""
    folio_nodes = (1, 2, 0, 0, 1, 2, 0)
    assert _rule(NODES).turns(_pages(folio_nodes)) == [(0, 1), (3, 2)]
    assert _rule(NODES, budget=3).violations(_pages(folio_nodes)) == []
    (problem,) = _rule(NODES, budget=2).violations(_pages(folio_nodes))
    assert "3 turns of the counter besides theirs (1 before folio 0 (page 0, order 0), " in (
        problem
    )
    assert "2 before folio 3 (page 6, order 2)), at most 2" in problem


def test_the_per_page_rotation_of_older_kernels_is_wrong_for_large_folios() -> None:
    """The mutation: a counter turned once per page, as before ext4's large folios."""
    per_page = tuple(i % 2 for i in range(sum(s.npages for s in SPANS)))
    problems = _rule(frozenset({0, 1}), budget=2).violations(per_page)
    assert any("split over nodes" in p for p in problems)
    assert any("off the rotation" in p for p in problems)


def test_a_page_outside_the_mask_is_named() -> None:
    pages = (2,) + _pages((0, 1, 0, 1, 0, 1, 0))[1:]
    assert _rule(frozenset({0, 1}), budget=4).violations(pages) == [
        "pages on nodes [2], outside [0, 1]"
    ]


SIXTEEN = tuple(FolioSpan(32 * k, 32, 5) for k in range(16))


def _passes(rule: FolioRotation, per_page: tuple[int, ...]) -> bool:
    """The case's verdict would be pass: no violation, and the budget judges."""
    return not rule.violations(per_page) and rule.unjudged() is None


def test_a_budget_that_would_pass_every_folio_on_one_node_leaves_the_case_unjudged() -> None:
    """The review's example: 16 folios on {0, 1}, all on node 0, are 15 turns; a budget of
    15 passed them, so it must not let the case pass; at 14 they fail."""
    on_node0 = (0,) * 16 * 32
    wide = FolioRotation(SIXTEEN, frozenset({0, 1}), "rotation", other_allocations=15)
    assert not _passes(wide, on_node0)
    why = wide.unjudged()
    assert why is not None and "a budget of 15 unseen turns" in why
    assert "16 folios over [0, 1]: all 16 on node 0, no interleave at all, need only 15" in why
    narrow = FolioRotation(SIXTEEN, frozenset({0, 1}), "rotation", other_allocations=14)
    assert narrow.unjudged() is None
    (problem,) = narrow.violations(on_node0)
    assert "15 turns of the counter besides theirs" in problem and "at most 14" in problem


@pytest.mark.parametrize("nodes", [frozenset({0, 1}), NODES, frozenset({0, 2, 3, 5})])
def test_no_budget_passes_a_task_that_did_not_interleave(nodes: frozenset[int]) -> None:
    """Every folio on any one node of the mask never passes, whatever the budget; the
    correct rotation passes under every budget below the bound."""
    n, nfolios = len(nodes), len(SPANS)
    bound = (nfolios - 1) * (n - 1)
    for budget in range(nfolios * n + 2):
        rule = _rule(nodes, budget)
        for node in nodes:
            assert not _passes(rule, _pages((node,) * nfolios)), (budget, node)
        assert (rule.unjudged() is None) == (budget < bound)
        if budget < bound:
            assert _passes(rule, _rotation(min(nodes), nodes))


def test_the_bound_is_the_fewest_turns_of_any_one_node_placement() -> None:
    """The arithmetic unjudged() rests on, counted by turns() itself: one node for all
    folios costs at least (nfolios - 1) * (n - 1) turns, the mask's first node exactly."""
    for n in range(2, 5):
        nodes = frozenset(range(0, 2 * n, 2))
        for nfolios in range(1, 7):
            spans = tuple(FolioSpan(k, 1, 0) for k in range(nfolios))
            rule = FolioRotation(spans, nodes, "rotation", other_allocations=0)
            cost = {m: sum(t for _, t in rule.turns((m,) * nfolios)) for m in nodes}
            assert min(cost.values()) == cost[0] == (nfolios - 1) * (n - 1)


def test_a_one_node_mask_has_no_rotation_to_judge() -> None:
    rule = _rule(frozenset({1}), budget=50)
    assert rule.unjudged() is None and _passes(rule, _pages((1,) * len(SPANS)))
    assert rule.violations(_pages((0,) * len(SPANS)))


def _thp_tree(root: Path, choices: dict[int, str]) -> Path:
    (root / "hpage_pmd_size").parent.mkdir(parents=True, exist_ok=True)
    (root / "hpage_pmd_size").write_text("2097152\n")
    for size, choice in choices.items():
        folder = root / f"hugepages-{size}kB"
        folder.mkdir()
        words = ["always", "inherit", "madvise", "never"]
        (folder / "enabled").write_text(
            " ".join(f"[{w}]" if w == choice else w for w in words) + "\n"
        )
    return root


def test_one_size_on_the_others_off_then_all_back(tmp_path: Path) -> None:
    root = _thp_tree(tmp_path, {16: "never", 64: "inherit", 2048: "inherit"})
    assert thp_sizes(root) == [16, 64, 2048] and below_pmd_sizes(root) == [16, 64]
    with OnlyThpSize(64, root=root):
        read = {s: chosen((root / f"hugepages-{s}kB" / "enabled").read_text()) for s in (16, 64)}
        assert read == {16: "never", 64: "always"}
        assert chosen((root / "hugepages-2048kB" / "enabled").read_text()) == "never"
    after = {s: chosen((root / f"hugepages-{s}kB" / "enabled").read_text()) for s in (16, 64, 2048)}
    assert after == {16: "never", 64: "inherit", 2048: "inherit"}


def test_a_size_the_kernel_lacks_changes_nothing(tmp_path: Path) -> None:
    root = _thp_tree(tmp_path, {2048: "always"})
    with pytest.raises(KnobUnavailable, match="hugepages-64kB"), OnlyThpSize(64, root=root):
        pass
    assert chosen((root / "hugepages-2048kB" / "enabled").read_text()) == "always"


def test_no_per_size_switches_before_6_8(tmp_path: Path) -> None:
    assert thp_sizes(tmp_path) == [] and below_pmd_sizes(tmp_path) == []
