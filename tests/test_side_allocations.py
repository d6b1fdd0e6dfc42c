"""The task's side allocations: page-table pages from a status text, and what grew."""

import pytest

from fixtures.system.side_allocations import SideAllocations, page_table_pages

STATUS = "Name:\tpython3\nVmRSS:\t   20480 kB\nVmPTE:\t     108 kB\nVmSwap:\t       0 kB\n"


def test_page_tables_in_pages() -> None:
    assert page_table_pages(STATUS) == 27  # 108 kB of 4 KiB pages


def test_a_status_without_vmpte_is_an_error() -> None:
    with pytest.raises(ValueError, match="VmPTE"):
        page_table_pages("Name:\tkthreadd\n")


def test_total_is_every_new_slab_and_page_table() -> None:
    side = SideAllocations({"buffer_head": 17, "radix_tree_node": 2}, page_tables=3)
    assert side.total == 22
    assert side.to_json() == {"slabs": {"buffer_head": 17, "radix_tree_node": 2}, "page_tables": 3}
