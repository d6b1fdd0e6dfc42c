"""Slabs per cache from slabinfo 2.1 text, and what grew between two readings."""

from pathlib import Path

from fixtures.system.slabinfo import grown, slab_counts

SAMPLE = (Path(__file__).parent / "data" / "slabinfo" / "two-caches.txt").read_text()


def test_counts_slabs_not_pages() -> None:
    # radix_tree_node has 4 pages per slab: 129 slabs are 129 allocations, not 516.
    assert slab_counts(SAMPLE) == {"buffer_head": 267, "radix_tree_node": 129}


def test_growth_names_only_the_caches_that_gained() -> None:
    before = {"buffer_head": 267, "radix_tree_node": 516, "gone": 3}
    after = {"buffer_head": 280, "radix_tree_node": 512, "new": 2}
    assert grown(before, after) == {"buffer_head": 13, "new": 2}
