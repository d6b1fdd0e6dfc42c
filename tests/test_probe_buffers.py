"""The probe's address buffer and move_pages' C arrays say the same as the plain lists."""

from __future__ import annotations

from array import array

import pytest

from fixtures.abi.syscalls import _pointers
from fixtures.system.memory import PAGE_SIZE, Region


def test_page_buffer_holds_every_page_address() -> None:
    region = Region(0x7F0000000000, 1000)
    assert [int(a) for a in region.page_buffer()] == region.page_addresses()


def test_page_buffer_from_numpy_holds_every_page_address() -> None:
    """With numpy imported (the worker imports it), the buffer comes from its arange."""
    numpy = pytest.importorskip("numpy")
    region = Region(0x7F0000000000, 1000)
    words = region.page_buffer()
    assert isinstance(words, numpy.ndarray)
    assert [int(a) for a in words] == region.page_addresses()
    assert _pointers(words) is words


def test_pointers_keep_a_word_buffer_and_convert_a_list() -> None:
    words = array("Q", [PAGE_SIZE, 2 * PAGE_SIZE])
    assert _pointers(words) is words
    assert _pointers([PAGE_SIZE, 2 * PAGE_SIZE]).tolist() == words.tolist()
    assert _pointers([]).tolist() == [0]  # cffi needs one element; the kernel reads none


def test_query_nodes_reads_the_same_statuses_as_move_pages() -> None:
    """The probe's one-pass read of the status array says what move_pages' list says:
    each written page's node, -ENOENT for a page never touched."""
    from fixtures.abi.syscalls import move_pages
    from fixtures.system.memory import AnonMapping
    from fixtures.system.probe import query_nodes

    with AnonMapping(64) as region:
        half = Region(region.addr, 32)
        half.write_fault()
        nodes = query_nodes(region)
        assert isinstance(nodes, tuple)
        assert list(nodes) == move_pages(0, region.page_addresses())
        assert all(n >= 0 for n in nodes[:32]) and set(nodes[32:]) == {-2}
    assert query_nodes(Region(region.addr, 0)) == ()
