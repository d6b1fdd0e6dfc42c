"""How a page_node case is judged (fixtures/plugin/checks.py, check_page_node): the two
opinions per page, both against the oracle, and no pass that could not have failed
(require_judged, shared with the mappings and filesystems areas)."""

from __future__ import annotations

import pytest

from fixtures.oracle.folios import FolioRotation, FolioSpan
from fixtures.oracle.mappings import Geometry
from fixtures.oracle.placement import ExactPages
from fixtures.plugin.checks import HarnessError, check_page_node, require_judged
from fixtures.plugin.verdicts import CaseRecord
from fixtures.workloads.page_node import PageNodeRun

FOLIOS = tuple(FolioSpan(4 * k, 4, 2) for k in range(16))  # 16 folios of 4 pages
PAGES = 4 * len(FOLIOS)
GEOMETRY = Geometry(PAGES, 4, 1, 0, 0x7F00_0000_0000, 0, 7, folios=FOLIOS)


def _run(per_page: tuple[int, ...], asked: tuple[int, ...] | None = None) -> PageNodeRun:
    return PageNodeRun(GEOMETRY, per_page, per_page if asked is None else asked)


def _rotation(budget: int) -> FolioRotation:
    return FolioRotation(FOLIOS, frozenset({0, 1}), "rotation", other_allocations=budget)


ALL_ON_NODE0 = (0,) * PAGES  # no interleave at all: 15 unseen turns on {0, 1}
ROTATED = tuple(k % 2 for k in range(len(FOLIOS)) for _ in range(4))


def test_a_budget_that_passes_no_interleave_is_an_error_not_a_pass() -> None:
    """Before, test_page_node passed such a case: its budget could not reject anything."""
    record = CaseRecord()
    with pytest.raises(HarnessError, match="a budget of 15 unseen turns .* cannot judge 16"):
        check_page_node(record, _rotation(15), _run(ALL_ON_NODE0))
    assert record.expected is not None and record.expected["other_allocations"] == 15
    assert record.observed is not None and record.observed["pages"] == {"0": PAGES}


def test_a_budget_that_judges_passes_a_rotation_and_fails_no_interleave() -> None:
    check_page_node(CaseRecord(), _rotation(14), _run(ROTATED))
    with pytest.raises(AssertionError, match="move_pages: the 16 folios are off the rotation"):
        check_page_node(CaseRecord(), _rotation(14), _run(ALL_ON_NODE0))


def test_a_failure_stays_a_failure_under_any_budget() -> None:
    """The guard comes after the asserts: what the check did see wrong is a kernel finding."""
    on_node2 = (2,) * PAGES
    with pytest.raises(AssertionError, match="outside"):
        check_page_node(CaseRecord(), _rotation(100), _run(on_node2))


def test_the_two_opinions_must_agree_page_by_page() -> None:
    asked = (1,) + (0,) * (PAGES - 1)
    with pytest.raises(AssertionError, match="1 pages where get_mempolicy"):
        check_page_node(CaseRecord(), ExactPages((0,) * PAGES, "bind"), _run(ALL_ON_NODE0, asked))
    record = CaseRecord()
    check_page_node(record, ExactPages((0,) * PAGES, "bind"), _run(ALL_ON_NODE0))
    assert record.observed is not None and record.observed["pages_asked"] == PAGES


def test_require_judged_passes_what_can_fail() -> None:
    require_judged(_rotation(14))
    require_judged(ExactPages((0,) * PAGES, "bind"))  # exact: every page can fail
    require_judged(FolioRotation(FOLIOS, frozenset({1}), "one node", other_allocations=99))
    with pytest.raises(HarnessError, match="need only 15"):
        require_judged(_rotation(15))
