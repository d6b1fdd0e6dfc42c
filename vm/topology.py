"""Topology presets: the guest's NUMA layout, kept as TOML files in vm/topologies/.

A preset gives the guest's memory, its nodes (id, CPU count, memory) and the distances
that differ from QEMU's defaults; `vng_arguments` turns it into virtme-ng options.
Optionally, kernel parameters for the guest and a [private] table: the private node, its
provider and the profile the run uses by default (`pytest_options` carries them to the
guest's pytest). A key the loader does not read is an error, at every level.
"""

from __future__ import annotations

import hashlib
import reprlib
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

from fixtures.profiles import ProfileError, load_profile, names_a_file
from vm.errors import UserError
from vm.private_range import PrivateRange, node_range

PRESET_DIR = Path(__file__).with_name("topologies")
MAX_QEMU_NODES = 128  # QEMU's MAX_NODES
# One socket per vCPU gives the vCPUs APIC ids 0..cpus-1. Past id 254 QEMU's q35 wants an
# intel-iommu with interrupt remapping and eim=on ("current -smp configuration requires
# Extended Interrupt Mode enabled"), which the guest's command line does not add.
MAX_GUEST_CPUS = 255
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


# The keys a preset file may hold at each level are the fields of what it is read into (a
# preset's name is its file's); any other key is a typo that would go unnoticed.
PRESET_KEYS = tuple(f.name for f in fields(TopologyPreset) if f.name != "name")
NODE_KEYS = tuple(f.name for f in fields(NodeSpec))
PRIVATE_KEYS = tuple(f.name for f in fields(PrivateSpec))


def known_presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def _shown(value: object) -> str:
    return reprlib.repr(value)  # shortened: a long inline table stays one line


def _integer(where: str, field: str, value: object, least: int) -> int:
    # TOML tells 512, 512.5, "512" and true apart: only the first is a count. bool is a
    # subclass of int in Python, so it is refused by name (`cpus = true` is not one CPU).
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise UserError(
            f"topology {where}: {field} = {_shown(value)} must be an integer >= {least}"
        )
    return value


def _string(where: str, field: str, value: object) -> str:
    if not isinstance(value, str):
        raise UserError(f'topology {where}: {field} = {_shown(value)} must be a string ("...")')
    return value


def _strings(where: str, field: str, value: object) -> tuple[str, ...]:
    # A bare string is iterable too: "quiet" must not become q, u, i, e, t.
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        example = f'["{value}"]' if isinstance(value, str) else '["...", "..."]'
        raise UserError(
            f"topology {where}: {field} = {_shown(value)} must be a list of strings, e.g. {example}"
        )
    return tuple(value)


def _only_known(where: str, table: dict[str, object], at: str, allowed: Sequence[str]) -> None:
    """Refuse a key the loader would not read: `memroy_mib` is a typo, not a wish."""
    unknown = [key for key in table if key not in allowed]
    if unknown:
        raise UserError(
            f"topology {where}: unknown key {unknown[0]!r} {at}; the keys allowed there are "
            f"{', '.join(allowed)}"
        )


def _required(where: str, table: dict[str, object], key: str, field: str, hint: str) -> object:
    if key not in table:
        raise UserError(f"topology {where}: {field} is missing; {hint}")
    return table[key]


def _parse_node(where: str, index: int, table: object) -> NodeSpec:
    field = f"nodes[{index}]"
    if not isinstance(table, dict):
        raise UserError(
            f"topology {where}: {field} = {_shown(table)} must be a table with id, cpus "
            "and memory_mib"
        )
    _only_known(where, table, f"in {field}", NODE_KEYS)
    node_id = _required(where, table, "id", f"{field}.id", "give the node's id, 0 for the first")
    memory = _required(
        where, table, "memory_mib", f"{field}.memory_mib", "give its memory in MiB (0: none)"
    )
    return NodeSpec(
        id=_integer(where, f"{field}.id", node_id, 0),
        cpus=_integer(where, f"{field}.cpus", table.get("cpus", 0), 0),
        memory_mib=_integer(where, f"{field}.memory_mib", memory, 0),
    )


def _parse_nodes(where: str, value: object) -> tuple[NodeSpec, ...]:
    if not isinstance(value, list):
        raise UserError(
            f"topology {where}: nodes = {_shown(value)} must be an array of tables: "
            "one [[nodes]] table per node, with id, cpus and memory_mib"
        )
    return tuple(_parse_node(where, index, table) for index, table in enumerate(value))


