"""Private nodes: the explicit path reaches the node, exactly, and behaves as the profile says.

DESIGN §5 item 2: mbind(MPOL_BIND, {private}) on anonymous memory, then write faults, land
on the private node, every page (no leak-out). Item 4's open questions (set_mempolicy
naming the node, masks that mix it with normal nodes, migration onto it, the node full
under BIND, page cache under a policy naming it) are answered by the profile's [private]
table, read by fixtures/oracle/private.py. The node comes from the provider the topology
preset names (fixtures/private/providers.py): under `kernel` on a kernel without the series every
case is `unsupported`; under `cpuset-fence` the cases run as the consumer; under
`unprotected` they check what a stock kernel does with a plain CPU-less node.
"""

from __future__ import annotations

import errno
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from fixtures import oracle
from fixtures.abi.uapi import Mode
from fixtures.matrix.common import first_cpu
from fixtures.matrix.private_nodes import (
    ExplicitCase,
    MigrationCase,
    PrivateCase,
    private_cases,
)
from fixtures.oracle import private as private_oracle
from fixtures.oracle.private import PrivateRules, Refused
from fixtures.plugin.checks import (
    check_readback,
    observed_outcome,
    policy_features,
    require,
    require_private_node,
)
from fixtures.plugin.verdicts import CaseRecord
from fixtures.private.leaks import leak_out
from fixtures.private.providers import PrivateNode, user_tasks
from fixtures.private.setup import scratch_fixture
from fixtures.profiles import Profile
from fixtures.system.child import run_in_child
from fixtures.system.memory import PAGE_SIZE
from fixtures.system.topology import NodeKind, Topology
from fixtures.workloads.private import (
    ExplicitRun,
    bind_beyond_node,
    mbind_then_fault,
    migrate_onto,
    numa_maps_of_private,
    page_cache_under_bind,
    task_policy_then_fault,
)

PAGES = 255  # odd: an interleave that starts on the wrong node shows in the counts
BEYOND_PAGES = 8192  # BIND to the node with this many pages more than it has (32 MiB)


MATRIX = {"private_case": private_cases}


scratch = scratch_fixture(size_mib=256)  # page cache for the page-cache-bind cases


def _record(case: CaseRecord, c: PrivateCase, pn: PrivateNode, rules: PrivateRules) -> None:
    case.params = {**c.params(), "provider": pn.provider, "rules": rules.profile}


def _check_run(
    case: CaseRecord,
    expected: oracle.Expectation | Refused,
    run: ExplicitRun,
    node: int,
    *,
    leak: bool = False,
    readback: dict[str, object] | None = None,
) -> None:
    """Refusals against refusals, placements against placements; with `leak` (a policy
    naming only the private node) the pages elsewhere are recorded as leak-out; with
    `readback`, the mask get_mempolicy gives back must be the one the gate installed."""
    case.expected = expected.to_json()
    case.observed = {"pages": {str(n): c for n, c in run.counts.items()}}
    if run.refused:
        case.observed["errno"] = run.refused
    elif leak:
        case.observed["leak"] = leak_out(run.per_page, node)
    if isinstance(expected, Refused):
        assert run.refused == expected.errno, (
            f"expected {expected.errno} ({expected.rule}), "
            f"got {run.refused or 'success with pages ' + str(run.counts)}"
        )
        return
    assert run.refused is None, f"the kernel refused with {run.refused}; expected {expected.rule}"
    problems = expected.violations(run.per_page)
    if readback is not None:
        case.expected["readback"] = readback
        seen = {
            "mode": Mode(run.readback_mode).name if run.readback_mode is not None else None,
            "nodes": sorted(run.readback_nodes),
        }
        case.observed["readback"] = seen
        if seen != readback:
            problems.append(f"read back {seen}, expected {readback}")
    assert not problems, "; ".join(problems)


def test_private(
    private_case: PrivateCase,
    private_node: PrivateNode,
    rules: PrivateRules,
    topology: Topology,
    profile: Profile,
    kernel_release: str,
    request: pytest.FixtureRequest,
    case: CaseRecord,
) -> None:
    """One case of the matrix: the explicit path, a migration, or a node-wide question."""
    require_private_node(private_case.node, private_node)
    _record(case, private_case, private_node, rules)
    if isinstance(private_case, ExplicitCase):
        _explicit(private_case, private_node, rules, topology, profile, kernel_release, case)
    elif isinstance(private_case, MigrationCase):
        _migration(private_case, private_node, rules, case)
    elif private_case.what == "discovery":
        _check_discovery(case, private_node, rules, topology)
    elif private_case.what == "numa-maps":
        _check_numa_maps(case, private_node, rules, topology)
    elif private_case.what == "bind-full":
        _check_bind_full(case, private_node, rules, topology)
    else:
        scratch = request.getfixturevalue("scratch")
        _check_page_cache(case, private_node, rules, topology, scratch)


