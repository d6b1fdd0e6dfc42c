"""Private-node discovery against one sysfs tree per published interface (tests/data/sysfs).

The private trees are derived by hand from the real `qemu-3mem-1memoryless` recording (no
kernel with the series can be recorded here, see tests/data/sysfs/README.md); node 3 plays
the private node. `qemu-3mem-1memoryless` and `qemu-private-6.12` are real stock kernels.
"""

from pathlib import Path

import pytest

from fixtures.system.private import (
    candidate_nodes,
    discover_private,
    lacks_series_reason,
    parse_features,
    parse_private_param,
)
from fixtures.system.topology import discover

SYSFS = Path(__file__).parent / "data" / "sysfs"


@pytest.mark.parametrize("tree", ["qemu-3mem-1memoryless", "qemu-private-6.12", "sparse-0-1-4"])
def test_stock_kernels_lack_the_series(tree: str) -> None:
    found = discover_private(SYSFS / tree, cmdline="")
    assert found.interface is None and not found.has_series
    assert found.private == frozenset()
    assert "has_private_memory" in lacks_series_reason(SYSFS / tree)


@pytest.mark.parametrize(
    ("tree", "interface", "in_has_memory"),
    [
        ("private-rfc-v4", "has_private_memory", frozenset()),  # its driver refuses mempolicy
        ("private-v5", "has_private_memory", frozenset({3})),
        ("private-features", "has_public_memory", frozenset({3})),
        ("private-features-common", "has_common_memory", frozenset({3})),
        ("private-mem-features-only", "node*/mem_features", frozenset({3})),
    ],
)
def test_each_interface_finds_node_3(
    tree: str, interface: str, in_has_memory: frozenset[int]
) -> None:
    found = discover_private(SYSFS / tree, cmdline="")
    assert found.interface == interface
    assert found.private == {3}
    assert found.in_has_memory == in_has_memory
    assert candidate_nodes(discover(SYSFS / tree), SYSFS / tree) == (3,)


def test_features_come_from_mem_features() -> None:
    found = discover_private(SYSFS / "private-features", cmdline="")
    assert found.features == {3: frozenset({"reclaim", "compact", "user"})}
    assert found.caps(3) == {"reclaim", "compact", "user"}
    common = discover_private(SYSFS / "private-features-common", cmdline="")
    assert common.caps(3) == {"reclaim", "demotion"}


def test_v5_caps_come_from_the_boot_parameter() -> None:
    cmdline = "console=ttyS0 private_node=3,user_numa,reclaim quiet"
    found = discover_private(SYSFS / "private-v5", cmdline=cmdline)
    assert found.features == {}
    assert found.requested == {3: frozenset({"user_numa", "reclaim"})}
    assert found.caps(3) == {"user_numa", "reclaim"}
    assert found.to_json()["requested"] == {"3": ["reclaim", "user_numa"]}


@pytest.mark.parametrize(
    ("cmdline", "requested"),
    [
        ("private_node=2", {2: frozenset()}),
        ("a=1 private_node=2,Reclaim private_node=4,user", {2: {"reclaim"}, 4: {"user"}}),
        ("xprivate_node=2 private_node=x", {}),
        ("", {}),
    ],
)
def test_parse_private_param(cmdline: str, requested: dict[int, set[str]]) -> None:
    assert parse_private_param(cmdline) == requested


def test_parse_features_accepts_blanks_and_commas() -> None:
    assert parse_features("reclaim, compact\n user") == {"reclaim", "compact", "user"}
    assert parse_features("\n") == frozenset()


def test_stand_in_candidates_are_the_cpuless_memory_nodes() -> None:
    assert candidate_nodes(discover(SYSFS / "qemu-private-6.12"), SYSFS / "qemu-private-6.12") == (
        2,
    )
    assert candidate_nodes(discover(SYSFS / "sparse-0-1-4"), SYSFS / "sparse-0-1-4") == (4,)
