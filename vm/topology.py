"""Topology presets: the guest's NUMA layout, kept as TOML files in vm/topologies/.

A preset gives the guest's memory, its nodes (id, CPU count, memory) and the distances
that differ from QEMU's defaults; `vng_arguments` turns it into virtme-ng options.
Optionally, kernel parameters for the guest and a [private] table: the private node, its
provider and the profile the run uses by default (`pytest_options` carries them to the
guest's pytest).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from vm.errors import UserError
from vm.private_range import PrivateRange, node_range

PRESET_DIR = Path(__file__).with_name("topologies")
MAX_QEMU_NODES = 128  # QEMU's MAX_NODES
DEFAULT_DISTANCE = 20  # QEMU's (and ACPI SLIT's) distance to a remote node


@dataclass(frozen=True)
class NodeSpec:
    id: int
    cpus: int  # how many vCPUs the node gets (0: CPU-less)
    memory_mib: int  # 0: a memoryless node


PRIVATE_PROVIDERS = ("kernel", "cpuset-fence", "unprotected")


@dataclass(frozen=True)
class PrivateSpec:
    """The optional [private] table: which node is private and who makes it so."""

    provider: str  # kernel (the series), cpuset-fence or unprotected (stand-ins)
    node: int  # the private node; CPU-less, after every node with CPUs (same id in the guest)
    profile: str | None = None  # the profile a run uses unless --profile names one
    modules: tuple[str, ...] = ()  # provider kernel: modules the guest loads to make it private
    # Provider kernel on an RFC v4 kernel: the suite's built-in provider hot-adds the node's
    # memory as private, its ops carrying these NP_OPS_* names (vm/private_range.py).
    ops: tuple[str, ...] | None = None

    def pytest_options(self) -> list[str]:
        options = [f"--private-provider={self.provider}", f"--private-node={self.node}"]
        return options + [f"--private-module={m}" for m in self.modules]


@dataclass(frozen=True)
class TopologyPreset:
    name: str
    description: str
    memory_mib: int
    nodes: tuple[NodeSpec, ...]
    distances: tuple[tuple[int, int, int], ...]  # (src, dst, value), symmetric
    kernel_parameters: tuple[str, ...] = ()  # appended to the guest's kernel command line
    private: PrivateSpec | None = None

    @property
    def cpus(self) -> int:
        return sum(n.cpus for n in self.nodes)

    @property
    def default_profile(self) -> str:
        return self.private.profile if self.private and self.private.profile else "mainline"

    def pytest_options(self) -> list[str]:
        """Options the guest's pytest gets from the preset (the private-node provider)."""
        return self.private.pytest_options() if self.private else []

    def private_range(self) -> PrivateRange | None:
        """Where the suite's provider makes the private node, when the preset asks for it."""
        if self.private is None or self.private.ops is None:
            return None
        sizes = [n.memory_mib for n in self.nodes]
        return node_range(sizes, self.private.node, self.private.ops)

    def guest_kernel_parameters(self) -> list[str]:
        """The preset's kernel parameters, and the provider's when it makes the node."""
        provided = self.private_range()
        return [*self.kernel_parameters, *(provided.kernel_parameters() if provided else [])]

    def distance_matrix(self) -> list[tuple[int, int, int]]:
        """Every ordered pair of different nodes with its distance (QEMU's default 20)."""
        given = {(s, d): v for s, d, v in self.distances} | {
            (d, s): v for s, d, v in self.distances
        }
        ids = [n.id for n in self.nodes]
        return [(s, d, given.get((s, d), DEFAULT_DISTANCE)) for s in ids for d in ids if s != d]

    def vng_arguments(self) -> list[str]:
        args = ["--cpus", str(self.cpus), "--memory", f"{self.memory_mib}M"]
        # One socket per vCPU: QEMU's default puts all vCPUs in one socket, and a socket
        # (a shared LLC) spanning two nodes makes the kernel WARN in topology_sane().
        args += ["--qemu-opts", f"-smp {self.cpus},sockets={self.cpus},cores=1,threads=1"]
        first_cpu = 0
        for node in self.nodes:
            spec = f"{node.memory_mib}M" if node.memory_mib else "0"
            if node.cpus:
                spec += f",cpus={first_cpu}-{first_cpu + node.cpus - 1}"
                first_cpu += node.cpus
            args += ["--numa", spec]
        if self.distances:
            # Once one distance is given QEMU wants every pair, both directions spelled out.
            for src, dst, value in self.distance_matrix():
                args += ["--numa-distance", f"{src},{dst}={value}"]
        return args