def _explicit(
    explicit_case: ExplicitCase,
    private_node: PrivateNode,
    rules: PrivateRules,
    topology: Topology,
    profile: Profile,
    kernel_release: str,
    case: CaseRecord,
) -> None:
    c, pn = explicit_case, private_node
    case.params["pages"] = PAGES
    require(profile, kernel_release, *policy_features(c.policy))
    api = "set_mempolicy" if c.api == "set_mempolicy" else "mbind"
    gated = private_oracle.policy_gate(c.policy, c.node, rules, pn.discovery, api=api)
    fault = task_policy_then_fault if c.api == "set_mempolicy" else mbind_then_fault
    run = observed_outcome(case, run_in_child(partial(fault, pn, c.policy, PAGES, c.cpu)))
    if c.api == "readback" and not isinstance(gated, Refused):
        check_readback(case, oracle.readback(gated, profile, kernel_release), run)
        return
    if isinstance(gated, Refused):
        _check_run(case, gated, run, c.node)
        return
    bits = oracle.interleave_index_bits(profile, kernel_release)
    expected = private_oracle.no_pressure_placement(
        topology,
        gated,
        PAGES,
        run.vm_pgoff,
        c.cpu_node,
        rules=rules,
        private=c.node,
        index_bits=bits,
    )
    alone = c.policy.nodes == {c.node}
    # A mask of public and private nodes: kept whole or with the node dropped is the
    # profile's answer, and only the readback tells them apart when the pages agree.
    mixed = None if alone else private_oracle.readback(gated)
    _check_run(case, expected, run, c.node, leak=alone, readback=mixed)


def _migration(
    migration_case: MigrationCase,
    private_node: PrivateNode,
    rules: PrivateRules,
    case: CaseRecord,
) -> None:
    c, pn = migration_case, private_node
    case.params["pages"] = PAGES
    run = observed_outcome(
        case, run_in_child(partial(migrate_onto, pn, c.how, c.source, PAGES, c.cpu))
    )
    expected = private_oracle.migration_outcome(c.how, rules, c.node, c.source, PAGES, pn.discovery)
    case.expected = expected.to_json()
    case.observed = {"pages": {str(n): cnt for n, cnt in run.counts.items()}}
    refused = run.refused or _uniform_status(run.status)
    if refused:
        case.observed["errno"] = refused
    problems = expected.pages.violations(run.per_page)
    if refused != expected.errno:
        problems.append(
            f"the call {'failed with ' + refused if refused else 'succeeded'}, expected "
            f"{expected.errno or 'success'}"
        )
    assert not problems, "; ".join(problems)


def _uniform_status(status: tuple[int, ...]) -> str | None:
    """move_pages reports a refusal per page: one errno for every page counts as the call's."""
    if status and all(s < 0 for s in status) and len(set(status)) == 1:
        return errno.errorcode.get(-status[0], str(status[0]))
    return None


def _check_discovery(
    case: CaseRecord, pn: PrivateNode, rules: PrivateRules, topology: Topology
) -> None:
    """What the provider did not already assert while setting up: the node's memory and
    the lists the kernel puts it in, against what the profile says they must be."""
    case.observed = pn.to_json()
    node = topology.nodes[pn.node]
    case.observed.update(
        {
            "memory_kib": node.memory_kib,
            "kind": str(node.kind),
            "has_memory": sorted(topology.has_memory),
            "has_cpu": sorted(topology.has_cpu),
        }
    )
    problems = []
    if node.cpus or pn.node in topology.has_cpu:
        problems.append(f"node {pn.node} has CPUs {node.cpus}: a private node is CPU-less")
    if not node.memory_kib:
        problems.append(f"node {pn.node} has no memory")
    if pn.provider == "kernel":
        assert pn.discovery is not None
        caps = pn.discovery.caps(pn.node)
        in_has_memory = rules.mempolicy_gate != "has_memory" or "mempolicy" in caps
        case.expected = {
            "constraint": f"private via {list(rules.interfaces)}, CPU-less, with memory; "
            f"{'in' if in_has_memory else 'not in'} has_memory (caps {sorted(caps)})",
            "nodes": [pn.node],
        }
        if node.kind != NodeKind.PRIVATE:
            problems.append(f"node {pn.node} is {node.kind}, not private, in the topology")
        if (pn.node in topology.has_memory) != in_has_memory:
            problems.append(
                f"node {pn.node} {'is' if pn.node in topology.has_memory else 'is not'} in "
                f"has_memory {sorted(topology.has_memory)}; the profile's gate "
                f"({rules.mempolicy_gate}) with caps {sorted(caps)} says otherwise"
            )
        if pn.node in topology.memory_nodes:
            problems.append(f"node {pn.node} counts as a public memory node")
    elif pn.provider == "cpuset-fence":
        tasks = user_tasks()
        unfenced = pn.unfenced(tasks)
        case.expected = {
            "constraint": "no user task outside the consumer may use it",
            "nodes": [pn.node],
        }
        case.observed["user_tasks"] = len(tasks)
        case.observed["unfenced"] = [f"{t.pid} {t.comm} {t.cgroup}" for t in unfenced]
        if unfenced:
            problems.append(f"{len(unfenced)} user tasks may still allocate on node {pn.node}")
    else:
        case.expected = {
            "constraint": "unprotected CPU-less memory node (negative control)",
            "nodes": [pn.node],
        }
        if pn.node not in topology.has_memory:
            problems.append(f"node {pn.node} is not in has_memory {sorted(topology.has_memory)}")
    assert not problems, "; ".join(problems)


