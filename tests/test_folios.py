"""The folio reader (fixtures/system/folios.py) on pagemap and kpageflags words recorded by
tests/data/folios/record.py on a 6.18 host: private anonymous memory with PMD THPs and
base pages, and ext4 page cache in a large folio."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from fixtures.abi.linux import KPF_COMPOUND_HEAD, KPF_COMPOUND_TAIL, PM_PRESENT
from fixtures.system.folios import (
    FlagWindow,
    Folio,
    FolioReadError,
    folios,
    pfns_from_pagemap,
)

DATA = Path(__file__).parent / "data" / "folios"


class RecordedFlags:
    """kpageflags as recorded: the 512-PFN blocks the reader read, one file each."""

    def __init__(self, folder: Path) -> None:
        self.windows = [
            FlagWindow.of(int(p.stem.removeprefix("kpageflags-"), 16), p.read_bytes())
            for p in sorted(folder.glob("kpageflags-*.bin"))
        ]

    def __call__(self, pfn: int) -> int:
        for window in self.windows:
            if window.first <= pfn < window.first + len(window.words):
                return window(pfn)
        raise FolioReadError(f"PFN {pfn:#x} was not recorded")


def recorded(name: str) -> tuple[list[Folio], dict[str, object]]:
    folder = DATA / name
    pfns = pfns_from_pagemap((folder / "pagemap.bin").read_bytes())
    return folios(pfns, RecordedFlags(folder)), json.loads((folder / "folios.json").read_text())


@pytest.mark.parametrize("name", ["anon-thp-pmd", "anon-base", "ext4-page-cache"])
def test_recorded_ranges_parse_as_recorded(name: str) -> None:
    found, doc = recorded(name)
    assert [f.to_json() for f in found] == doc["folios"]
    assert sum(f.npages for f in found) == doc["npages"]


def test_pmd_thp_is_one_order_9_folio_between_base_pages() -> None:
    found, _ = recorded("anon-thp-pmd")
    assert [f.order for f in found] == [0] * 4 + [9, 9] + [0] * 3
    huge = [f for f in found if f.order]
    assert all(f.whole and f.thp and not f.hugetlb for f in huge)
    assert [f.first for f in huge] == [4, 516]
    assert not any(f.thp for f in found if not f.order)


def test_base_pages_are_order_0_folios_of_their_own() -> None:
    found, _ = recorded("anon-base")
    assert len(found) == 12 and all(f.order == 0 and f.whole for f in found)
    assert len({f.head_pfn for f in found}) == 12


def test_a_range_that_starts_inside_a_page_cache_folio_sees_part_of_it() -> None:
    """Pages 3-202 of a 1 MiB ext4 file cached as one order-8 folio: the range holds 200
    of its 256 pages, and the head found is 3 PFNs before the range's first page."""
    found, _ = recorded("ext4-page-cache")
    (folio,) = found
    assert (folio.order, folio.npages, folio.whole, folio.thp) == (8, 200, False, True)
    first_pfn = pfns_from_pagemap((DATA / "ext4-page-cache" / "pagemap.bin").read_bytes())[0]
    assert first_pfn == folio.head_pfn + 3


def _entry(pfn: int, present: bool = True) -> bytes:
    return struct.pack("<Q", (PM_PRESENT if present else 0) | pfn)


def test_pagemap_without_the_privilege_hides_pfns() -> None:
    with pytest.raises(FolioReadError, match="CAP_SYS_ADMIN"):
        pfns_from_pagemap(_entry(0))


def test_a_page_not_present_is_an_error() -> None:
    pfns = pfns_from_pagemap(_entry(100) + _entry(0, present=False))
    assert pfns == (100, None)
    with pytest.raises(FolioReadError, match="page 1 of the range is not present"):
        folios(pfns, lambda pfn: 0)


def test_a_run_of_tails_must_be_a_power_of_two() -> None:
    head, tail = 1 << KPF_COMPOUND_HEAD, 1 << KPF_COMPOUND_TAIL
    words = (0, head, tail, tail, 0)  # a head with two tails: three pages, no order
    with pytest.raises(FolioReadError, match="not a power of two"):
        folios((11,), FlagWindow(10, words))


def test_a_folio_mapped_out_of_order_is_split_into_runs() -> None:
    """A range that maps an order-1 folio's pages backwards is two runs, neither whole."""
    head, tail = 1 << KPF_COMPOUND_HEAD, 1 << KPF_COMPOUND_TAIL
    found = folios((21, 20), FlagWindow(20, (head, tail, 0)))
    assert [(f.first, f.npages, f.head_pfn, f.order, f.whole) for f in found] == [
        (0, 1, 20, 1, False),
        (1, 1, 20, 1, False),
    ]
