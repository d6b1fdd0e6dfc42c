"""The numastat oracle (fixtures/oracle/numastat.py) and the page_node comparison."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.abi.uapi import Mode
from fixtures.oracle import Policy
from fixtures.oracle.numastat import (
    CounterBounds,
    counts_interleave_hit,
    events,
    wanted_nodes,
    zero,
)
from fixtures.oracle.page_node import opinions_differ
from fixtures.profiles import load_profile
from fixtures.system.topology import discover
from fixtures.workloads.numastat import delta, read_numastat

SYSFS = Path(__file__).parent / "data" / "sysfs" / "qemu-3mem-1memoryless"
TOPOLOGY = discover(SYSFS)
MAINLINE = load_profile("mainline")
RELEASE = "6.12.57+deb13-amd64"
NODES = TOPOLOGY.memory_nodes  # (0, 1, 3)


def test_bind_remote_is_a_hit_there_and_other_node() -> None:
    policy = Policy(Mode.MPOL_BIND, frozenset({3}))
    wanted = wanted_nodes(TOPOLOGY, policy, MAINLINE, RELEASE, npages=10, vm_pgoff=0, cpu_node=0)
    counts = events(wanted, wanted, cpu_node=0, interleave=False, nodes=NODES)
    assert counts["numa_hit"] == {0: 0, 1: 0, 3: 10}
    assert counts["other_node"] == {0: 0, 1: 0, 3: 10}
    assert counts["local_node"] == {0: 0, 1: 0, 3: 0}
    assert counts["interleave_hit"] == {0: 0, 1: 0, 3: 0}


def test_interleave_hits_follow_the_index_and_weighted_counts_too() -> None:
    policy = Policy(Mode.MPOL_INTERLEAVE, frozenset({0, 1, 3}))
    wanted = wanted_nodes(TOPOLOGY, policy, MAINLINE, RELEASE, npages=7, vm_pgoff=1, cpu_node=0)
    assert wanted == (1, 3, 0, 1, 3, 0, 1)
    counts = events(wanted, wanted, cpu_node=0, interleave=True, nodes=NODES)
    assert counts["interleave_hit"] == {0: 2, 1: 3, 3: 2}
    assert counts["local_node"][0] == 2 and counts["other_node"] == {0: 0, 1: 3, 3: 2}
    assert counts_interleave_hit(Policy(Mode.MPOL_WEIGHTED_INTERLEAVE, frozenset({0, 1})))
    assert not counts_interleave_hit(Policy(Mode.MPOL_BIND, frozenset({0, 1})))


def test_a_preferred_page_elsewhere_is_a_miss_there_and_foreign_on_the_preferred() -> None:
    policy = Policy(Mode.MPOL_PREFERRED, frozenset({3}))
    wanted = wanted_nodes(TOPOLOGY, policy, MAINLINE, RELEASE, npages=4, vm_pgoff=0, cpu_node=0)
    counts = events(wanted, (3, 3, 0, 1), cpu_node=0, interleave=False, nodes=NODES)
    assert counts["numa_hit"] == {0: 0, 1: 0, 3: 2}
    assert counts["numa_miss"] == {0: 1, 1: 1, 3: 0}
    assert counts["numa_foreign"] == {0: 0, 1: 0, 3: 2}


def test_bounds_fail_below_our_pages_and_above_the_noise() -> None:
    low = zero(NODES)
    low["numa_hit"][0] = 100
    noise = zero(NODES)
    noise["numa_hit"][0] = 5
    bounds = CounterBounds(low, noise, slack=10)
    observed = zero(NODES)
    observed["numa_hit"][0] = 120
    assert bounds.violations(observed) == []
    observed["numa_hit"][0] = 99
    assert bounds.violations(observed) == ["node0 numa_hit grew by 99, expected at least 100"]
    observed["numa_hit"][0] = 121
    assert "at most 120" in bounds.violations(observed)[0]
    observed["numa_hit"][0] = 100
    observed["numa_miss"][1] = 11
    assert bounds.violations(observed) == [
        "node1 numa_miss grew by 11, expected at most 10 (0 + twice the idle noise 0 + 10)"
    ]


def test_numastat_files_are_read_per_counter_and_node() -> None:
    counts = read_numastat(NODES, root=SYSFS)
    assert set(counts) >= {"numa_hit", "interleave_hit", "other_node"}
    assert delta(counts, counts)["numa_hit"] == dict.fromkeys(NODES, 0)


@pytest.mark.parametrize(
    ("moved", "asked", "differs"),
    [((0, 1, 2), (0, 1, 2), False), ((0, 1, 2), (0, 2, 2), True), ((0,), (1,), True)],
)
def test_page_node_opinions(moved: tuple[int, ...], asked: tuple[int, ...], differs: bool) -> None:
    assert bool(opinions_differ(moved, asked)) == differs


def test_noise_as_large_as_half_our_pages_cannot_tell() -> None:
    low, noise = zero(NODES), zero(NODES)
    low["numa_hit"][0] = 100
    noise["numa_hit"][0] = 49
    assert CounterBounds(low, noise, slack=0).too_noisy() is None
    noise["numa_hit"][0] = 50
    assert (
        CounterBounds(low, noise, slack=0).too_noisy() == "node0 numa_hit idle 50 against our 100"
    )


def test_the_rows_have_stable_readable_ids() -> None:
    from fixtures.matrix.numastat import numastat_cases
    from fixtures.matrix.page_node import page_node_cases
    from fixtures.matrix.randmap import randmap_cases

    assert [c.id for c in numastat_cases(TOPOLOGY)] == [
        "bind-local-node0",
        "bind-remote-node1",
        "bind-remote-node3",
        "thp-bind-local-node0",
        "interleave-nodes0,1,3",
        "weighted-interleave-nodes0,1,3",
        "preferred-full-node3",
    ]
    ids = [c.id for c in page_node_cases(TOPOLOGY)]
    assert ids[:2] == ["shared-anon-interleave-nodes0,1,3", "shared-anon-bind-node0"]
    assert ids[-1] == "anon-preferred-node3" and len(ids) == len(set(ids)) == 17
    assert [c.id for c in randmap_cases(TOPOLOGY)][:2] == ["seed0", "seed1"]
