"""Topology discovery against sysfs trees recorded from real guests (tests/data/sysfs)."""

from pathlib import Path

import pytest

from fixtures.system.topology import NodeKind, discover, parse_node_meminfo, parse_nodelist

SYSFS = Path(__file__).parent / "data" / "sysfs"


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("0", {0}),
        ("0-2", {0, 1, 2}),
        ("0-1,4", {0, 1, 4}),
        ("\n", set()),
        ("0,2-3,7\n", {0, 2, 3, 7}),
    ],
)
def test_parse_nodelist(text: str, ids: set[int]) -> None:
    assert parse_nodelist(text) == ids


def test_meminfo_fields() -> None:
    fields = parse_node_meminfo(
        "Node 3 MemTotal:  513300 kB\nNode 3 MemFree:   502376 kB\nNode 3 HugePages_Total:     0\n"
    )
    assert fields == {"MemTotal": 513300, "MemFree": 502376, "HugePages_Total": 0}


def test_memoryless_and_cpuless_nodes_are_told_apart() -> None:
    topology = discover(SYSFS / "qemu-3mem-1memoryless")
    kinds = {n.id: n.kind for n in topology.nodes.values()}
    assert kinds == {
        0: NodeKind.NORMAL,
        1: NodeKind.NORMAL,
        2: NodeKind.MEMORYLESS,
        3: NodeKind.CPULESS,
    }
    assert topology.memory_nodes == (0, 1, 3)
    assert topology.cpu_nodes == (0, 1, 2)
    assert topology.nodes[2].cpus == (2,)
    assert topology.nodes[3].memory_kib == 513300
    assert topology.node_of_cpu(1) == 1


def test_distances_are_keyed_by_node_id() -> None:
    topology = discover(SYSFS / "qemu-3mem-1memoryless")
    assert topology.nodes[0].distances == {0: 10, 1: 20, 2: 20, 3: 30}
    # From the memoryless node the nearest memory is on the two normal nodes, a tie.
    assert topology.nearest_memory_nodes(2) == (0, 1, 3)
    assert topology.distance(2, 3) == 30


def test_sparse_node_ids() -> None:
    topology = discover(SYSFS / "sparse-0-1-4")
    assert sorted(topology.nodes) == [0, 1, 4]
    assert topology.possible == frozenset(range(5))
    assert topology.memory_nodes == (0, 1, 4)
    assert topology.nodes[4].kind == NodeKind.CPULESS
    assert topology.nodes[4].distances == {0: 30, 1: 30, 4: 10}
    assert topology.nodes[1].distances[4] == 30


def test_a_kernel_without_numa_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="CONFIG_NUMA"):
        discover(tmp_path)