def known_presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def _parse_distance(name: str, key: str, value: object) -> tuple[int, int, int]:
    try:
        src, dst = (int(part) for part in key.split("-"))
        return src, dst, int(value)  # type: ignore[call-overload]
    except (ValueError, TypeError):
        raise UserError(
            f"topology {name}: distance {key!r} = {value!r} is not 'SRC-DST' = NUMBER"
        ) from None


def parse_preset(name: str, text: str) -> TopologyPreset:
    try:
        data = tomllib.loads(text)
        nodes = tuple(
            NodeSpec(int(n["id"]), int(n.get("cpus", 0)), int(n["memory_mib"]))
            for n in data["nodes"]
        )
        memory = int(data["memory_mib"])
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"topology {name}: not valid TOML ({exc})") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"topology {name}: missing or malformed field {exc}") from None
    preset = TopologyPreset(
        name=name,
        description=str(data.get("description", "")),
        memory_mib=memory,
        nodes=nodes,
        distances=tuple(_parse_distance(name, k, v) for k, v in data.get("distances", {}).items()),
        kernel_parameters=tuple(str(p) for p in data.get("kernel_parameters", ())),
        private=_parse_private(name, data.get("private")),
    )
    validate(preset)
    return preset


def _parse_private(name: str, table: object) -> PrivateSpec | None:
    if table is None:
        return None
    try:
        assert isinstance(table, dict)
        profile = table.get("profile")
        return PrivateSpec(
            provider=str(table["provider"]),
            node=int(table["node"]),
            profile=str(profile) if profile is not None else None,
            modules=tuple(str(m) for m in table.get("modules", ())),
            ops=tuple(str(op) for op in table["ops"]) if "ops" in table else None,
        )
    except (AssertionError, KeyError, TypeError, ValueError) as exc:
        raise UserError(f"topology {name}: [private] needs provider and node ({exc})") from None


def _validate_private(preset: TopologyPreset) -> None:
    name, private = preset.name, preset.private
    if private is None:
        return
    if private.provider not in PRIVATE_PROVIDERS:
        raise UserError(
            f"topology {name}: private provider {private.provider!r} is not one of "
            f"{', '.join(PRIVATE_PROVIDERS)}"
        )
    by_id = {n.id: n for n in preset.nodes}
    node = by_id.get(private.node)
    if node is None or node.cpus or not node.memory_mib:
        raise UserError(
            f"topology {name}: private node {private.node} must be a CPU-less memory node"
        )
    # Linux numbers nodes with CPUs first: only then is the preset's id the guest's id.
    if any(n.cpus for n in preset.nodes if n.id > private.node):
        raise UserError(
            f"topology {name}: private node {private.node} must come after every node with CPUs"
        )
    if private.ops is not None:
        if private.provider != "kernel":
            raise UserError(f"topology {name}: [private] ops go with provider kernel")
        try:
            preset.private_range()
        except ValueError as exc:
            raise UserError(f"topology {name}: {exc}") from None


def validate(preset: TopologyPreset) -> None:
    name = preset.name
    ids = [n.id for n in preset.nodes]
    if not ids:
        raise UserError(f"topology {name}: no nodes")
    if len(ids) > MAX_QEMU_NODES:
        raise UserError(f"topology {name}: {len(ids)} nodes, QEMU allows at most {MAX_QEMU_NODES}")
    # QEMU refuses holes ("numa: Node ID missing"), and Linux numbers nodes by discovery.
    if ids != list(range(len(ids))):
        raise UserError(f"topology {name}: node ids must be 0..{len(ids) - 1} in order, got {ids}")
    total = sum(n.memory_mib for n in preset.nodes)
    if total != preset.memory_mib:
        raise UserError(
            f"topology {name}: node memory adds up to {total} MiB but the guest has "
            f"{preset.memory_mib} MiB; make memory_mib equal to the sum of the nodes"
        )
    if preset.cpus == 0:
        raise UserError(f"topology {name}: no node has a CPU")
    for src, dst, value in preset.distances:
        if src not in ids or dst not in ids or src == dst or not 10 < value <= 255:
            raise UserError(
                f"topology {name}: distance {src}-{dst} = {value} needs two different nodes "
                "and 10 < value <= 255"
            )
    for parameter in preset.kernel_parameters:
        if not parameter or any(c.isspace() for c in parameter):
            raise UserError(f"topology {name}: kernel parameter {parameter!r} must be one word")
    _validate_private(preset)


def load_preset(name_or_path: str) -> TopologyPreset:
    path = Path(name_or_path)
    if not (path.suffix == ".toml" and path.is_file()):
        path = PRESET_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        raise UserError(
            f"unknown topology {name_or_path!r}: choose one of "
            f"{', '.join(known_presets())} or give a .toml path"
        )
    return parse_preset(path.stem, path.read_text())