def _check_numa_maps(
    case: CaseRecord, pn: PrivateNode, rules: PrivateRules, topology: Topology
) -> None:
    """/proc/<pid>/numa_maps must count the pages a BIND {private} region has on the node,
    as move_pages does: numastat -p and every tool that reads numa_maps rely on it. The
    other cases leave the private node out of their numa_maps cross-check; this one holds it."""
    case.params.update({"pages": PAGES, "mapping": "anon_private"})
    gated = private_oracle.policy_gate(
        private_oracle.bind_alone(pn.node), pn.node, rules, pn.discovery
    )
    seen: dict[str, Any] = observed_outcome(
        case,
        run_in_child(partial(numa_maps_of_private, pn, PAGES, first_cpu(topology)[0])),
    )
    case.observed = dict(seen)
    if isinstance(gated, Refused):
        case.expected = gated.to_json()
        assert seen.get("refused") == gated.errno, f"mbind: {seen}; expected {gated.errno}"
        return
    expected = {str(pn.node): PAGES}
    case.expected = {"pages": expected, "rule": "numa_maps counts what move_pages reports"}
    maps = {str(n): c for n, c in seen["numa_maps"].items()}
    moved = {str(n): c for n, c in seen["move_pages"].items()}
    assert moved == expected, f"move_pages says {moved}, expected {expected}"
    assert maps == moved, (
        f"numa_maps counts {maps or 'no page'} where move_pages counts {moved}: "
        f"line {seen['line']!r}"
    )


def _check_bind_full(
    case: CaseRecord, pn: PrivateNode, rules: PrivateRules, topology: Topology
) -> None:
    npages = topology.nodes[pn.node].memory_kib * 1024 // PAGE_SIZE + BEYOND_PAGES
    case.params["pages"] = npages
    expected = private_oracle.bind_full(rules, pn.node, pn.discovery)
    case.expected = expected.to_json()
    outcome = run_in_child(partial(bind_beyond_node, pn, npages), timeout_s=600)
    if outcome.signal or outcome.timed_out:
        case.observed = {"signal": outcome.signal} if outcome.signal else {"timeout": True}
        assert isinstance(expected, private_oracle.BindFull), (
            f"{outcome.describe()}; expected {expected.errno} ({expected.rule})"
        )
        assert expected.outcome == "oom" and outcome.signal == "SIGKILL", (
            f"{outcome.describe()}; expected: {expected.rule}"
        )
        return
    run = observed_outcome(case, outcome)
    case.observed = {"pages": {str(n): c for n, c in run.counts.items()}}
    if run.refused or isinstance(expected, Refused):
        case.observed["errno"] = run.refused
        assert isinstance(expected, Refused) and run.refused == expected.errno, (
            f"mbind: {run.refused or 'accepted'}; expected "
            f"{expected.errno if isinstance(expected, Refused) else expected.rule}"
        )
        return
    assert expected.outcome == "fallback", (
        f"all {npages} pages were placed ({run.counts}) although node {pn.node} has fewer; "
        f"expected: {expected.rule}"
    )
    spilled = sum(c for n, c in run.counts.items() if n != pn.node)
    assert spilled > 0 and sum(run.counts.values()) == npages, (
        f"pages {run.counts}: expected {npages} with the excess on normal nodes"
    )


def _check_page_cache(
    case: CaseRecord, pn: PrivateNode, rules: PrivateRules, topology: Topology, scratch: Path
) -> None:
    npages = 1024
    case.params["pages"] = npages
    case.params["mapping"] = "page_cache"
    expected = private_oracle.page_cache_outcome(topology, rules, pn.node, npages, pn.discovery)
    outcome = run_in_child(
        partial(page_cache_under_bind, pn, scratch, npages, first_cpu(topology)[0])
    )
    case.expected = expected.to_json()
    if outcome.signal or isinstance(expected, private_oracle.BindFull):
        case.observed = (
            {"signal": outcome.signal} if outcome.signal else {"outcome": outcome.describe()}
        )
        assert isinstance(expected, private_oracle.BindFull) and outcome.signal == "SIGKILL", (
            f"{outcome.describe()}; expected {case.expected}"
        )
        return
    run = observed_outcome(case, outcome)
    _check_run(case, expected, run, pn.node)
