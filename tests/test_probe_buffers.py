"""The probe's address buffer and move_pages' C arrays say the same as the plain lists."""

from __future__ import annotations

from array import array

import pytest

from fixtures.abi.syscalls import _pointers
from fixtures.system.memory import PAGE_SIZE, SEGMENT, Region, page_words


def test_page_buffer_holds_every_page_address() -> None:
    region = Region(0x7F0000000000, 1000)
    assert [int(a) for a in region.page_buffer()] == region.page_addresses()


@pytest.mark.parametrize("npages", [0, 1, 2, 15, 16, 17, 33, 1000, 4099, 300_000])
@pytest.mark.parametrize(
    "addr",
    [
        0x7F0000000000,  # on a 64 KiB block
        0x7F0000003000,  # inside one: the first block is partial
        0x7F000000F000,  # its last page
        (1 << 32) - 5 * PAGE_SIZE,  # the upper bits carry across 4 GiB
        0x7FFFFFFF0000 - 7 * PAGE_SIZE,  # near the top of the user half
        0x7F0000FFF000 - 5000 * PAGE_SIZE,  # the third byte's run starts part way
    ],
)
def test_page_words_are_every_page_address(addr: int, npages: int) -> None:
    """The column fill gives the same words as one int per page, whatever the alignment."""
    words = page_words(addr, npages)
    assert list(words) == list(range(addr, addr + npages * PAGE_SIZE, PAGE_SIZE))
    if npages:
        assert _pointers(words) is words  # handed to move_pages as it is, no copy


def test_page_words_carry_into_every_byte() -> None:
    """Across 64 KiB, 16 MiB and 4 GiB boundaries each byte above the page steps on: a
    column written one byte off, or a run cut at the wrong page, shows here."""
    for boundary in (1 << 16, 1 << 24, SEGMENT, 0x7F00_0000_0000 + SEGMENT):
        words = page_words(boundary - 2 * PAGE_SIZE, 4)
        assert list(words) == [boundary + k * PAGE_SIZE for k in (-2, -1, 0, 1)], hex(boundary)


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


def test_bench_rows_time_every_method_and_keep_the_best() -> None:
    """The benchmark's table on this machine (1 MiB, so it runs anywhere move_pages
    does): one row per method, the best run never slower than the first."""
    from fixtures.system.bench_probe import measure

    rows = measure(mib=1, repeat=2, ltp_sample=16)
    methods = [str(r["method"]) for r in rows]
    assert methods[0] == "move_pages, one batch"
    assert any("address words" in m for m in methods)
    assert any("statuses made a tuple" in m for m in methods)
    for row in rows:
        assert row["pages"] == (16 if "get_mempolicy" in str(row["method"]) else 256)
        assert float(row["seconds"]) <= float(row["first_s"]) + 1e-4  # both rounded to 0.1 ms
        assert int(row["pages_per_s"]) > 0