def _node_id(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() else None


def _parse_distance(where: str, key: str, value: object) -> tuple[int, int, int]:
    src, _, dst = key.partition("-")
    ends = _node_id(src), _node_id(dst)
    if ends[0] is None or ends[1] is None or isinstance(value, bool) or not isinstance(value, int):
        raise UserError(
            f"topology {where}: distance {key!r} = {_shown(value)} is not 'SRC-DST' = INTEGER"
        )
    return ends[0], ends[1], value


def _parse_distances(where: str, value: object) -> tuple[tuple[int, int, int], ...]:
    if not isinstance(value, dict):
        raise UserError(
            f"topology {where}: distances = {_shown(value)} must be a table: "
            '[distances] with lines like "0-1" = 30'
        )
    return tuple(_parse_distance(where, key, number) for key, number in value.items())


def parse_preset(
    name: str, text: str, where: str | None = None, folder: Path | None = None
) -> TopologyPreset:
    """The preset in `text`; errors name `where` (the file), by default `name`. A path in
    it (`[private] profile = "mine.toml"`) is taken from `folder`, the file's own, as a
    profile's `extends` is: not from wherever the command runs."""
    where = where or name
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"topology {where}: not valid TOML ({exc})") from None
    _only_known(where, data, "at the top level", PRESET_KEYS)
    memory = _required(
        where, data, "memory_mib", "memory_mib", "give the guest's memory in MiB, the nodes' sum"
    )
    nodes = _required(
        where, data, "nodes", "nodes", "give one [[nodes]] table per node (id, cpus, memory_mib)"
    )
    preset = TopologyPreset(
        name=name,
        description=_string(where, "description", data.get("description", "")),
        memory_mib=_integer(where, "memory_mib", memory, 1),
        nodes=_parse_nodes(where, nodes),
        distances=_parse_distances(where, data.get("distances", {})),
        kernel_parameters=_strings(where, "kernel_parameters", data.get("kernel_parameters", [])),
        private=_parse_private(where, data.get("private"), folder),
    )
    validate(preset, where)
    return preset


def _parse_private(where: str, table: object, folder: Path | None) -> PrivateSpec | None:
    if table is None:
        return None
    if not isinstance(table, dict):
        raise UserError(
            f"topology {where}: private = {_shown(table)} must be a table: [private] with "
            "provider and node"
        )
    _only_known(where, table, "in [private]", PRIVATE_KEYS)
    hint = "[private] needs provider and node"
    provider = _required(where, table, "provider", "[private] provider", hint)
    node = _required(where, table, "node", "[private] node", hint)
    profile = table.get("profile")
    if profile is not None:
        profile = _string(where, "[private] profile", profile)
        if folder is not None and names_a_file(profile):
            profile = str(folder / profile)  # an absolute path stays itself
    return PrivateSpec(
        provider=_string(where, "[private] provider", provider),
        node=_integer(where, "[private] node", node, 0),
        profile=profile,
        modules=_strings(where, "[private] modules", table.get("modules", [])),
        ops=_strings(where, "[private] ops", table["ops"]) if "ops" in table else None,
    )


def _validate_private(preset: TopologyPreset, where: str) -> None:
    private = preset.private
    if private is None:
        return
    if private.provider not in PRIVATE_PROVIDERS:
        raise UserError(
            f"topology {where}: private provider {private.provider!r} is not one of "
            f"{', '.join(PRIVATE_PROVIDERS)}"
        )
    by_id = {n.id: n for n in preset.nodes}
    node = by_id.get(private.node)
    if node is None or node.cpus or not node.memory_mib:
        raise UserError(
            f"topology {where}: private node {private.node} must be a CPU-less memory node"
        )
    # Linux numbers nodes with CPUs first: only then is the preset's id the guest's id.
    if any(n.cpus for n in preset.nodes if n.id > private.node):
        raise UserError(
            f"topology {where}: private node {private.node} must come after every node with CPUs"
        )
    if private.profile is not None:
        # Checked here, where the file is known: a run reports a bad --profile on its own.
        try:
            load_profile(private.profile)
        except ProfileError as exc:
            raise UserError(
                f"topology {where}: [private] profile = {private.profile!r} fails: {exc}"
            ) from None
    if private.ops is not None:
        if private.provider != "kernel":
            raise UserError(f"topology {where}: [private] ops go with provider kernel")
        try:
            preset.private_range()
        except ValueError as exc:
            raise UserError(f"topology {where}: {exc}") from None


