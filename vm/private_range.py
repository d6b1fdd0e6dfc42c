"""The physical range of a private node made by the suite's provider (RFC v4 kernels).

Without CXL hardware the guest gets a private node like this: QEMU gives a CPU-less node
its memory, `memmap=SIZE!START` takes exactly that range away from the kernel at boot (a
non-busy "Persistent Memory (legacy)" e820 range, so the node has no memory), and the
provider built into the series kernel (vm/private_provider, `mpol_private_node.*`) hot-adds
it as N_MEMORY_PRIVATE memory of that node. The host computes the range from QEMU's layout
(nodes in id order from address 0, all below the 32-bit PCI hole for these small guests);
the guest checks it against its own SRAT lines before any case runs, so a wrong range is a
clear error, never a silent normal node.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MIB = 1 << 20
# x86's memory block below 64 GiB of boot memory: hot-add works in whole blocks.
MEMORY_BLOCK_MIB = 128
# QEMU's pc machine keeps guest RAM below 4 GiB up to here (pc_init1, no gigabyte split).
LOWMEM_LIMIT_MIB = 3584
PARAMETER_PREFIX = "mpol_private_node."

_SRAT = re.compile(r"SRAT: Node (\d+) PXM \d+ \[mem (0x[0-9a-f]+)-(0x[0-9a-f]+)\]")
_PROVIDED = re.compile(
    r"mpol_private_node: node (\d+) private, \[mem (0x[0-9a-f]+)-(0x[0-9a-f]+)\], ops=(\S+)"
)
_REFUSED = re.compile(r"mpol_private_node: (.*)")


@dataclass(frozen=True)
class PrivateRange:
    node: int
    start: int  # bytes
    size: int  # bytes
    ops: tuple[str, ...]  # NP_OPS_* names the provider's ops carry

    @property
    def last(self) -> int:
        return self.start + self.size - 1

    def kernel_parameters(self) -> list[str]:
        size_mib = self.size // MIB
        parameters = [
            f"memmap={size_mib}M!{self.start:#x}",
            f"{PARAMETER_PREFIX}nid={self.node}",
            f"{PARAMETER_PREFIX}start={self.start:#x}",
            f"{PARAMETER_PREFIX}size={size_mib}M",
        ]
        if self.ops:  # no ops= at all: a private node whose ops carry no flag
            parameters.append(f"{PARAMETER_PREFIX}ops={','.join(self.ops)}")
        return parameters


def node_range(memory_mib: list[int], node: int, ops: tuple[str, ...]) -> PrivateRange:
    """Where QEMU puts `node` when the nodes have these sizes (MiB), in id order.

    Raises ValueError with the reason when the provider could not hot-add it there.
    """
    start_mib = sum(memory_mib[:node])
    size_mib = memory_mib[node]
    if sum(memory_mib) > LOWMEM_LIMIT_MIB:
        raise ValueError(
            f"the guest has over {LOWMEM_LIMIT_MIB} MiB, so QEMU splits its memory around "
            "the PCI hole; keep a private-node preset smaller"
        )
    if node == len(memory_mib) - 1:
        # SeaBIOS keeps its tables in the top pages of RAM below 4 GiB: a private node
        # there would overlap them. A small normal node after it keeps them away.
        raise ValueError("the private node must not be the last node (the BIOS owns its top)")
    if size_mib % MEMORY_BLOCK_MIB or start_mib % MEMORY_BLOCK_MIB:
        raise ValueError(
            f"the private node starts at {start_mib} MiB with {size_mib} MiB; both must be "
            f"multiples of the {MEMORY_BLOCK_MIB} MiB memory block"
        )
    return PrivateRange(node, start_mib * MIB, size_mib * MIB, ops)


def requested_range(cmdline: str) -> PrivateRange | None:
    """The provider's parameters on a kernel command line, or None when it is not asked."""
    values: dict[str, str] = {}
    for word in cmdline.split():
        name, _, value = word.partition("=")
        if name.startswith(PARAMETER_PREFIX):
            values[name.removeprefix(PARAMETER_PREFIX)] = value
    if "nid" not in values:
        return None
    ops = tuple(op for op in values.get("ops", "").split(",") if op)
    return PrivateRange(
        int(values["nid"]), int(values["start"], 0), _mib_bytes(values["size"]), ops
    )


def _mib_bytes(text: str) -> int:
    return int(text[:-1]) * MIB if text.endswith("M") else int(text, 0)


def srat_ranges(kernel_log: str) -> dict[int, list[tuple[int, int]]]:
    """Node -> [(first, last)] as the guest's firmware described them."""
    ranges: dict[int, list[tuple[int, int]]] = {}
    for match in _SRAT.finditer(kernel_log):
        node, first, last = int(match.group(1)), int(match.group(2), 16), int(match.group(3), 16)
        ranges.setdefault(node, []).append((first, last))
    return ranges


def check_private_node(cmdline: str, kernel_log: str) -> str | None:
    """None when the asked-for node is private over exactly its SRAT range; else why not."""
    wanted = requested_range(cmdline)
    if wanted is None:
        return None
    ranges = srat_ranges(kernel_log).get(wanted.node, [])
    if ranges != [(wanted.start, wanted.last)]:
        found = ", ".join(f"{first:#x}-{last:#x}" for first, last in ranges) or "no memory"
        return (
            f"private node {wanted.node}: the preset reserved {wanted.start:#x}-{wanted.last:#x} "
            f"but the guest's SRAT gives node {wanted.node} {found}; fix the preset's node sizes"
        )
    for match in _PROVIDED.finditer(kernel_log):
        node, first, last = int(match.group(1)), int(match.group(2), 16), int(match.group(3), 16)
        if (node, first, last) == (wanted.node, wanted.start, wanted.last):
            return None
    refusals = [m.group(1) for m in _REFUSED.finditer(kernel_log) if "private," not in m.group(1)]
    why = refusals[-1] if refusals else "it logged nothing (a kernel without the provider?)"
    return f"private node {wanted.node}: the provider did not make it private: {why}"
