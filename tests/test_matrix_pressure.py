"""The pressure row's order: each node's filler is started once, every case kept."""

from pathlib import Path

from fixtures.matrix import PressureCase, pressure_cases
from fixtures.matrix.pressure import fill_order, pressure_bind_cases, pressure_spill_cases
from fixtures.system.topology import discover

TOPOLOGY = discover(Path(__file__).parent / "data" / "sysfs" / "qemu-3mem-1memoryless")


def test_fill_order_keeps_a_node_full_across_neighbouring_groups() -> None:
    groups = [frozenset({0}), frozenset({1}), frozenset({2}), frozenset({1, 2})]
    assert fill_order(groups) == [
        frozenset({0}),
        frozenset({1}),
        frozenset({1, 2}),
        frozenset({2}),
    ]


def test_every_case_kept_and_each_node_filled_once() -> None:
    cases = [c for c in pressure_cases(TOPOLOGY) if isinstance(c, PressureCase)]
    built = pressure_spill_cases(TOPOLOGY) + pressure_bind_cases(TOPOLOGY)
    assert sorted(c.id for c in cases) == sorted(c.id for c in built)
    # A node is full over one run of consecutive cases: its filler starts once.
    for node in TOPOLOGY.memory_nodes:
        held = [i for i, c in enumerate(cases) if node in c.full]
        assert held == list(range(held[0], held[-1] + 1)), (node, [c.id for c in cases])
    # Within a set of full nodes, the spill cases come before BIND (which ends in an OOM).
    for full in {c.full for c in cases}:
        modes = [c.policy.label.startswith("bind") for c in cases if c.full == full]
        assert modes == sorted(modes)
