"""Read result documents (reports/SCHEMA.md) into typed, frozen records for the reports.

A document that does not follow the schema is refused with one line naming the file and the
offending key: a broken run must be noticed, not shown as a column of blanks. Reading the
file, the schema version and the verdicts are the contract's (reports/document.py).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from reports.checked_json import CheckedObject
from reports.document import DocumentError, read_json
from reports.document import Verdict as Verdict  # the reports take it from here
from reports.errors import UserError


@dataclass(frozen=True)
class Kernel:
    release: str  # uname -r
    version: str  # uname -v
    source: str  # how the host got it: image path, package, tree
    config_hash: str | None  # of the kernel's .config, when known


@dataclass(frozen=True)
class Node:
    id: int
    cpus: tuple[int, ...]  # empty for a CPU-less node
    memory_kib: int  # 0 for a memoryless node
    kind: str  # normal, cpuless, memoryless, private, ...
    distances: Mapping[int, int]  # node id -> SLIT distance


@dataclass(frozen=True)
class Topology:
    preset: str  # preset name, or "host" on bare metal
    nodes: tuple[Node, ...]


@dataclass(frozen=True)
class Host:
    hostname: str
    machine: str
    python: str
    qemu: str | None  # None on bare metal
    accel: str | None  # kvm or tcg; None on bare metal


@dataclass(frozen=True)
class Run:
    started: str  # ISO 8601, UTC
    duration_s: float
    boot_s: float | None  # None on bare metal
    status: str  # ok | crashed | lost-vm | timeout
    console_findings: tuple[str, ...]  # Oops, BUG, WARNING, panic lines from the console
    # What the profile's answers were checked on; "" when nothing (v5, features: written
    # from descriptions); None in documents from before the key existed.
    profile_verified: str | None = None
    # For the speed table; None on bare metal and in documents from before the keys existed.
    suite_s: float | None = None  # the suite's start to its end, in the guest
    first_case_s: float | None = None  # kernel start to the first case's start
    children: Mapping[str, int] | None = None  # how the cases' children were made: {"worker": 812}
    # Whether the run had the host to itself (vm/host_load.py): CPU seconds the host spent
    # beside the guest, and the steal of a host that is itself a VM.
    host_cores: int | None = None
    host_other_cpu_s: float | None = None
    host_steal_s: float | None = None
    # The boots that ran what a dead guest never reached (vm/continuation.py): each's status.
    continued: tuple[str, ...] = ()
    # The Python that ran the suite, "3.11.2 /usr/bin/python3.11" (vm/guest_python.py);
    # None in documents from before the key existed.
    python: str | None = None
    # A first write to an anonymous page in the guest, µs (vm/yardstick.py): how fast the
    # host ran; None in documents from before the key existed and on bare metal.
    guest_fault_us: float | None = None


@dataclass(frozen=True)
class Outcome:
    """What a case expected or observed; only the keys the document gave are set."""

    pages: Mapping[int, int] | None = None  # node id -> pages; {} means no page anywhere
    errno: str | None = None  # e.g. "EINVAL"
    signal: str | None = None  # e.g. "SIGKILL" when the child died
    constraint: str | None = None  # where the kernel is not deterministic
    nodes: tuple[int, ...] | None = None  # the nodes a constraint speaks of
    other: Mapping[str, object] | None = None  # keys this reader does not know, kept verbatim


@dataclass(frozen=True)
class Case:
    id: str  # stable: the row key of every table and of the baseline
    area: str  # the conformance module the case lives in
    params: Mapping[str, object]
    verdict: Verdict
    expected: Outcome | None  # None when the case never got that far
    observed: Outcome | None
    message: str  # the failure or skip reason
    duration_s: float


@dataclass(frozen=True)
class RunDocument:
    path: Path  # the file it was read from, for messages
    kernel: Kernel
    topology: Topology
    profile: str
    host: Host
    run: Run
    cases: tuple[Case, ...]


def load(path: str | os.PathLike[str]) -> RunDocument:
    """Read and check one result document; UserError with one line if it is not one.

    The contract (reports/document.py) reads the file and checks the schema version; this
    view checks every key the reports rely on and names the one that is wrong.
    """
    file = Path(path)
    try:
        data = read_json(file)
    except DocumentError as error:
        raise UserError(str(error)) from None
    return _document(CheckedObject(data, file), file)


def _document(root: CheckedObject, file: Path) -> RunDocument:
    kernel, topology, host, run = (root.child(key) for key in ("kernel", "topology", "host", "run"))
    cases = tuple(_case(item) for item in root.children("cases"))
    seen: set[str] = set()
    for index, case in enumerate(cases):
        if case.id in seen:  # ids are row keys: two rows with one key would hide a result
            raise UserError(f"{file}: cases[{index}].id: {case.id!r} appears more than once")
        seen.add(case.id)
    return RunDocument(
        path=file,
        kernel=Kernel(
            kernel.text("release"),
            kernel.text("version"),
            kernel.text("source"),
            kernel.optional_text("config_hash"),
        ),
        topology=Topology(
            topology.text("preset"), tuple(_node(item) for item in topology.children("nodes"))
        ),
        profile=root.text("profile"),
        host=Host(
            host.text("hostname"),
            host.text("machine"),
            host.text("python"),
            host.optional_text("qemu"),
            host.optional_text("accel"),
        ),
        run=Run(
            run.text("started"),
            run.number("duration_s"),
            run.optional_number("boot_s"),
            run.text("status"),
            run.strings("console_findings"),
            run.optional_text("profile_verified"),
            run.optional_number("suite_s"),
            run.optional_number("first_case_s"),
            run.optional_counts("children"),
            run.optional_integer("host_cores"),
            run.optional_number("host_other_cpu_s"),
            run.optional_number("host_steal_s"),
            _continued(run),
            python=run.optional_text("python"),
            guest_fault_us=run.optional_number("guest_fault_us"),
        ),
        cases=cases,
    )


def _continued(run: CheckedObject) -> tuple[str, ...]:
    if run.value("continued_after_crash", nullable=True) is None:
        return ()
    return tuple(boot.text("status") for boot in run.children("continued_after_crash"))


def _node(node: CheckedObject) -> Node:
    return Node(
        node.integer("id"),
        node.integers("cpus"),
        node.integer("memory_kib"),
        node.text("kind"),
        node.node_map("distances"),
    )


def _case(case: CheckedObject) -> Case:
    verdict = case.text("verdict")
    if verdict not in set(Verdict):
        known = ", ".join(Verdict)
        raise case.invalid("verdict", f"{verdict!r} is not a verdict ({known})")
    params = case.child("params")
    return Case(
        id=case.text("id"),
        area=case.text("area"),
        params={key: params.value(key, nullable=True) for key in params.keys()},
        verdict=Verdict(verdict),
        expected=_outcome(case, "expected"),
        observed=_outcome(case, "observed"),
        message=case.text("message"),
        duration_s=case.number("duration_s"),
    )


# Anything else an outcome carries is kept in Outcome.other and shown verbatim.
_OUTCOME_KEYS = {"pages", "errno", "signal", "constraint", "nodes"}


def _outcome(case: CheckedObject, key: str) -> Outcome | None:
    if case.value(key, nullable=True) is None:
        return None
    outcome = case.child(key)
    present = outcome.keys()
    unknown = [name for name in present if name not in _OUTCOME_KEYS]  # e.g. leak deltas
    return Outcome(
        pages=outcome.node_map("pages") if "pages" in present else None,
        errno=outcome.optional_text("errno"),
        signal=outcome.optional_text("signal"),
        constraint=outcome.optional_text("constraint"),
        nodes=outcome.integers("nodes") if "nodes" in present else None,
        other={name: outcome.value(name, nullable=True) for name in unknown} or None,
    )


def column_label(doc: RunDocument) -> str:
    """A short name for a run, e.g. "6.1.0-56-amd64 · default"; the profile only if unusual."""
    parts = [doc.kernel.release, doc.topology.preset]
    if doc.profile != "mainline":
        unverified = doc.run.profile_verified == ""
        parts.append(doc.profile + (" (unverified)" if unverified else ""))
    return " · ".join(parts)
