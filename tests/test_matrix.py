"""The matrix built from a recorded topology: stable, readable, unique ids."""

from pathlib import Path

from fixtures.matrix import placement_cases
from fixtures.oracle.placement import nearest_in
from fixtures.system.topology import discover

TOPOLOGY = discover(Path(__file__).parent / "data" / "sysfs" / "qemu-3mem-1memoryless")


def test_ids_are_readable_and_unique() -> None:
    ids = [case.id for case in placement_cases(TOPOLOGY)]
    assert len(ids) == len(set(ids))
    for expected in (
        "mbind-bind-node3",
        "mbind-bind-nodes0,3",
        "set_mempolicy-preferred-node1",
        "mbind-interleave-nodes0,1,3",
        "set_mempolicy-local-from-node2",
    ):
        assert expected in ids


def test_every_memory_node_and_cpu_node_is_covered() -> None:
    cases = placement_cases(TOPOLOGY)
    # Three memory nodes: 3 bind + 3 preferred + 3 bind pairs + 3 interleave pairs + 1
    # interleave over all, and default and local from each of three CPU nodes: 19 per API;
    # then BIND to each pair and to all three from the two other CPU nodes: 8 per API.
    assert len(cases) == 2 * (3 + 3 + 3 + 3 + 1 + 2 * 3 + 2 * 4)
    local_nodes = {c.cpu_node for c in cases if c.policy.label in ("default", "local")}
    assert local_nodes == {0, 1, 2}  # node 2 is the memoryless one
    assert all(c.policy.nodes <= {0, 1, 3} for c in cases)


def test_bind_from_other_cpus_tells_nearest_from_lowest() -> None:
    # From node 0 the nearest node of every mask here is also its lowest id; the rows from
    # the other CPU nodes are the ones where the two rules part.
    others = [c for c in placement_cases(TOPOLOGY) if c.other_cpu]
    assert {c.cpu_node for c in others} == {1, 2}
    assert all(c.id.endswith(f"-from-node{c.cpu_node}") for c in others)
    parting = [
        c
        for c in others
        if min(c.policy.nodes) not in nearest_in(TOPOLOGY, c.cpu_node, c.policy.nodes)
    ]
    assert {c.id for c in parting} >= {"mbind-bind-nodes0,1-from-node1"}
