"""The placement probe: numa_maps parsing on recorded text, and the live kernel's answers
on this host (a NUMA kernel with at least node 0), in forked children."""

import time
from pathlib import Path

import pytest

from fixtures.abi.syscalls import NodeMask, get_mempolicy, mbind, set_mempolicy
from fixtures.abi.uapi import Mode
from fixtures.system.child import run_in_child
from fixtures.system.memory import PAGE_SIZE, AnonMapping, numa_maps_counts
from fixtures.system.probe import counts_of, nodes_by_get_mempolicy, probe

NUMA_MAPS = """\
55d0c8a00000 default file=/usr/bin/python3.11 mapped=50 N0=50 kernelpagesize_kB=4
7f1fa4c57000 default
7f1fa4c58000 interleave:0-2 anon=255 dirty=255 active=0 N0=85 N1=85 N2=85 kernelpagesize_kB=4
7f1fa4d57000 default
"""

needs_numa = pytest.mark.skipif(
    not Path("/sys/devices/system/node/node0").exists(), reason="host kernel without NUMA"
)


def test_numa_maps_line_of_the_region(tmp_path: Path) -> None:
    maps = tmp_path / "numa_maps"
    maps.write_text(NUMA_MAPS)
    assert numa_maps_counts(0x7F1FA4C58000, maps) == {0: 85, 1: 85, 2: 85}
    assert numa_maps_counts(0x7F1FA4C57000, maps) == {}
    with pytest.raises(LookupError):
        numa_maps_counts(0x1000, maps)


def test_counts_leave_out_missing_pages() -> None:
    assert counts_of((0, 2, 2, -14, -2)) == {0: 1, 2: 2}


def test_nodemask_maxnode_is_one_more_than_its_bits() -> None:
    mask = NodeMask({0, 65}, nbits=128)
    assert mask.maxnode == 129
    assert mask.nodes() == {0, 65}
    with pytest.raises(ValueError):
        NodeMask({128}, nbits=128)


def test_nodemask_reads_every_set_bit_of_every_word() -> None:
    # The low and high bit of words (the high one is the sign of a signed long), a word
    # with every bit set, and words with none in between.
    nodes = {0, 63, 64, 127, *range(192, 256), 4095}
    assert NodeMask(nodes, nbits=4096).nodes() == nodes
    assert NodeMask((), nbits=4096).nodes() == frozenset()


def test_nodemask_below_reads_only_the_bits_under_it() -> None:
    # The cut inside a word, at a word's edge, past the mask's end, and at nothing.
    nodes = {0, 5, 63, 64, 70, *range(128, 4096)}
    mask = NodeMask(nodes, nbits=4096)
    assert mask.nodes(below=6) == {0, 5}
    assert mask.nodes(below=64) == {0, 5, 63}
    assert mask.nodes(below=71) == {0, 5, 63, 64, 70}
    assert mask.nodes(below=10_000) == nodes
    assert mask.nodes(below=0) == frozenset()


@needs_numa
def test_live_probe_agrees_with_ltp_method() -> None:
    def workload() -> tuple[dict[int, int], tuple[int, ...], tuple[int, ...]]:
        with AnonMapping(16) as region:
            mbind(region.addr, region.length, Mode.MPOL_BIND, {0})
            region.write_fault()
            placement = probe(region)
            return placement.counts, placement.per_page, nodes_by_get_mempolicy(region)

    counts, per_page, by_get_mempolicy = run_in_child(workload).unwrap()
    assert counts == {0: 16}
    assert per_page == by_get_mempolicy == (0,) * 16


@needs_numa
def test_unfaulted_pages_are_reported_missing() -> None:
    def workload() -> tuple[int, ...]:
        with AnonMapping(4) as region:
            from fixtures.abi.syscalls import ffi

            ffi.cast("char *", region.addr + PAGE_SIZE)[0] = b"x"  # fault one page of four
            return tuple(probe(region).per_page)

    per_page = run_in_child(workload).unwrap()
    assert per_page[1] == 0 and all(status < 0 for i, status in enumerate(per_page) if i != 1)


@needs_numa
def test_errors_are_oserror_with_errno() -> None:
    def workload() -> str:
        try:
            set_mempolicy(Mode.MPOL_BIND, set())  # BIND with an empty mask
        except OSError as exc:
            return str(exc.errno)
        return "no error"

    assert run_in_child(workload).unwrap() == "22"  # EINVAL
    assert get_mempolicy() == (Mode.MPOL_DEFAULT, frozenset())


def test_the_third_opinion_samples_present_pages_only() -> None:
    from fixtures.system.probe import THIRD_OPINION_SAMPLE, sample_pages

    pages = tuple(i % 3 for i in range(1000))
    chosen = sample_pages(pages)
    assert len(chosen) == THIRD_OPINION_SAMPLE
    assert chosen[:8] == list(range(8)) and chosen[-1] == 999  # the rotation, and the end
    assert sample_pages((0, -2, 1, -14)) == [0, 2]  # a missing page would be faulted in


def test_a_probe_in_motion_asks_again_until_the_opinions_agree(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """NUMA balancing may move a page between move_pages and get_mempolicy: a passing
    disagreement is asked again, a lasting one is raised."""
    from fixtures.system import probe as probe_module

    calls: list[int] = []
    agreed = probe_module.Placement(per_page=(0,), counts={0: 1})

    def flaky(region: object, **_: object) -> probe_module.Placement:
        calls.append(1)
        if len(calls) < 3:
            raise probe_module.ProbeDisagreement("page 0 moved between two opinions")
        return agreed

    monkeypatch.setattr(probe_module, "probe", flaky)
    monkeypatch.setattr(time, "sleep", lambda s: None)
    with AnonMapping(1) as region:
        assert probe_module.probe_in_motion(region) is agreed
        assert len(calls) == 3
        calls.clear()
        with pytest.raises(probe_module.ProbeDisagreement):
            probe_module.probe_in_motion(region, attempts=2)