def validate(preset: TopologyPreset, where: str | None = None) -> None:
    """Refuse a preset QEMU or the suite cannot use; errors name `where` (or the preset)."""
    where = where or preset.name
    ids = [n.id for n in preset.nodes]
    if not ids:
        raise UserError(f"topology {where}: no nodes")
    if len(ids) > MAX_QEMU_NODES:
        raise UserError(f"topology {where}: {len(ids)} nodes, QEMU allows at most {MAX_QEMU_NODES}")
    # QEMU refuses holes ("numa: Node ID missing"), and Linux numbers nodes by discovery.
    if ids != list(range(len(ids))):
        raise UserError(f"topology {where}: node ids must be 0..{len(ids) - 1} in order, got {ids}")
    total = sum(n.memory_mib for n in preset.nodes)
    if total != preset.memory_mib:
        raise UserError(
            f"topology {where}: node memory adds up to {total} MiB but the guest has "
            f"{preset.memory_mib} MiB; make memory_mib equal to the sum of the nodes"
        )
    if preset.cpus == 0:
        raise UserError(f"topology {where}: no node has a CPU")
    if preset.cpus > MAX_GUEST_CPUS:
        raise UserError(
            f"topology {where}: the nodes' cpus add up to {preset.cpus}, more than the "
            f"{MAX_GUEST_CPUS} vCPUs QEMU gives a guest without an IOMMU; give the nodes fewer"
        )
    pairs: dict[frozenset[int], int] = {}
    for src, dst, value in preset.distances:
        if src not in ids or dst not in ids or src == dst or not 10 < value <= 255:
            raise UserError(
                f"topology {where}: distance {src}-{dst} = {value} needs two different nodes "
                "and 10 < value <= 255"
            )
        # An entry sets both directions (distance_matrix). QEMU and Linux would take an
        # asymmetric table, and the guest's oracle reads distances per direction, but this
        # format has no way to say one: "1-0" after "0-1" could only contradict it.
        earlier = pairs.setdefault(frozenset((src, dst)), value)
        if earlier != value:
            raise UserError(
                f"topology {where}: distance {src}-{dst} = {value} contradicts {dst}-{src} = "
                f"{earlier}; an entry sets both directions, so give each pair once"
            )
    for parameter in preset.kernel_parameters:
        if not parameter or any(c.isspace() for c in parameter):
            raise UserError(f"topology {where}: kernel parameter {parameter!r} must be one word")
    _validate_private(preset, where)


def user_preset_name(path: Path, content: bytes) -> str:
    """A user's file is named by its stem and the start of its content's SHA-256.

    The name keys the result document (<release>--<preset>--<profile>.json) and reaches the
    guest as --topology-preset, so a user's default.toml must not pass for the shipped
    preset (its result would replace the shipped one's), nor host.toml for bare metal.
    Refusing those stems would still let two layout.toml files, or one file before and
    after an edit, replace each other's results; the hash tells them apart and keeps the
    name of an unchanged file from run to run.
    """
    stem = "".join(c if c.isalnum() or c in "._-" else "_" for c in path.stem)  # a file name
    return f"{stem}-{hashlib.sha256(content).hexdigest()[:8]}"


def load_preset(name_or_path: str) -> TopologyPreset:
    path = Path(name_or_path)
    if not (path.suffix == ".toml" and path.is_file()):
        path = PRESET_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        raise UserError(
            f"unknown topology {name_or_path!r}: choose one of "
            f"{', '.join(known_presets())} or give a .toml path"
        )
    try:
        content = path.read_bytes()
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(
            f"topology {path}: byte {exc.start} is not UTF-8 ({exc.reason}); save it as UTF-8"
        ) from None
    except OSError as exc:
        raise UserError(f"topology {path}: cannot read it ({exc.strerror})") from None
    shipped = path.resolve().parent == PRESET_DIR.resolve()
    name = path.stem if shipped else user_preset_name(path, content)
    return parse_preset(name, text, str(path), path.parent)
