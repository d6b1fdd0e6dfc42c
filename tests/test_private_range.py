"""Where the suite's provider makes a private node, and the guest's check of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from vm.errors import UserError
from vm.private_range import (
    MIB,
    check_private_node,
    node_range,
    requested_range,
    srat_ranges,
)
from vm.topology import load_preset, parse_preset

CONSOLE = Path(__file__).parent / "data/console"
# A real boot of the series kernel with private-v4 (tests/data/console/private-v4-7.3.log).
REAL_LOG = CONSOLE / "private-v4-7.3.log"


def test_the_range_follows_qemus_layout() -> None:
    provided = node_range([256, 256, 256, 128], 2, ("mempolicy", "migration"))
    assert (provided.start, provided.size) == (512 * MIB, 256 * MIB)
    assert provided.kernel_parameters() == [
        "memmap=256M!0x20000000",
        "mpol_private_node.nid=2",
        "mpol_private_node.start=0x20000000",
        "mpol_private_node.size=256M",
        "mpol_private_node.ops=mempolicy,migration",
    ]


def test_no_ops_means_no_ops_parameter() -> None:
    params = node_range([256, 256, 256, 128], 2, ()).kernel_parameters()
    assert not any(p.startswith("mpol_private_node.ops") for p in params)


@pytest.mark.parametrize(
    ("sizes", "node", "why"),
    [
        ([256, 256, 256], 2, "must not be the last node"),
        ([256, 200, 256, 128], 2, "multiples of the 128 MiB memory block"),
        ([256, 256, 192, 128], 2, "multiples of the 128 MiB memory block"),
        ([2048, 1024, 512, 128], 2, "splits its memory around the PCI hole"),
    ],
)
def test_ranges_the_provider_cannot_take_are_refused(sizes: list[int], node: int, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        node_range(sizes, node, ())


def test_the_presets_carry_the_provider_parameters() -> None:
    opened = load_preset("private-v4").guest_kernel_parameters()
    closed = load_preset("private-v4-closed").guest_kernel_parameters()
    assert "mpol_private_node.ops=mempolicy,migration" in opened
    assert [p for p in closed if "ops=" in p] == []
    assert opened[:4] == closed[:4]


def test_a_preset_with_the_private_node_last_is_a_user_error() -> None:
    text = (
        "memory_mib = 768\n[[nodes]]\nid = 0\ncpus = 1\nmemory_mib = 256\n"
        "[[nodes]]\nid = 1\ncpus = 1\nmemory_mib = 256\n"
        "[[nodes]]\nid = 2\ncpus = 0\nmemory_mib = 256\n"
        '[private]\nprovider = "kernel"\nnode = 2\nops = []\n'
    )
    with pytest.raises(UserError, match="topology mine: the private node must not be the last"):
        parse_preset("mine", text)


def test_ops_need_the_kernel_provider() -> None:
    text = (
        "memory_mib = 640\n[[nodes]]\nid = 0\ncpus = 1\nmemory_mib = 256\n"
        "[[nodes]]\nid = 1\ncpus = 0\nmemory_mib = 256\n"
        "[[nodes]]\nid = 2\ncpus = 0\nmemory_mib = 128\n"
        '[private]\nprovider = "unprotected"\nnode = 1\nops = []\n'
    )
    with pytest.raises(UserError, match="ops go with provider kernel"):
        parse_preset("mine", text)


CMDLINE = (
    "console=ttyS0 memmap=256M!0x20000000 mpol_private_node.nid=2 "
    "mpol_private_node.start=0x20000000 mpol_private_node.size=256M "
    "mpol_private_node.ops=mempolicy,migration"
)
SRAT = (
    "ACPI: SRAT: Node 0 PXM 0 [mem 0x00000000-0x0009ffff]\n"
    "ACPI: SRAT: Node 0 PXM 0 [mem 0x00100000-0x0fffffff]\n"
    "ACPI: SRAT: Node 1 PXM 1 [mem 0x10000000-0x1fffffff]\n"
    "ACPI: SRAT: Node 2 PXM 2 [mem 0x20000000-0x2fffffff]\n"
    "ACPI: SRAT: Node 3 PXM 3 [mem 0x30000000-0x37ffffff]\n"
)
PROVIDED = "mpol_private_node: node 2 private, [mem 0x20000000-0x2fffffff], ops=migration,mempolicy"


def test_cmdline_is_read_back() -> None:
    wanted = requested_range(CMDLINE)
    assert wanted is not None
    assert (wanted.node, wanted.start, wanted.size) == (2, 0x20000000, 256 * MIB)
    assert wanted.ops == ("mempolicy", "migration")
    assert requested_range("console=ttyS0 quiet") is None


def test_a_matching_srat_and_provider_line_pass() -> None:
    assert srat_ranges(SRAT)[0] == [(0, 0x9FFFF), (0x100000, 0xFFFFFFF)]
    assert check_private_node(CMDLINE, SRAT + PROVIDED) is None
    assert check_private_node("console=ttyS0", "") is None


def test_a_wrong_range_is_named() -> None:
    shifted = SRAT.replace("Node 2 PXM 2 [mem 0x20000000", "Node 2 PXM 2 [mem 0x24000000")
    problem = check_private_node(CMDLINE, shifted + PROVIDED)
    assert problem is not None
    assert "reserved 0x20000000-0x2fffffff" in problem and "0x24000000-0x2fffffff" in problem


def test_a_refusal_is_quoted() -> None:
    refused = "mpol_private_node: refused: range overlaps System RAM"
    problem = check_private_node(CMDLINE, SRAT + refused)
    assert problem is not None and problem.endswith("refused: range overlaps System RAM")
    silent = check_private_node(CMDLINE, SRAT)
    assert silent is not None and "logged nothing" in silent


def test_the_real_boot_log() -> None:
    if not REAL_LOG.is_file():
        pytest.skip(f"{REAL_LOG} not recorded")
    text = REAL_LOG.read_text(errors="replace")
    assert check_private_node(CMDLINE, text) is None
    assert srat_ranges(text)[2] == [(0x20000000, 0x2FFFFFFF)]
